"""The notifications page on the campaigns blueprint, and the navigation's badge.

Reviewers (and admins) are who the notifications are for: the badge counts the open ones they have not read,
on every page. Marketers may open the list too, read-only — it explains why their campaign stopped — but get
no badge: resuming an automatically paused campaign is not theirs to do. A notification that nothing else
settles (a change of the number's quality or limit) a reviewer marks settled here, audited; the others are
settled by their own step (a campaign's resume or cancel, the decision on a reply). Opening the page
marks what it shows as read by the viewer (only for them: every reviewer sees the badge until they looked).
"""

from __future__ import annotations

from flask import abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from accounts.forms import EmptyForm
from accounts.models import Role
from accounts.roles import role_required
from campaigns.feedback import notices
from campaigns.feedback.models import Notification
from campaigns.flashing import commit_or_flash
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
                           kind_labels=notices.KIND_LABELS, is_reviewer=current_user.has_role(Role.REVIEWER),
                           may_settle=notices.may_settle, form=EmptyForm())


@bp.post("/notifications/<int:notification_id>/resolve")
@role_required(Role.REVIEWER)
def resolve_notification(notification_id: int):
    found = db.session.get(Notification, notification_id) or abort(404)
    if not EmptyForm().validate_on_submit():
        abort(400)
    commit_or_flash(lambda: notices.settle(found, current_user._get_current_object()),
                    _("The notification is marked settled."))
    return redirect(url_for("campaigns.notification_list") + f"#notification-{found.id}")
