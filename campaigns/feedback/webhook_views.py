"""The webhook endpoint of each sender: ``/webhooks/whatsapp/<sender id>``, and of each bot:
``/webhooks/max/<sender id>`` and ``/webhooks/telegram/<sender id>``.

- ``GET`` is the Cloud API's subscription check: ``hub.mode=subscribe`` and ``hub.verify_token`` equal to the
  sender's verify token → ``hub.challenge`` as text/plain, 200; anything else 403 (404 for no such sender).
- ``POST`` is a callback: ``intake.accept`` (size, sender, ``X-Hub-Signature-256`` on the raw body, parse),
  ``intake.store``, commit, then 200 — the body is durable in ``webhook_events`` before the answer — and the
  workers are woken after the commit. A refusal is a problem details document (413, 404, 403, 400; logged) and
  stores nothing. A database that cannot take the body answers 503, so the provider retries; never a 500.
- A bot's ``POST`` is the same, its secret checked in ``X-Max-Bot-Api-Secret`` (MAX) or
  ``X-Telegram-Bot-Api-Secret-Token`` (Telegram) by the sender's channel; a sender of another channel than the
  address names is 404. MAX and Telegram make no handshake.
- An SMS gateway's ``POST`` (``/webhooks/sms/<sender id>?secret=…``) is a form of one message's status; it is
  signed by nothing, so the secret in its URL is checked instead (constant time).

The blueprint is CSRF-exempt (a provider has no session and no form token) and reads no session.
"""

from __future__ import annotations

import logging
import time

from flask import Blueprint, Response, current_app, request
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import SQLAlchemyError

from campaigns import metrics
from campaigns.feedback import intake
from campaigns.feedback.intake import IntakeRefusal
from extensions import csrf, db

log = logging.getLogger(__name__)

URL_PREFIX = "/webhooks"
EDGE = "flask"  # the ``edge`` label of this endpoint's metrics (the receiver process is ``receiver``)
bp = Blueprint("feedback_webhooks", __name__, url_prefix=URL_PREFIX)
csrf.exempt(bp)


@bp.get("/whatsapp/<int:sender_id>")
def handshake(sender_id: int) -> Response:
    """Answer the provider's subscription check with its challenge, or refuse."""
    challenge = intake.handshake(sender_id, request.args)
    return Response(challenge, status=200, mimetype="text/plain")


@bp.post("/<any(whatsapp, max, telegram, sms):family>/<int:sender_id>")
def receive(family: str, sender_id: int) -> tuple[str, int]:
    """Take one callback: verified and parsed, stored and committed, then acknowledged (and counted)."""
    started = time.perf_counter()
    try:
        accepted, new = _store(sender_id, family)
    except IntakeRefusal as refusal:
        metrics.webhook_refused(refusal.status, EDGE, time.perf_counter() - started)
        raise
    metrics.webhook_stored(1, new)
    metrics.webhook_acknowledged(accepted.events, EDGE, time.perf_counter() - started)
    return "", 200


def _store(sender_id: int, family: str) -> tuple[intake.Accepted, int]:
    """Accept the request's body and commit it (the wake-up queued after the commit); ``(accepted, new)``."""
    limit = current_app.config["WEBHOOK_MAX_BYTES"]
    if request.content_length is not None and request.content_length > limit:
        raise IntakeRefusal(413, _l("The body is larger than %(limit)s bytes.", limit=limit))
    body = request.stream.read(limit + 1)  # one byte more than allowed tells a body that is too large
    accepted = intake.accept(sender_id, request.headers, body, family, request.args)
    try:
        new = intake.store([accepted])
        intake.wake()
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        log.exception("event=webhook_store_failed sender_id=%s", sender_id)
        raise IntakeRefusal(503, _l("The callback cannot be stored right now; send it again later.")) from None
    return accepted, new
