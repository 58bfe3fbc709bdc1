"""JSON API of message templates under /api/v1: list, create, read, update, submit, the provider's
status (admins), and the preview.

Errors are problem details (``web/problems.py``): 400 for a template that breaks the rules, 404 for
an unknown template, 409 for a name already taken in that language or an action its state does not
allow. Marketers and admins write; every signed-in role reads and previews.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import jsonify, request
from flask_babel import gettext as _
from flask_login import current_user

from accounts.json_body import json_body
from accounts.models import Role
from accounts.roles import role_required
from campaigns import message_templates as templates
from campaigns import senders, template_approvals
from campaigns.api import bp
from campaigns.models import Sender, Template
from campaigns.serialisers import template_json
from domain_errors import DomainError
from extensions import db

MAX_PAGE = 200


def _template(template_id: int) -> Template:
    template = db.session.get(Template, template_id)
    if template is None:
        raise DomainError(_("There is no template with this id."), status=404)
    return template


def _actor():
    return current_user._get_current_object()


def _number(name: str, default: int) -> int:
    text = request.args.get(name, "")
    # Bounded, so that no number reaches the database as one too large for it.
    return min(int(text), 10**9) if text.isascii() and text.isdigit() and len(text) <= 12 else default


@bp.get("/templates")
@role_required()
def templates_list():
    """Current versions; ``search``, ``status``, ``category``, ``language``, ``tag``, ``archived=1``,
    ``sort`` (name, updated, last_used), ``offset`` and ``limit`` (at most 200)."""
    args = request.args
    page = templates.list_templates(
        search=args.get("search", ""), status=args.get("status"), category=args.get("category"),
        language=args.get("language"), tag=args.get("tag"), archived=args.get("archived") in ("1", "true", "yes"),
        sort=args.get("sort", "updated"), offset=_number("offset", 0),
        limit=max(1, min(MAX_PAGE, _number("limit", templates.PAGE_SIZE))),
    )
    return jsonify(templates=[template_json(t) for t in page.templates], total=page.total,
                   offset=page.offset, next_offset=page.next_offset)


@bp.post("/templates")
@role_required(Role.MARKETER)
def create_template():
    template = templates.create_template(json_body(), actor=_actor())
    data = template_json(template, with_versions=True)
    db.session.commit()
    return jsonify(data), 201


@bp.get("/templates/<int:template_id>")
@role_required()
def template_detail(template_id: int):
    return jsonify(template_json(_template(template_id), with_versions=True))


def _changed(template_id: int, change: Callable[[Template], Template]):
    """Apply ``change`` to the template and answer with the version that holds it, or the sentences."""
    data = template_json(change(_template(template_id)), with_versions=True)
    db.session.commit()
    return jsonify(data)


@bp.put("/templates/<int:template_id>")
@role_required(Role.MARKETER)
def update_template(template_id: int):
    """Change what the body gives; ``archived`` (true/false) archives or restores. The answer is the
    version that holds the change: a new one when the template was approved, paused or disabled."""
    body = json_body()

    def change(template: Template) -> Template:
        changes = {key: value for key, value in body.items() if key != "archived"}
        if changes:
            template = templates.update_template(template, changes, actor=_actor())
        if isinstance(body.get("archived"), bool):
            template = templates.set_archived(template, body["archived"], actor=_actor())
        return template

    return _changed(template_id, change)


@bp.post("/templates/<int:template_id>/submit")
@role_required(Role.MARKETER)
def submit_template(template_id: int):
    """Submit to the provider of every sender's business account (``{"sender": id or name}``: one sender's).

    The answer is the template with its ``approvals`` per sender, and ``failures``: the accounts whose
    provider could not take it, with the sentence (502 when none could)."""
    body = json_body()
    sender = _chosen_sender(body)
    outcome = template_approvals.submit(_template(template_id), actor=_actor(), sender=sender)
    data = template_json(outcome.template, with_versions=True)
    data["failures"] = [{"account_id": account.account_id, "sender": account.sender.name, "sentence": sentence}
                        for account, sentence in outcome.failures]
    db.session.commit()
    return jsonify(data)


def _chosen_sender(body) -> Sender | None:
    ref = body.get("sender")
    if ref in (None, ""):
        return None
    sender = senders.find_sender(ref) if isinstance(ref, (int, str)) and not isinstance(ref, bool) else None
    if sender is None:
        raise DomainError(_("Sender: there is no such sender; give its name or id."), field="sender")
    return sender


@bp.post("/templates/<int:template_id>/status")
@role_required(Role.ADMIN)
def set_template_status(template_id: int):
    """``{"status": "approved"|"rejected"|…, "reason": "…", "sender": id or name}``: record the provider's
    status by hand, in one sender's business account or (without ``sender``) in every sender's."""
    body = json_body()
    status, reason = body.get("status"), body.get("reason")
    sender = _chosen_sender(body)
    return _changed(template_id, lambda template: template_approvals.set_status(
        template, status if isinstance(status, str) else "", reason if isinstance(reason, str) else "",
        actor=_actor(), sender=sender))


@bp.post("/templates/preview")
@role_required()
def preview_template():
    """A template (as for create) and optional ``values`` in; the message as the recipient sees it,
    with the compliance lint, and the rule violations so far out."""
    body = json_body()
    return jsonify(templates.preview(body, body.get("values")))
