"""The captured callbacks of ``testdata/``, fitted to the message rows a test made, signed as Meta signs them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from channels.signatures import HEADER, sign

TESTDATA = Path(__file__).parent / "testdata"
APP_SECRET = "a3f1c9e07b2d4e5f8a6b1c2d3e4f5a6b"
VERIFY_TOKEN = "vestnik-verify-7Qx2"
KEEP = object()


def load(name: str) -> dict[str, Any]:
    """The document of ``testdata/<name>.json``."""
    return json.loads((TESTDATA / f"{name}.json").read_text(encoding="utf-8"))


def raw(name: str) -> bytes:
    """The bytes of ``testdata/<name>.json``, as captured."""
    return (TESTDATA / f"{name}.json").read_bytes()


def statuses(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Every status of a document, to change in place."""
    return [status for entry in document["entry"] for change in entry["changes"]
            for status in change["value"].get("statuses", [])]


def body(name: str, *, wamid: str | None = None, key: Any = KEEP, recipient: str | None = None,
         timestamp: int | None = None) -> bytes:
    """The callback ``name`` about one message: its statuses get this wamid, key (None: no key at all) and
    recipient, and (when given) this time; everything else as captured."""
    document = load(name)
    for status in statuses(document):
        if wamid is not None:
            status["id"] = wamid
        if key is None:
            status.pop("biz_opaque_callback_data", None)
        elif key is not KEEP:
            status["biz_opaque_callback_data"] = key
        if recipient is not None:
            status["recipient_id"] = recipient
        if timestamp is not None:
            status["timestamp"] = str(timestamp)
    return json.dumps(document, ensure_ascii=False).encode()


def signed(raw: bytes, secret: str = APP_SECRET) -> dict[str, str]:
    """The headers Meta sends with ``raw``."""
    return {"Content-Type": "application/json", HEADER: sign(secret, raw)}
