"""Signed callbacks: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body with the app secret>``.

The Cloud API signs every webhook so; the sandbox provider signs its callbacks the same way.
"""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-Hub-Signature-256"
PREFIX = "sha256="


def sign(secret: str, body: bytes) -> str:
    """The header value for ``body`` signed with ``secret``."""
    return PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is the signature of exactly ``body`` with ``secret`` (compared in constant time).

    An empty secret verifies nothing: a sender without an app secret cannot accept callbacks.
    """
    if not secret or not header or not header.startswith(PREFIX):
        return False
    return hmac.compare_digest(sign(secret, body), header.strip())
