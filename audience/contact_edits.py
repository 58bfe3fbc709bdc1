"""Editing contacts as people manage them: one contact's name, city, attributes and tags, and tags added to or
removed from a selection or a whole segment in bulk.

Every change is audited (which fields, how many contacts; never the personal data itself). None of them can
re-subscribe anyone: the consent proof and the suppression list are not touched here, and whether a person may be
messaged is still decided by them. A new city is placed again through the gazetteer (region, coordinates, time
zone), as the import places it. Bulk tag edits are one ``UPDATE`` per tag over the selection, never a loop over
contacts. Functions add and flush; the caller commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, and_, case, func, literal, update

from audience import cells
from audience.geocoding import Geocoder
from audience.models import Contact, Segment
from audience.person_names import PersonName, display_name, split_full_name
from audience.segment_definition import parse_definition
from audience.segments import find_segment, segment_filter
from compliance import audit
from dbtypes import one_of, utcnow
from domain_errors import DomainError, FieldErrors
from extensions import db

NAME_PARTS = ("first_name", "patronymic", "last_name")
EDITABLE = ("name", *NAME_PARTS, "city", "attributes", "tags")
_TAGS_LENGTH = Contact.__table__.c.tags.type.length
_NAME_LENGTH = Contact.__table__.c.name.type.length
_CITY_LENGTH = Contact.__table__.c.city.type.length
_PART_LENGTH = Contact.__table__.c.first_name.type.length
MAX_ATTRIBUTES = 100


class ContactEditError(DomainError):
    """The edit cannot be made as asked; ``errors`` are sentences naming their field."""


def edit_contact(contact: Contact, changes: Mapping[str, Any], actor: Any = None) -> list[str]:
    """Apply ``changes`` (any of ``EDITABLE``) to ``contact``; the fields that changed, audited as
    ``contact.edited``. Raises ``ContactEditError`` with every mistake and changes nothing then."""
    errors = FieldErrors()
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        errors.field = unknown[0]
        errors.append(_l("Only the name and its parts, city, attributes and tags of a contact can be edited here; not: "
                         "%(fields)s.", fields=", ".join(unknown)))
    values = {name: check(changes[name], errors) for name, check in _CHECKS.items() if name in changes}
    if errors:
        raise ContactEditError(errors=errors)
    _keep_name_and_parts_together(contact, values)
    changed = [name for name, value in values.items() if _current(contact, name) != value]
    for name in changed:
        _set(contact, name, values[name])
    if changed:
        contact.updated_at = utcnow()
        audit.record("contact.edited", actor=actor, target=contact, details={"fields": changed})
        db.session.flush()
    return changed


def _keep_name_and_parts_together(contact: Contact, values: dict[str, Any]) -> None:
    """A new full name is split into its parts (as the import splits a ФИО cell); new parts compose the full name
    (Фамилия Имя Отчество) unless it was changed too."""
    name_changed = "name" in values and values["name"] != (contact.name or "")
    parts_changed = any(values[part] != (getattr(contact, part) or "") for part in NAME_PARTS if part in values)
    if parts_changed and not name_changed:
        parts = PersonName(*(values.get(part, getattr(contact, part)) or None for part in NAME_PARTS))
        values["name"] = display_name(parts) or ""
    elif name_changed and not parts_changed:
        values.update({part: value or "" for part, value in zip(NAME_PARTS, split_full_name(values["name"]),
                                                               strict=True)})


def _current(contact: Contact, name: str) -> Any:
    if name == "tags":
        return tuple(tag for tag in (contact.tags or "").split("|") if tag)
    if name == "attributes":
        return dict(contact.attributes or {})
    return getattr(contact, name) or ""


def _set(contact: Contact, name: str, value: Any) -> None:
    if name == "tags":
        contact.tags = f"|{'|'.join(value)}|" if value else ""
    elif name == "attributes":
        contact.attributes = value
    elif name == "name":
        contact.name, contact.name_key = value or None, cells.name_key(value or None)
    elif name in NAME_PARTS:
        setattr(contact, name, value or None)
    else:
        _place(contact, value)


def _place(contact: Contact, city: str) -> None:
    """The contact's new city, placed as the import places it (its region too: the old one was the old city's)."""
    found: dict[str, Any] = {"country": contact.country, "region": None, "city": city or None, "latitude": None,
                             "longitude": None, "timezone": contact.timezone, "country_hint": ""}
    Geocoder().place(found)
    contact.city = city or None
    # A city the gazetteer does not know (or none) says nothing of the region: the one the contact had stays.
    found["region"] = found["region"] or contact.region
    for name in ("region", "city_key", "place_id", "latitude", "longitude", "timezone"):
        setattr(contact, name, found[name])


def _text(limit: int, label: Any) -> Any:
    def check(value: Any, errors: FieldErrors) -> str:
        text = value.strip() if isinstance(value, str) else None
        if text is None or len(text) > limit:
            errors.field = label[0]
            errors.append(_l("%(field)s: text of at most %(limit)s characters.", field=label[1], limit=limit))
            return ""
        return text
    return check


def _attributes(value: Any, errors: FieldErrors) -> dict[str, str]:
    errors.field = "attributes"
    named = isinstance(value, Mapping) and all(isinstance(key, str) and key.strip() and
                                               isinstance(item, str | int | float) for key, item in value.items())
    if not named or len(value) > MAX_ATTRIBUTES:
        errors.append(_l("Attributes: a set of at most %(limit)s named values (name: value).", limit=MAX_ATTRIBUTES))
        return {}
    # As the import keeps them (``cells.attribute``); an emptied value removes the attribute.
    kept = {key.strip(): cells.attribute(str(item)) for key, item in value.items()}
    return {key: item for key, item in kept.items() if item}


def _tags(value: Any, errors: FieldErrors) -> tuple[str, ...]:
    found = tags_of(value, errors)
    if len(f"|{'|'.join(found)}|") > _TAGS_LENGTH:
        errors.field = "tags"
        errors.append(_l("Tags: at most %(limit)s characters in all.", limit=_TAGS_LENGTH))
    return found


def tags_of(value: Any, errors: FieldErrors) -> tuple[str, ...]:
    """Tags from a list of them or a text such as "vip, опт" (lower-case, unique, as the import reads them)."""
    errors.field = "tags"
    if isinstance(value, str):
        return cells.tags(value)
    if isinstance(value, Iterable) and not isinstance(value, Mapping) and all(isinstance(tag, str) for tag in value):
        return cells.tags(",".join(value))
    errors.append(_l("Tags: a list of tags, or a text of them separated by commas."))
    return ()


_CHECKS = {"name": _text(_NAME_LENGTH, ("name", _l("Name"))),
           "first_name": _text(_PART_LENGTH, ("first_name", _l("First name"))),
           "patronymic": _text(_PART_LENGTH, ("patronymic", _l("Patronymic"))),
           "last_name": _text(_PART_LENGTH, ("last_name", _l("Last name"))),
           "city": _text(_CITY_LENGTH, ("city", _l("City"))), "attributes": _attributes, "tags": _tags}


# --- in bulk ---------------------------------------------------------------------------------------------------

def selection(contact_ids: Iterable[int] | None = None, segment: str | int | None = None
              ) -> tuple[ColumnElement[bool], Segment | None]:
    """The contacts a bulk edit is about: the ids given, or a saved segment's (by name or id)."""
    if segment not in (None, ""):
        found = find_segment(segment)
        if found is None:
            raise ContactEditError(_l("There is no segment “%(segment)s”.", segment=segment), field="segment")
        return segment_filter(parse_definition(found.definition)), found
    ids = sorted({int(value) for value in contact_ids or () if str(value).isdigit()})
    if not ids:
        raise ContactEditError(_l("Choose the contacts (or a segment) to change."), field="contact_ids")
    return one_of(Contact.id, ids, db.session.get_bind().dialect.name), None


