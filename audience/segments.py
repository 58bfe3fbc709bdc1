"""Segments: saved audience definitions, compiled to one SQL query, counted live, created and edited.

A definition (see ``segment_definition``) is ANDed across its parts and ORed within a part.
``segment_filter`` compiles it into one WHERE condition on ``Contact`` that runs on SQLite and
PostgreSQL alike and lets each database use the contact indexes: (country, region),
(country, city_key), place_id, (latitude, longitude) and timezone. The functions that change
segments add and flush; the caller commits, and each change's audit entry commits with it.
"""

from __future__ import annotations

import json
import math
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, Select, and_, case, cast, false, func, literal, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Boolean, Float, Integer, String

from audience.models import Contact, Segment
from audience.places import gazetteer, normalise_key
from audience.segment_definition import (  # noqa: F401  (re-exported: this module is the service's face)
    _CONTROL, AttributeCondition, Definition, Near, SegmentDefinitionError, SegmentError, parse_definition,
)
from audience.status import ContactStatus, is_status
from compliance import audit
from dbtypes import parse_id, utcnow
from extensions import db

KM_PER_DEGREE = 111.195  # 6371 km (the mean Earth radius) × π / 180
MAX_NAME = 120
MAX_DESCRIPTION = 2000


class DuplicateSegmentError(SegmentError):
    """Another segment already has this name."""


# --- the shape guard: cast an attribute only when it looks like a number or a date ----------------

class _Looks(FunctionElement):
    """True when a text has a shape (a number, a date): a regular expression on PostgreSQL, GLOB
    patterns on SQLite (which has no REGEXP by default).

    Comparisons cast an attribute only where its shape is right, so "много" or "скоро" simply does
    not match instead of failing the whole query on PostgreSQL. The shape is a class, not a
    parameter, because it is written into the SQL text (and so into the statement cache key).
    """

    type = Boolean()
    inherit_cache = True
    regex = ""
    globs: tuple[str, ...] = ()


class _LooksLikeNumber(_Looks):
    inherit_cache = True
    regex = r"^[-+]?([0-9]{1,15}([.,][0-9]*)?|[.,][0-9]{1,15})$"
    # Digits, at most one separator, a sign only in front, at least one digit, at most 16 characters.
    globs = ("{t} NOT GLOB '*[^0-9.,+-]*'", "{t} GLOB '*[0-9]*'", "{t} NOT GLOB '?*[+-]*'",
             "{t} NOT GLOB '*[.,]*[.,]*'", "length({t}) <= 16")


class _LooksLikeIsoDate(_Looks):
    inherit_cache = True
    regex = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
    globs = ("{t} GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*'",)


class _LooksLikeRuDate(_Looks):
    inherit_cache = True
    regex = r"^[0-9]{2}\.[0-9]{2}\.[0-9]{4}$"
    globs = ("{t} GLOB '[0-9][0-9].[0-9][0-9].[0-9][0-9][0-9][0-9]'",)


@compiles(_Looks, "postgresql")
def _looks_postgresql(element: _Looks, compiler, **kw) -> str:
    return f"(({compiler.process(element.clauses, **kw)}) ~ '{element.regex}')"


@compiles(_Looks)
def _looks_sqlite(element: _Looks, compiler, **kw) -> str:
    text = f"({compiler.process(element.clauses, **kw)})"
    return "(" + " AND ".join(test.format(t=text) for test in element.globs) + ")"


class _Position(FunctionElement):
    """Where a text occurs in another, from 1, or 0: instr() on SQLite, strpos() on PostgreSQL.

    Both are case-sensitive, unlike LIKE, which ignores ASCII case on SQLite only.
    """

    type = Integer()
    inherit_cache = True


@compiles(_Position)
def _position_sqlite(element: _Position, compiler, **kw) -> str:
    return f"instr({compiler.process(element.clauses, **kw)})"


@compiles(_Position, "postgresql")
def _position_postgresql(element: _Position, compiler, **kw) -> str:
    return f"strpos({compiler.process(element.clauses, **kw)})"


# --- compiling a definition ------------------------------------------------------------------------

def _attribute_text(name: str) -> ColumnElement[str]:
    """The attribute's value as text, NULL when the contact has none.

    The JSON column is written with non-ASCII characters escaped ("\\u0423…"). PostgreSQL reads
    the escapes in keys, but SQLite's JSON paths compare the raw key text, so a Cyrillic name is
    looked up under both spellings (the escaped one finds nothing on PostgreSQL).
    """
    escaped = json.dumps(name)[1:-1]
    value = Contact.attributes[name].as_string()
    return value if escaped == name else func.coalesce(value, Contact.attributes[escaped].as_string(), type_=String)


