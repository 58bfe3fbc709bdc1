"""JSON API of contacts under /api/v1: the list, one contact with its consent proof, the CSV export; editing one
contact (``PATCH /contacts/<id>``) and tags added or removed in bulk (``POST /contacts/tags``)."""

from __future__ import annotations

from flask import current_app, jsonify, request
from flask_login import current_user

from accounts.json_body import json_body
from accounts.models import Role
from accounts.roles import role_required
from audience import contact_edits, contacts
from audience.api import bp
from audience.contact_views import EXPORT_ROLES, csv_download
from audience.models import Contact
from audience.serialisers import contact_detail_json, contact_json
from dbtypes import parse_id
from extensions import db


@bp.get("/contacts")
@role_required()
def contact_list():
    page = contacts.page_from_query(request.args, current_app.config["DEFAULT_REGION"])
    return jsonify(contacts=[contact_json(row.contact, row.status) for row in page.rows], next_before=page.next_before)


@bp.get("/contacts/<contact_id>")
@role_required()
def contact_detail(contact_id: str):
    contact = db.get_or_404(Contact, parse_id(contact_id) or 0)
    return jsonify(contact_detail_json(contact, contacts.contact_detail(contact)))


@bp.get("/contacts.csv")
@role_required(*EXPORT_ROLES)
def export_contacts():
    return csv_download()


@bp.patch("/contacts/<contact_id>")
@role_required(Role.MARKETER)
def edit_contact(contact_id: str):
    """``{"name", "city", "attributes", "tags"}`` (any of them): the contact as it is now, ``changed`` the fields."""
    contact = db.get_or_404(Contact, parse_id(contact_id) or 0)
    changed = contact_edits.edit_contact(contact, json_body(), current_user._get_current_object())
    db.session.commit()
    return jsonify({**contact_detail_json(contact, contacts.contact_detail(contact)), "changed": changed})


@bp.post("/contacts/tags")
@role_required(Role.MARKETER)
def retag_contacts():
    """``{"add": [...], "remove": [...], "contact_ids": [...]}`` or ``"segment": NAME`` instead of the ids: how
    many contacts each tag changed (``added:<tag>``, ``removed:<tag>``) and how many had no room (``full``)."""
    body = json_body()
    condition, segment = contact_edits.selection(body.get("contact_ids"), body.get("segment"))
    counts = contact_edits.retag(condition, body.get("add") or (), body.get("remove") or (),
                                 actor=current_user._get_current_object(), segment=segment)
    db.session.commit()
    return jsonify(counts=counts)
