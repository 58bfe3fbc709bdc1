"""The audience as JSON: contacts, segments and a segment's live preview, one shape for the API, the pages
and the CLI."""

from __future__ import annotations

from typing import Any

from audience import segments
from audience.contacts import ContactDetail
from audience.models import Contact, ContactAddress, Segment
from audience.status import ContactStatus
from compliance.serialisers import suppression_json

SAMPLE_SIZE = 10


def _iso(moment) -> str | None:
    return moment.isoformat() if moment else None


def contact_json(contact: Contact, status: ContactStatus) -> dict:
    """One contact and its status now, as JSON."""
    return {
        "id": contact.id,
        "phone": contact.phone,
        "name": contact.name,
        "first_name": contact.first_name,
        "patronymic": contact.patronymic,
        "last_name": contact.last_name,
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


def contact_detail_json(contact: Contact, detail: ContactDetail) -> dict[str, Any]:
    """One contact with its consent proof and its number's suppression history, as JSON."""
    consent = detail.consent
    return {
        **contact_json(contact, detail.status),
        "consent": {
            "source": consent.source, "consented_at": _iso(consent.consented_at), "import_id": consent.import_id,
            "row": consent.row, "file_name": consent.file_name, "file_sha256": consent.file_sha256,
            "uploaded_by": consent.uploaded_by, "uploaded_at": _iso(consent.uploaded_at),
            "merged_rows": consent.merged_rows,
        },
        "addresses": [address_json(row) for row in detail.addresses],
        "suppressions": [suppression_json(entry) for entry in detail.suppressions],
    }


def address_json(row: ContactAddress) -> dict[str, Any]:
    """One bot address of a contact with its opt-in evidence, as JSON."""
    return {
        "id": row.id, "sender_id": row.sender_id, "channel": row.channel.value, "address": row.address,
        "address_key": row.address_key, "status": row.status.value, "profile_name": row.profile_name,
        "consent_source": row.consent_source, "consent_at": _iso(row.consent_at), "entry_point_id": row.entry_point_id,
        "consent_event_id": row.consent_event_id, "status_changed_at": _iso(row.status_changed_at),
        "status_evidence": row.status_evidence,
    }


def segment_json(segment: Segment, counted: bool = False) -> dict[str, Any]:
    """One segment as JSON, with its live count when ``counted``."""
    data = {
        "id": segment.id, "name": segment.name, "description": segment.description, "definition": segment.definition,
        "created_at": segment.created_at.isoformat(), "updated_at": segment.updated_at.isoformat(),
        "created_by_id": segment.created_by_id, "updated_by_id": segment.updated_by_id,
    }
    if counted:
        data["count"] = segments.count(segment.definition)
    return data


def sample_contact_json(contact: Contact) -> dict[str, Any]:
    """One contact of a sample, as the builder and the API show it."""
    return {"id": contact.id, "phone": contact.phone, "name": contact.name, "city": contact.city,
            "timezone": contact.timezone}


def preview_json(definition: Any) -> dict[str, Any]:
    """The live count and the newest matching contacts; raises ``SegmentDefinitionError``."""
    checked = segments.parse_definition(definition)
    sample = segments.sample(checked, SAMPLE_SIZE)
    return {"count": segments.count(checked), "sample": [sample_contact_json(contact) for contact in sample]}