def _attribute(condition: AttributeCondition) -> ColumnElement[bool]:
    raw = _attribute_text(condition.name)
    text = func.trim(raw, type_=String)
    op, value = condition.op, condition.value
    if op == "equals":
        return text == value
    if op == "not_equals":  # a contact without the attribute is "not gold" too
        return or_(raw.is_(None), text != value)
    if op == "contains":
        return _Position(text, literal(value, String)) > 0
    if op in ("gt", "gte", "lt", "lte"):
        number = case((_LooksLikeNumber(text), cast(func.replace(text, ",", ".", type_=String), Float)), else_=None)
        bound = literal(float(value), Float)
        return {"gt": number > bound, "gte": number >= bound, "lt": number < bound, "lte": number <= bound}[op]
    # Dates compare as ISO text, so nothing is cast to a date and no impossible date can fail.
    piece = lambda start, length: func.substr(text, start, length, type_=String)  # noqa: E731
    iso = case((_LooksLikeIsoDate(text), piece(1, 10)),
               (_LooksLikeRuDate(text), piece(7, 4) + "-" + piece(4, 2) + "-" + piece(1, 2)), else_=None)
    return {"before": iso < value, "after": iso > value, "on": iso == value}[op]


def _near(near: Near) -> ColumnElement[bool]:
    """Within ``near.km``: a latitude/longitude box the (latitude, longitude) index can range over,
    then the equirectangular distance, in arithmetic only (SQLite may lack trigonometry).

    The box's longitudes wrap across the antimeridian; near a pole, where the box would span every
    longitude, only the latitude band bounds it. The distance is within 1% up to a few hundred km;
    beyond that it is an approximation, which is all a marketing radius needs.
    """
    reach = near.km / KM_PER_DEGREE  # in degrees of latitude
    cos0 = math.cos(math.radians(near.latitude))
    conditions = [Contact.latitude.between(near.latitude - reach, near.latitude + reach)]
    spread = reach / cos0 if cos0 > 1e-6 else 360.0
    low, high = near.longitude - spread, near.longitude + spread
    if spread < 180 and low < -180:
        conditions.append(or_(Contact.longitude >= low + 360, Contact.longitude <= high))
    elif spread < 180 and high > 180:
        conditions.append(or_(Contact.longitude >= low, Contact.longitude <= high - 360))
    elif spread < 180:
        conditions.append(Contact.longitude.between(low, high))
    dx = Contact.longitude - near.longitude
    east = case((dx > 180, dx - 360), (dx < -180, dx + 360), else_=dx) * cos0
    north = Contact.latitude - near.latitude
    conditions.append(east * east + north * north <= reach * reach)
    return and_(*conditions)


def _in_countries(countries: tuple[str, ...], condition: ColumnElement[bool]) -> ColumnElement[bool]:
    # The countries are ANDed anyway; repeating them inside lets the (country, …) indexes serve
    # each branch of an OR.
    return and_(Contact.country.in_(countries), condition) if countries else condition


def _cities(definition: Definition) -> ColumnElement[bool]:
    keys = sorted({normalise_key(name) for name in definition.cities} - {""})
    ids = sorted({place.geonameid for name in definition.cities for country in (definition.countries or (None,))
                  for place in gazetteer().cities_named(name, country)})
    branches = [_in_countries(definition.countries, Contact.city_key.in_(keys))] if keys else []
    if ids:
        branches.append(Contact.place_id.in_(ids))
    return or_(*branches) if branches else false()


def segment_filter(definition: Definition) -> ColumnElement[bool]:
    """The WHERE condition on ``Contact`` for ``definition`` (true for an empty definition)."""
    d = definition
    conditions: list[ColumnElement[bool]] = []
    if d.countries:
        conditions.append(Contact.country.in_(d.countries))
    if d.regions:
        conditions.append(_in_countries(d.countries, Contact.region.in_(d.regions)))
    if d.cities:
        conditions.append(_cities(d))
    if d.near:
        conditions.append(_near(d.near))
    if d.timezones:
        conditions.append(Contact.timezone.in_(d.timezones))
    if d.tags:
        conditions.append(or_(*(Contact.tags.contains(f"|{tag}|", autoescape=True) for tag in d.tags)))
    conditions.extend(_attribute(condition) for condition in d.attributes)
    if d.statuses and set(d.statuses) != set(ContactStatus):
        conditions.append(or_(*(is_status(status) for status in d.statuses)))
    return and_(*conditions) if conditions else true()