def _has(tag: str) -> ColumnElement[bool]:
    return Contact.tags.contains(f"|{tag}|", autoescape=True)


def retag(condition: ColumnElement[bool], add: Iterable[str] = (), remove: Iterable[str] = (), *, actor: Any = None,
          segment: Segment | None = None) -> dict[str, int]:
    """Add the tags ``add`` to and remove ``remove`` from every contact ``condition`` picks, one statement per
    tag; how many contacts each changed (``added:<tag>``, ``removed:<tag>``) and how many had no room left for a
    tag (``full``). Audited as ``contact.tags_changed``."""
    errors = FieldErrors()
    adding, removing = tags_of(list(add), errors), tags_of(list(remove), errors)
    if errors or not (adding or removing):
        raise ContactEditError(_l("Give the tags to add or to remove."), field="tags")
    now, counts = utcnow(), {}
    for tag in adding:
        fits = func.length(Contact.tags) + len(tag) + 2 <= _TAGS_LENGTH
        counts[f"added:{tag}"] = _update(and_(condition, ~_has(tag), fits), now, tags=case(
            (func.coalesce(Contact.tags, "") == "", literal(f"|{tag}|")), else_=Contact.tags + f"{tag}|"))
        counts["full"] = counts.get("full", 0) + _count(and_(condition, ~_has(tag), ~fits))
    for tag in removing:
        without = func.replace(Contact.tags, f"|{tag}|", "|")
        counts[f"removed:{tag}"] = _update(and_(condition, _has(tag)), now,
                                           tags=case((without == "|", literal("")), else_=without))
    audit.record("contact.tags_changed", actor=actor, target=segment,
                 details={"added": list(adding), "removed": list(removing), **counts})
    db.session.flush()
    return counts


def _update(condition: ColumnElement[bool], now: Any, **values: Any) -> int:
    return db.session.execute(update(Contact).where(condition).values(updated_at=now, **values)
                              .execution_options(synchronize_session=False)).rowcount


def _count(condition: ColumnElement[bool]) -> int:
    return db.session.scalar(func.count(Contact.id).select().where(condition)) or 0
