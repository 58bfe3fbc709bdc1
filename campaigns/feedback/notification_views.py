"""The notifications page on the campaigns blueprint, and the navigation's badge.

Reviewers (and admins) are who the notifications are for: the badge counts the open ones they have not read,
on every page. Marketers may open the list too, read-only like everyone — it explains why their campaign
stopped — but get no badge: resuming an automatically paused campaign is not theirs to do. Opening the page
marks what it shows as read by the viewer (only for them: every reviewer sees the badge until they looked).
"""

from __future__ import annotations

from flask import render_template, request
from flask_login import current_user

from accounts.models import Role
from accounts.roles import role_required
from campaigns.feedback import notices
from campaigns.views import bp
from extensions import db


@bp.app_context_processor
def _notification_globals() -> dict:
    # The badge's count, asked only where the link shows it (a reviewer's page).
    return {"notices_unread": lambda: notices.unread_count(current_user)}


@bp.get("/notifications")
@role_required()
def notification_list():
    chosen = "unresolved" if request.args.get("unresolved") == "1" else None
    page = request.args.get("page", "1")
    page = int(page) if page.isascii() and page.isdigit() and 0 < len(page) < 6 else 1
    entries, more = notices.list_notifications(current_user, unresolved=chosen is not None, page=page)
    unseen = [entry.notification.id for entry in entries if not entry.read]
    if unseen:
        notices.mark_read(current_user, unseen)
        db.session.commit()
    return render_template("campaigns/notifications.html", entries=entries, more=more, page=page, chosen=chosen,
                           kind_labels=notices.KIND_LABELS, is_reviewer=current_user.has_role(Role.REVIEWER))
