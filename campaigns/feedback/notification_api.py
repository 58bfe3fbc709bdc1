"""JSON API of notifications under /api/v1/notifications: the list and marking one read.

Anyone signed in (a session or an API token) may list them, as on the page: reviewers act on them, marketers
read why their campaign stopped. ``unresolved=1`` keeps the open ones, ``since`` (ISO 8601, UTC when it names
no zone) those made after it — a script polls with the newest ``created_at`` it saw. ``read`` is per person.
``/resolve`` is a reviewer's, for the kinds nothing else settles (a change of the number's quality or limit).
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import jsonify, request
from flask_babel import gettext as _
from flask_login import current_user

from accounts.models import Role
from accounts.roles import role_required
from campaigns.api import bp
from campaigns.feedback import notices
from campaigns.feedback.models import Notification
from domain_errors import DomainError
from extensions import db


def _notification(notification_id: int) -> Notification:
    notification = db.session.get(Notification, notification_id)
    if notification is None:
        raise DomainError(_("There is no notification with this id."), status=404)
    return notification


def _since(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise DomainError(_("“since” must be a date and time in ISO 8601, such as 2026-12-02T18:00:00Z."),
                          field="since") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@bp.get("/notifications")
@role_required()
def notifications_list():
    unresolved = request.args.get("unresolved", "")
    if unresolved not in ("", "0", "1"):
        raise DomainError(_("“unresolved” is 1 (only the open ones) or 0."), field="unresolved")
    page = request.args.get("page", "1")
    if not (page.isascii() and page.isdigit() and 0 < len(page) < 6 and int(page) > 0):
        raise DomainError(_("The page must be a whole number from 1."), field="page")
    entries, more = notices.list_notifications(current_user, unresolved=unresolved == "1",
                                               since=_since(request.args.get("since")), page=int(page))
    return jsonify(notifications=[notices.entry_json(line) for line in entries], page=int(page), more=more,
                   unread=notices.unread_count(current_user))


@bp.post("/notifications/<int:notification_id>/read")
@role_required()
def notification_read(notification_id: int):
    notification = _notification(notification_id)
    notices.mark_read(current_user, [notification.id])
    db.session.commit()
    return jsonify(notices.entry_json(notices.entry_of(notification, current_user)))


@bp.post("/notifications/<int:notification_id>/resolve")
@role_required(Role.REVIEWER)
def notification_resolve(notification_id: int):
    """A reviewer marks settled a notification nothing else settles (409 for the others, with how they are)."""
    notification = _notification(notification_id)
    notices.settle(notification, current_user._get_current_object())
    db.session.commit()
    return jsonify(notices.entry_json(notices.entry_of(notification, current_user)))
