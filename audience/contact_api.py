"""JSON API of contacts under /api/v1: the list, one contact with its consent proof, the CSV export."""

from __future__ import annotations

from flask import current_app, jsonify, request

from accounts.roles import role_required
from audience import contacts
from audience.api import bp
from audience.contact_views import EXPORT_ROLES, csv_download
from audience.models import Contact
from audience.status import ContactStatus
from compliance.api import suppression_json
from dbtypes import parse_id
from extensions import db


def _iso(moment) -> str | None:
    return moment.isoformat() if moment else None


def contact_json(contact: Contact, status: ContactStatus) -> dict:
    """One contact and its status now, as JSON."""
    return {
        "id": contact.id,
        "phone": contact.phone,
        "name": contact.name,
        "country": contact.country,
        "region": contact.region,
        "city": contact.city,
        "place_id": contact.place_id,
        "latitude": contact.latitude,
        "longitude": contact.longitude,
        "timezone": contact.timezone,
        "language": contact.language,
        "tags": contact.tag_list,
        "attributes": contact.attributes or {},
        "consent_source": contact.consent_source,
        "consent_at": _iso(contact.consent_at),
        "status": status.value,
        "created_at": _iso(contact.created_at),
        "updated_at": _iso(contact.updated_at),
    }


@bp.get("/contacts")
@role_required()
def contact_list():
    page = contacts.page_from_query(request.args, current_app.config["DEFAULT_REGION"])
    return jsonify(contacts=[contact_json(row.contact, row.status) for row in page.rows], next_before=page.next_before)


@bp.get("/contacts/<contact_id>")
@role_required()
def contact_detail(contact_id: str):
    contact = db.get_or_404(Contact, parse_id(contact_id) or 0)
    detail = contacts.contact_detail(contact)
    consent = detail.consent
    return jsonify({
        **contact_json(contact, detail.status),
        "consent": {
            "source": consent.source, "consented_at": _iso(consent.consented_at), "import_id": consent.import_id,
            "row": consent.row, "file_name": consent.file_name, "file_sha256": consent.file_sha256,
            "uploaded_by": consent.uploaded_by, "uploaded_at": _iso(consent.uploaded_at),
            "merged_rows": consent.merged_rows,
        },
        "suppressions": [suppression_json(entry) for entry in detail.suppressions],
    })


@bp.get("/contacts.csv")
@role_required(*EXPORT_ROLES)
def export_contacts():
    return csv_download()
