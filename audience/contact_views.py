"""Contact pages: the searchable list and one contact for everyone signed in; the CSV download for
marketers and admins (it holds every number and name, so reviewers, who only judge campaigns, do
not get it)."""

from __future__ import annotations

from flask import Response, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

import spreadsheets
from accounts.models import Role
from accounts.roles import role_required
from audience import contact_edits, contacts
from audience.addresses import CHANNEL_NAMES
from audience.contact_forms import ContactEditForm
from audience.models import Contact
from audience.segments import list_segments
from audience.status import STATUS_LABELS, ContactStatus
from audience.views import bp
from compliance.suppression import REASON_LABELS, display_key, key_of
from dbtypes import parse_id, utcnow
from extensions import db

EXPORT_ROLES = (Role.MARKETER,)  # and admins, who hold every role
EDIT_ROLES = (Role.MARKETER,)
IMPORT_ROLES = (Role.MARKETER,)  # who may open an import's page, from a contact's consent proof


@bp.get("/contacts")
@role_required()
def contact_list():
    page = contacts.page_from_query(request.args, current_app.config["DEFAULT_REGION"])
    return render_template("audience/contact_list.html", page=page, status_labels=STATUS_LABELS,
                           statuses=list(ContactStatus), export_roles=EXPORT_ROLES, edit_roles=EDIT_ROLES,
                           segments=list_segments())


@bp.post("/contacts/tags")
@role_required(*EDIT_ROLES)
def retag_contacts():
    """Add and remove tags for the ticked contacts or a whole segment (``contact_edits.retag``)."""
    by_segment = request.form.get("scope") == "segment"
    try:
        condition, segment = contact_edits.selection(
            None if by_segment else request.form.getlist("contact_ids"),
            request.form.get("segment") if by_segment else None)
        counts = contact_edits.retag(condition, [request.form.get("add", "")], [request.form.get("remove", "")],
                                     actor=current_user._get_current_object(), segment=segment)
    except contact_edits.ContactEditError as error:
        db.session.rollback()
        for sentence in error.errors:
            flash(sentence, "error")
        return redirect(url_for("audience.contact_list"))
    db.session.commit()
    changed = sum(count for key, count in counts.items() if key != "full")
    flash(_("Tags changed (changes: %(changes)s).", changes=changed), "info")
    if counts.get("full"):
        flash(_("Contacts with no room left for a tag (1,000 characters of tags): %(count)s.", count=counts["full"]),
              "error")
    return redirect(url_for("audience.contact_list"))


@bp.get("/contacts/<contact_id>")
@role_required()
def contact_detail(contact_id: str):
    contact = db.get_or_404(Contact, parse_id(contact_id) or 0)
    form = ContactEditForm()
    form.fill(contact)
    return _detail(contact, form)


def _detail(contact: Contact, form: ContactEditForm, errors: list[str] | None = None, status: int = 200):
    return render_template("audience/contact_detail.html", detail=contacts.contact_detail(contact),
                           status_labels=STATUS_LABELS, reason_labels=REASON_LABELS, import_roles=IMPORT_ROLES,
                           channel_names=CHANNEL_NAMES, display_key=display_key, key_of=key_of, form=form,
                           edit_roles=EDIT_ROLES, edit_errors=errors or []), status


@bp.post("/contacts/<contact_id>")
@role_required(*EDIT_ROLES)
def edit_contact(contact_id: str):
    """Save the contact's name, city, tags and attributes (``contact_edits.edit_contact``)."""
    contact = db.get_or_404(Contact, parse_id(contact_id) or 0)
    form = ContactEditForm()
    if not form.validate_on_submit():
        return _detail(contact, form, status=400)
    try:
        changed = contact_edits.edit_contact(contact, form.changes(), current_user._get_current_object())
    except contact_edits.ContactEditError as error:
        db.session.rollback()
        return _detail(contact, form, error.errors, 400)
    db.session.commit()
    flash(_("The contact is saved.") if changed else _("Nothing was changed."), "info")
    return redirect(url_for("audience.contact_detail", contact_id=contact.id))


def csv_download() -> Response:
    """Every contact as a streamed CSV download, for the page and the API."""
    return spreadsheets.csv_download(contacts.export_lines(), f"contacts-{utcnow():%Y-%m-%d}.csv")


@bp.get("/contacts.csv")
@role_required(*EXPORT_ROLES)
def export_contacts():
    return csv_download()