def contacts_query(definition: Definition | dict[str, Any]) -> Select[tuple[int]]:
    """``SELECT contacts.id`` of the segment's contacts: one statement, for counting or materialising."""
    return select(Contact.id).where(segment_filter(parse_definition(definition)))


def count(definition: Definition | dict[str, Any]) -> int:
    """How many contacts the definition matches now."""
    query = select(func.count()).select_from(Contact).where(segment_filter(parse_definition(definition)))
    return db.session.scalar(query) or 0


def sample(definition: Definition | dict[str, Any], limit: int = 10) -> list[Contact]:
    """Up to ``limit`` matching contacts, newest first."""
    query = select(Contact).where(segment_filter(parse_definition(definition))).order_by(Contact.id.desc()).limit(limit)
    return list(db.session.scalars(query))


# --- saved segments ----------------------------------------------------------------------------------

def list_segments() -> list[Segment]:
    """Every saved segment, by name."""
    return list(db.session.scalars(select(Segment).order_by(Segment.name, Segment.id)))


def find_segment(name_or_id: str | int) -> Segment | None:
    """The segment with this name, else with this id (a name wins: a segment may be called "2025")."""
    if isinstance(name_or_id, int):
        return db.session.get(Segment, name_or_id)
    found = db.session.scalar(select(Segment).where(Segment.name == name_or_id.strip()))
    segment_id = parse_id(name_or_id.strip())
    return found or (db.session.get(Segment, segment_id) if segment_id else None)


def _checked(name: str, description: str, definition: Any, segment: Segment | None) -> tuple[str, str, Definition]:
    """The name, description and definition, or every sentence saying what is wrong with them."""
    errors: list[str] = []
    try:
        checked = parse_definition(definition)
    except SegmentDefinitionError as error:
        errors.extend(error.errors)
    name, description = (name or "").strip(), (description or "").strip()
    if not name:
        errors.insert(0, _("Give the segment a name."))
    elif _CONTROL.search(name) or _CONTROL.search(description.replace("\n", "").replace("\r", "").replace("\t", "")):
        errors.insert(0, _("The name and the description cannot contain control characters."))
    elif len(name) > MAX_NAME:
        errors.insert(0, _("The name is longer than %(limit)d characters.", limit=MAX_NAME))
    if len(description) > MAX_DESCRIPTION:
        errors.append(_("The description is longer than %(limit)d characters.", limit=MAX_DESCRIPTION))
    if errors:
        raise SegmentDefinitionError(errors)
    other = db.session.scalar(select(Segment.id).where(Segment.name == name))
    if other is not None and (segment is None or other != segment.id):
        raise _duplicate(name)
    return name, description, checked


def _duplicate(name: str) -> DuplicateSegmentError:
    return DuplicateSegmentError([_("A segment named “%(name)s” already exists; choose another name.", name=name)])


def _flush(name: str) -> None:
    # Two people saving the same name at once: the unique constraint decides. The session must then
    # be rolled back by the caller, as after any other error.
    try:
        db.session.flush()
    except IntegrityError:
        raise _duplicate(name) from None


def create_segment(name: str, definition: Any, description: str = "", actor: Any = None) -> Segment:
    """Save a new segment; raise ``SegmentDefinitionError`` or ``DuplicateSegmentError``."""
    name, description, checked = _checked(name, description, definition, None)
    actor_id = getattr(actor, "id", None)
    segment = Segment(name=name, description=description, definition=checked.as_json(),
                      created_by_id=actor_id, updated_by_id=actor_id)
    db.session.add(segment)
    _flush(name)
    audit.record("segment.created", actor=actor, target=segment, details={"name": name, "definition": segment.definition})
    return segment


def update_segment(segment: Segment, *, name: str | None = None, definition: Any = None,
                   description: str | None = None, actor: Any = None) -> Segment:
    """Change what is given (None keeps it); an edit that changes nothing writes nothing."""
    new_name, new_description, checked = _checked(
        segment.name if name is None else name, segment.description if description is None else description,
        segment.definition if definition is None else definition, segment)
    new = {"name": new_name, "description": new_description, "definition": checked.as_json()}
    changed = {field: {"from": getattr(segment, field), "to": value} for field, value in new.items() if getattr(segment, field) != value}
    if not changed:
        return segment
    for field, change in changed.items():
        setattr(segment, field, change["to"])
    segment.updated_by_id, segment.updated_at = getattr(actor, "id", None), utcnow()
    _flush(new_name)
    audit.record("segment.updated", actor=actor, target=segment, details={"name": new_name, "changed": changed})
    return segment
