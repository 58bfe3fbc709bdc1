"""Segments: saved audience definitions, compiled to one SQL query, counted live, created and edited.

A definition (see ``segment_definition``) is ANDed across its parts and ORed within a part.
``segment_filter`` compiles it into one WHERE condition on ``Contact`` that runs on SQLite and
PostgreSQL alike. Each geographic part is one condition on one indexed value — country, (region,
country), the city match (``CITY_MATCH``, country), (latitude, longitude), timezone — so that a
count reads an index and never the table (``bench/segment_bench.py`` measures them over a million
contacts). The functions that change segments add and flush; the caller commits, and each
change's audit entry commits with it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, and_, case, false, func, literal, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Float, Integer, String

from audience.models import CITY_MATCH, Contact, Segment
from audience.places import gazetteer, normalise_key
from audience.segment_definition import (
    _CONTROL,
    AttributeCondition,
    Definition,
    Near,
    SegmentDefinitionError,
    SegmentError,
    parse_definition,
)
from audience.segment_uses import SegmentUse, announce_redefined, uses_of
from audience.status import ContactStatus, is_status
from compliance import audit
from dbtypes import dialect_function, parse_id, utcnow
from domain_errors import FieldErrors
from extensions import db

KM_PER_DEGREE = 111.195  # 6371 km (the mean Earth radius) × π / 180
MAX_NAME = 120
MAX_DESCRIPTION = 2000


class DuplicateSegmentError(SegmentError):
    """Another segment already has this name."""

    status = 409


class SegmentInUseError(SegmentError):
    """The edit would void the reviews or approvals in ``uses``, and nobody confirmed that yet."""

    status = 409

    def __init__(self, uses: list[SegmentUse]) -> None:
        names = ", ".join(f"“{use.name}” ({use.status_label})" for use in uses)
        super().__init__([_("Saving this change returns these campaigns to draft, because their review or approval "
                            "covered the segment as it was: %(names)s. Confirm the change to save it.", names=names)])
        self.uses = uses

    def problem_members(self) -> dict[str, Any]:
        """The campaigns to confirm, each with the ``key`` that ``confirm`` names."""
        return {"affected": [use.as_json() for use in self.uses]}


# --- reading an attribute as a number or a date ---------------------------------------------------

class _Shaped(FunctionElement):
    """An attribute's text read as a number or an ISO date where it has that shape, else NULL.

    Comparisons read an attribute only where its shape is right, so "много" or "скоро" simply does
    not match instead of failing the whole query on PostgreSQL. PostgreSQL tests the shape with a
    regular expression; SQLite (which has no REGEXP by default) with GLOB patterns, on the text
    computed once in a one-row subquery: written into every pattern, the JSON would be parsed for
    each one (a number comparison over a million contacts took 2.8 s that way, 1.3 s this way).
    Each shape is a (regex, GLOB test, value) with ``{t}`` for the text; shapes are classes, not
    parameters, because they are written into the SQL text (and so into the statement cache key).
    """

    inherit_cache = True
    shapes: tuple[tuple[str, str, str], ...] = ()


class _AsNumber(_Shaped):
    type = Float()
    inherit_cache = True
    # Digits, at most one separator, a sign only in front, at least one digit, at most 16 characters.
    shapes = ((r"^[-+]?([0-9]{1,15}([.,][0-9]*)?|[.,][0-9]{1,15})$",
               "{t} NOT GLOB '*[^0-9.,+-]*' AND {t} GLOB '*[0-9]*' AND {t} NOT GLOB '?*[+-]*' "
               "AND {t} NOT GLOB '*[.,]*[.,]*' AND length({t}) <= 16",
               "CAST(replace({t}, ',', '.') AS FLOAT)"),)


class _AsIsoDate(_Shaped):
    """Dates compare as ISO text, so nothing is cast to a date and no impossible date can fail."""

    type = String()
    inherit_cache = True
    shapes = ((r"^[0-9]{4}-[0-9]{2}-[0-9]{2}", "{t} GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*'",
               "substr({t}, 1, 10)"),
              (r"^[0-9]{2}\.[0-9]{2}\.[0-9]{4}$", "{t} GLOB '[0-9][0-9].[0-9][0-9].[0-9][0-9][0-9][0-9]'",
               "substr({t}, 7, 4) || '-' || substr({t}, 4, 2) || '-' || substr({t}, 1, 2)"))


@compiles(_Shaped, "postgresql")
def _shaped_postgresql(element: _Shaped, compiler, **kw) -> str:
    text = f"({compiler.process(element.clauses, **kw)})"
    whens = " ".join(f"WHEN {text} ~ '{regex}' THEN {value.format(t=text)}" for regex, _glob, value in element.shapes)
    return f"(CASE {whens} END)"


@compiles(_Shaped)
def _shaped_sqlite(element: _Shaped, compiler, **kw) -> str:
    text = "attribute_text"
    whens = " ".join(
        f"WHEN {glob.format(t=text)} THEN {value.format(t=text)}" for _regex, glob, value in element.shapes
    )
    # LIMIT keeps SQLite from flattening the subquery, which would write the text out again.
    return f"(SELECT CASE {whens} END FROM (SELECT {compiler.process(element.clauses, **kw)} AS {text} LIMIT 1))"


# Where a text occurs in another, from 1, or 0. Both are case-sensitive, unlike LIKE, which ignores
# ASCII case on SQLite only.
_Position = dialect_function("_Position", Integer(), sqlite="instr", postgresql="strpos")


# --- compiling a definition ------------------------------------------------------------------------

class _AttributeText(FunctionElement):
    """An attribute's value as text, NULL when the contact has none; the arguments are the value
    under the name as written and under the name with its non-ASCII characters escaped.

    The JSON column is written escaped ("\\u0423…"). PostgreSQL reads the escapes in keys, so it
    looks the name up as written, once: each lookup parses the document again, and a count reads
    every contact. SQLite's JSON paths compare the raw key text, so it looks the escaped name up
    first, then the name as written (for JSON that something else wrote unescaped).
    """

    type = String()
    inherit_cache = True


@compiles(_AttributeText)
def _attribute_text_sqlite(element: _AttributeText, compiler, **kw) -> str:
    plain, escaped = element.clauses
    return f"coalesce({compiler.process(escaped, **kw)}, {compiler.process(plain, **kw)})"


@compiles(_AttributeText, "postgresql")
def _attribute_text_postgresql(element: _AttributeText, compiler, **kw) -> str:
    plain, _escaped = element.clauses
    return compiler.process(plain, **kw)


def attribute_text(name: str) -> ColumnElement[str]:
    """The contact attribute ``name`` as text, NULL when the contact has none.

    Segments filter on it and a campaign's variables are filled from it, so both read attributes
    written escaped or not alike.
    """
    escaped = json.dumps(name)[1:-1]
    value = Contact.attributes[name].as_string()
    return value if escaped == name else _AttributeText(value, Contact.attributes[escaped].as_string())


def _attribute(condition: AttributeCondition) -> ColumnElement[bool]:
    raw = attribute_text(condition.name)
    text = func.trim(raw, type_=String)
    op, value = condition.op, condition.value
    if op == "equals":
        return text == value
    if op == "not_equals":  # a contact without the attribute is "not gold" too
        return or_(raw.is_(None), text != value)
    if op == "contains":
        return _Position(text, literal(value, String)) > 0
    if op in ("gt", "gte", "lt", "lte"):
        number = _AsNumber(text)
        bound = literal(float(value), Float)
        return {"gt": number > bound, "gte": number >= bound, "lt": number < bound, "lte": number <= bound}[op]
    iso = _AsIsoDate(text)
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


def _cities(names: tuple[str, ...]) -> ColumnElement[bool]:
    """In one of the named cities: placed by the importer in a gazetteer city of that name, or, for a
    contact the importer could not place, with that city written in the file.

    Places of every country are listed, as the importer may have placed a city with the file's
    country column rather than the number's; the countries of the definition are a condition of
    their own. "Город, Область" is looked up as the importer looks it up, by its parts.
    """
    places = gazetteer()
    ids = {place.geonameid for name in names for place in places.cities_named(name)}
    ids.update(place.geonameid for place in map(places.city, names) if place is not None)
    values = sorted({normalise_key(name) for name in names} - {""}) + [f"#{geonameid}" for geonameid in sorted(ids)]
    return CITY_MATCH.in_(values) if values else false()


def segment_filter(definition: Definition) -> ColumnElement[bool]:
    """The WHERE condition on ``Contact`` for ``definition`` (true for an empty definition)."""
    d = definition
    conditions: list[ColumnElement[bool]] = []
    if d.countries:
        conditions.append(Contact.country.in_(d.countries))
    if d.regions:
        conditions.append(Contact.region.in_(d.regions))
    if d.cities:
        conditions.append(_cities(d.cities))
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
    errors = FieldErrors()
    try:
        checked = parse_definition(definition)
    except SegmentDefinitionError as error:
        errors.extend(error.field_errors)
    name, description = (name or "").strip(), (description or "").strip()
    if not name:
        errors.insert(0, ("name", _("Give the segment a name.")))
    elif _CONTROL.search(name) or _CONTROL.search(description.replace("\n", "").replace("\r", "").replace("\t", "")):
        errors.insert(0, ("name", _("The name and the description cannot contain control characters.")))
    elif len(name) > MAX_NAME:
        errors.insert(0, ("name", _("The name is longer than %(limit)d characters.", limit=MAX_NAME)))
    errors.field = "description"
    if len(description) > MAX_DESCRIPTION:
        errors.append(_("The description is longer than %(limit)d characters.", limit=MAX_DESCRIPTION))
    if errors:
        raise SegmentDefinitionError(errors=errors)
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
    audit.record(
        "segment.created", actor=actor, target=segment, details={"name": name, "definition": segment.definition}
    )
    return segment


def update_segment(segment: Segment, *, name: str | None = None, definition: Any = None,
                   description: str | None = None, actor: Any = None, confirmed: Collection[str] = ()) -> Segment:
    """Change what is given (None keeps it); an edit that changes nothing writes nothing.

    A new definition changes the audience of the campaigns using the segment, so it voids their
    reviews and approvals (they return to draft, with the edit). Unless every one of them is named in
    ``confirmed`` (by ``SegmentUse.key``, as ``uses_if_redefined`` lists them), nothing is saved and
    ``SegmentInUseError`` lists them for the person to confirm.
    """
    new_name, new_description, checked = _checked(
        segment.name if name is None else name, segment.description if description is None else description,
        segment.definition if definition is None else definition, segment)
    new = {"name": new_name, "description": new_description, "definition": checked.as_json()}
    changed = {
        field: {"from": getattr(segment, field), "to": value}
        for field, value in new.items()
        if getattr(segment, field) != value
    }
    if not changed:
        return segment
    voided = uses_of(segment) if "definition" in changed else []
    if not {use.key for use in voided} <= set(confirmed):
        raise SegmentInUseError(voided)
    for field, change in changed.items():
        setattr(segment, field, change["to"])
    segment.updated_by_id, segment.updated_at = getattr(actor, "id", None), utcnow()
    _flush(new_name)
    details = {"name": new_name, "changed": changed, **({"voided": [use.key for use in voided]} if voided else {})}
    audit.record("segment.updated", actor=actor, target=segment, details=details)
    if "definition" in changed:
        announce_redefined(segment, actor)
    return segment


def uses_if_redefined(segment: Segment, definition: Any) -> list[SegmentUse]:
    """What saving ``definition`` on ``segment`` would void (nothing when it is the same, or is not
    a definition at all: saving it then fails for that reason instead)."""
    if definition is None:
        return []
    try:
        checked = parse_definition(definition)
    except SegmentDefinitionError:
        return []
    return uses_of(segment) if checked.as_json() != segment.definition else []
