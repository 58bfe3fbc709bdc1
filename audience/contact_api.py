"""JSON API of contacts under /api/v1: the list, one contact with its consent proof, the CSV export."""

from __future__ import annotations

from flask import current_app, jsonify, request

from accounts.roles import role_required
from audience import contacts
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
