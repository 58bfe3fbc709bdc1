"""SMSC's status callbacks → :class:`~channels.base.StatusEvent` (pure).

SMSC posts a form (``application/x-www-form-urlencoded``) to the callback URL set in the account, one
message's status per request: ``id`` (ours, given at the send), ``phone``, ``status``, ``time`` (when the
status changed, Unix seconds), ``err`` (the operator's reason of a failure) and a few more that are ignored
(``ts``, ``cnt``, ``cost``, ``md5``). Statuses: 0 passed to the operator (sent), 1 delivered, 2 read,
4 its link opened (read); 3 expired and 20, 22, 23, 24, 25 failed (stored as ``status_<N>``). -1 (queued) and
-3 (unknown) say nothing new and give no event. A body that is not such a form raises :class:`WebhookError`.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from channels.base import DeliveryStatus, Event, StatusEvent, WebhookError
from channels.fields import unix_seconds

PROGRESS = {"0": DeliveryStatus.SENT, "1": DeliveryStatus.DELIVERED, "2": DeliveryStatus.READ,
            "4": DeliveryStatus.READ}
FAILED = frozenset({"3", "20", "22", "23", "24", "25"})
IGNORED = frozenset({"-1", "-3"})


def parse(body: bytes) -> list[Event]:
    """The status event of one callback body (none for a status that says nothing new)."""
    try:
        fields = {name: values[-1] for name, values in
                  parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True).items()}
    except (UnicodeDecodeError, ValueError) as error:
        raise WebhookError(f"the body is not a form: {error}") from None
    key, phone, status = fields.get("id", "").strip(), fields.get("phone", "").strip(), fields.get("status", "").strip()
    if not key or not phone or not status:
        raise WebhookError("a status callback needs id, phone and status")
    if status in IGNORED:
        return []
    if status not in PROGRESS and status not in FAILED:
        raise WebhookError(f"status should be one of SMSC's statuses, not {status!r}")
    at = unix_seconds(fields, "time" if fields.get("time", "").isdigit() else "ts", "callback")
    recipient = phone if phone.startswith("+") else "+" + phone
    if status in FAILED:
        err = fields.get("err", "").strip()
        return [StatusEvent(provider_id=key, status=DeliveryStatus.FAILED, at=at, recipient=recipient, key=key,
                            error_code=f"status_{status}", error_title=f"err {err}" if err else "")]
    return [StatusEvent(provider_id=key, status=PROGRESS[status], at=at, recipient=recipient, key=key)]
