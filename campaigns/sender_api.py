"""JSON API of senders under /api/v1, and the test send of a template.

Every signed-in role lists and reads senders (campaigns are written with them); admins add, change and
check them, and connect a bot's webhook. Secrets go in (``access_token``, ``app_secret``, ``verify_token``;
a bot's token is its ``access_token``, its webhook secret ``app_secret``, made for it when not given) and
never come out: the answers carry their last four characters only. Errors are problem details (``web/problems.py``).
"""

from __future__ import annotations

from flask import jsonify
from flask_babel import gettext as _
from flask_login import current_user

from accounts.json_body import json_body
from accounts.models import Role
from accounts.roles import role_required
from campaigns import senders, test_sends
from campaigns.api import bp
from campaigns.models import Sender, Template
from campaigns.serialisers import sender_json
from domain_errors import DomainError
from extensions import db


def _actor():
    return current_user._get_current_object()


def _sender(sender_id: int) -> Sender:
    sender = db.session.get(Sender, sender_id)
    if sender is None:
        raise DomainError(_("There is no sender with this id."), status=404)
    return sender


@bp.get("/senders")
@role_required()
def senders_list():
    return jsonify(senders=[sender_json(sender) for sender in senders.list_senders()])


@bp.post("/senders")
@role_required(Role.ADMIN)
def create_sender():
    """``{"name", "phone", "channel", "phone_number_id", "waba_id", "base_url", "api_version",
    "access_token", "app_secret", "verify_token", "tier", "messages_per_second"}``; a sandbox sender
    needs only a name and a phone. A bot: ``{"name", "channel": "max"|"telegram", "access_token",
    "bot_username", "base_url", "messages_per_second", "app_secret"}`` (a name, the channel and the token)."""
    sender = senders.add_sender(json_body(), actor=_actor())
    db.session.commit()
    return jsonify(sender_json(sender)), 201


@bp.get("/senders/<int:sender_id>")
@role_required()
def sender_detail(sender_id: int):
    return jsonify(sender_json(_sender(sender_id)))


@bp.patch("/senders/<int:sender_id>")
@role_required(Role.ADMIN)
def update_sender(sender_id: int):
    """The fields to change; a secret left out (or empty) is kept."""
    sender = senders.update_sender(_sender(sender_id), json_body(), actor=_actor())
    db.session.commit()
    return jsonify(sender_json(sender))


@bp.post("/senders/<int:sender_id>/check")
@role_required(Role.ADMIN)
def check_sender(sender_id: int):
    """Read the number's quality, tier and throughput from the provider; a failure is in ``check_error``."""
    sender = senders.check_connection(_sender(sender_id), actor=_actor())
    db.session.commit()
    return jsonify(sender_json(sender))


@bp.post("/senders/<int:sender_id>/webhook")
@role_required(Role.ADMIN)
def connect_webhook(sender_id: int):
    """Ask a bot's platform to post its updates to Vestnik (``webhook_url``); 200 ``{"connected": true, "url"}``,
    or a problem (502) with the platform's refusal worded. The attempt is audited either way."""
    result = senders.connect_webhook(_sender(sender_id), actor=_actor())
    db.session.commit()
    if not result.connected:
        raise DomainError(_("The webhook could not be connected: %(reason)s", reason=str(result.sentence)),
                          status=502)
    return jsonify(connected=True, url=result.url)


@bp.post("/templates/<int:template_id>/test-send")
@role_required(Role.MARKETER)
def test_send_template(template_id: int):
    """``{"sender": id or name, "to": "+7…", "values": {"1": "Анна"}}``: one message; the answer is the
    provider's (``status`` accepted, retry or failed, ``provider_id``, ``code``, ``retry_after``, ``sentence``)."""
    body = json_body()
    template = db.session.get(Template, template_id)
    if template is None:
        raise DomainError(_("There is no template with this id."), status=404)
    ref = body.get("sender")
    sender = senders.find_sender(ref) if isinstance(ref, (int, str)) and not isinstance(ref, bool) else None
    if sender is None:
        raise DomainError(_("Sender: choose one of the senders (by name or id)."), field="sender")
    values = body.get("values") if isinstance(body.get("values"), dict) else {}
    to = body.get("to") if isinstance(body.get("to"), str) else ""
    result = test_sends.send_test(sender, template, to, values, actor=_actor())
    db.session.commit()
    return jsonify(test_sends.result_json(result))
