"""A segment definition: what a person or a script wrote, checked and normalised into a ``Definition``.

Every error is a sentence naming the part that is wrong, in the reader's language, and all of them
are collected before anything is refused, so a form can show every mistake at once. Names are
normalised the way the importer stores them: countries to ISO codes, regions to their canonical
Russian name (kept as written when the gazetteer does not know them), time zones to their IANA
spelling, tags to lower case, dates to YYYY-MM-DD.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from audience.places import country_code, gazetteer
from audience.status import ContactStatus
from domain_errors import DomainError, FieldErrors

PART_LABELS = {
    "countries": _l("Countries"), "regions": _l("Regions"), "cities": _l("Cities"), "near": _l("Near"),
    "timezones": _l("Time zones"), "tags": _l("Tags"), "attributes": _l("Attributes"), "status": _l("Status"),
}
TEXT_OPS = ("equals", "not_equals", "contains")
NUMBER_OPS = ("gt", "gte", "lt", "lte")
DATE_OPS = ("before", "after", "on")
OPS = TEXT_OPS + NUMBER_OPS + DATE_OPS
MAX_ITEMS = 100  # per part; a longer list is a mistake, not a segment
MAX_ATTRIBUTES = 20
MAX_TEXT = 120
MAX_KM = 20_000  # half the Earth's circumference: every point is within it
_NUMBER = re.compile(r"^[-+]?(\d{1,15}([.,]\d*)?|[.,]\d{1,15})$")
_RU_DATE = re.compile(r"^\d{1,2}\.\d{1,2}\.\d{4}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # never in a name; PostgreSQL refuses NUL in any text


class SegmentError(DomainError):
    """A segment cannot be saved or counted; ``errors`` are sentences for the person who asked."""


class SegmentDefinitionError(SegmentError):
    """The definition is wrong; each sentence names the part that is wrong."""


@dataclass(frozen=True)
class Near:
    """Within ``km`` of a point; ``city`` (and its country) when the point was named."""

    latitude: float
    longitude: float
    km: float
    city: str | None = None
    country: str | None = None


@dataclass(frozen=True)
class AttributeCondition:
    name: str
    op: str
    value: str  # numbers with a dot, dates as YYYY-MM-DD


@dataclass(frozen=True)
class Definition:
    """A checked definition; empty parts match everybody."""

    countries: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    cities: tuple[str, ...] = ()
    near: Near | None = None
    timezones: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    attributes: tuple[AttributeCondition, ...] = ()
    statuses: tuple[ContactStatus, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """The normalised JSON kept in ``Segment.definition``; parsing it again gives the same."""
        data: dict[str, Any] = {name: list(getattr(self, name)) for name in ("countries", "regions", "cities")}
        if self.near and self.near.city:
            data["near"] = {"city": self.near.city, "country": self.near.country, "km": _plain(self.near.km)}
        elif self.near:
            data["near"] = {
                "latitude": self.near.latitude,
                "longitude": self.near.longitude,
                "km": _plain(self.near.km),
            }
        data.update(timezones=list(self.timezones), tags=list(self.tags),
                    attributes=[{"name": a.name, "op": a.op, "value": a.value} for a in self.attributes],
                    status=[status.value for status in self.statuses])
        return {name: value for name, value in data.items() if value}


def _plain(number: float) -> float | int:
    return int(number) if number == int(number) else number


def parse_definition(data: Any) -> Definition:
    """Check and normalise a definition (a dict, as JSON gives it); raise ``SegmentDefinitionError``."""
    if isinstance(data, Definition):
        return data
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SegmentDefinitionError(_("The definition must be a JSON object with parts such as countries or cities."),
                                     field="definition")
    errors = FieldErrors()
    errors.field = "definition"
    for part in data:
        if part not in PART_LABELS:
            errors.append(_("“%(part)s” is not a part of a segment definition; the parts are %(parts)s.",
                            part=str(part)[:40], parts=", ".join(PART_LABELS)))
    errors.field = "definition.countries"
    countries = [
        code
        for code in (_country(text, "countries", errors) for text in _texts(data, "countries", errors))
        if code
    ]
    country_hint = countries[0] if len(countries) == 1 else None
    errors.field = "definition.regions"
    regions = [_region(text, country_hint) for text in _texts(data, "regions", errors)]
    errors.field = "definition.cities"
    cities = _texts(data, "cities", errors)
    errors.field = "definition.near"
    near = _near(data.get("near"), country_hint, errors)
    errors.field = "definition.timezones"
    timezones = [zone for zone in (_zone(text, errors) for text in _texts(data, "timezones", errors)) if zone]
    errors.field = "definition.tags"
    tags = [tag for tag in (_tag(text, errors) for text in _texts(data, "tags", errors)) if tag]
    errors.field = "definition.attributes"
    attributes = _attributes(data.get("attributes"), errors)
    errors.field = "definition.status"
    statuses = [status for status in (_status(text, errors) for text in _texts(data, "status", errors)) if status]
    if errors:
        raise SegmentDefinitionError(errors=errors)
    return Definition(*(tuple(dict.fromkeys(items)) for items in (countries, regions, cities)), near,
                      *(tuple(dict.fromkeys(items)) for items in (timezones, tags)), tuple(attributes),
                      tuple(dict.fromkeys(statuses)))


def _texts(data: dict, part: str, errors: list[str]) -> list[str]:
    """The items of a list part: a list of texts, or one text separated by commas (as a form sends it)."""
    value = data.get(part)
    label = PART_LABELS[part]
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        errors.append(_("%(part)s: give a list of names.", part=label))
        return []
    items = list(dict.fromkeys(item.strip() for item in value if item.strip()))
    if len(items) > MAX_ITEMS:
        errors.append(_("%(part)s: give at most %(count)d values.", part=label, count=MAX_ITEMS))
        return []
    for item in items:
        if _CONTROL.search(item):
            errors.append(
                _("%(part)s: “%(value)s” contains a control character.", part=label, value=_CONTROL.sub("?", item)[:40])
            )
            return []
        if len(item) > MAX_TEXT:
            errors.append(_("%(part)s: “%(value)s…” is longer than %(limit)d characters.",
                            part=label, value=item[:20], limit=MAX_TEXT))
            return []
    return items


def _country(text: str, part: str, errors: list[str]) -> str | None:
    code = country_code(text)
    if code is None:
        errors.append(
            _(
                "%(part)s: “%(value)s” is not a country we know; write a name such as Россия or a code such as RU.",
                part=PART_LABELS[part],
                value=text,
            )
        )
    return code


def _region(text: str, country: str | None) -> str:
    # An unknown region is kept as written: the importer keeps such regions as written too.
    region = gazetteer().region(text, country)
    return region.name if region else text


@cache
def _zones() -> dict[str, str]:
    return {zone.casefold(): zone for zone in available_timezones()}


def _zone(text: str, errors: list[str]) -> str | None:
    zone = _zones().get(text.casefold())
    if zone is None:
        errors.append(_("Time zones: “%(value)s” is not a time zone; write a name such as Europe/Moscow.", value=text))
    return zone


def _tag(text: str, errors: list[str]) -> str | None:
    tag = text.lstrip("#").strip().lower()
    if "|" in tag:
        errors.append(_("Tags: “%(value)s” cannot contain “|”.", value=text))
        return None
    return tag or None


def _status(text: str, errors: list[str]) -> ContactStatus | None:
    try:
        return ContactStatus(text)
    except ValueError:
        errors.append(_("Status: “%(value)s” is not a status; use subscribed, opted_out or blocked.", value=text))
        return None


def number(value: Any) -> float | None:
    """A finite number from JSON or from text ("3", "-2.5", "3,5"), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str) and _NUMBER.match(value.strip()):
        return float(value.strip().replace(",", "."))
    return None


def iso_date(text: str) -> str | None:
    """YYYY-MM-DD from "2000-01-31" or "31.01.2000", else None."""
    text = text.strip()
    try:
        if _RU_DATE.match(text):
            return datetime.strptime(text, "%d.%m.%Y").date().isoformat()
        return date.fromisoformat(text).isoformat() if len(text) == 10 else None
    except ValueError:
        return None


def _near(value: Any, country_hint: str | None, errors: list[str]) -> Near | None:
    if value is None or value == {}:
        return None
    shape = _("Near: give latitude, longitude and km, or a city and km.")
    if not isinstance(value, dict) or set(value) - {"latitude", "longitude", "km", "city", "country"}:
        errors.append(shape)
        return None
    km = number(value.get("km"))
    if km is None or not 0 < km <= MAX_KM:
        errors.append(_("Near: give the distance in km, more than 0 and at most %(limit)d.", limit=MAX_KM))
    city, country = value.get("city"), value.get("country")
    if city not in (None, ""):
        point = value.get("latitude") not in (None, "") or value.get("longitude") not in (None, "")
        if (
            point
            or not isinstance(city, str)
            or not isinstance(country or "", str)
            or len(city) > MAX_TEXT
            or _CONTROL.search(city)
        ):
            errors.append(shape)
            return None
        code = _country(country, "near", errors) if country else country_hint
        if country and code is None:
            return None
        place = gazetteer().city(city, code)
        if place is None:
            errors.append(_("Near: we could not find the city “%(value)s”.", value=city.strip()))
            return None
        return Near(place.latitude, place.longitude, km or 0.0, city.strip(), place.country)
    latitude, longitude = number(value.get("latitude")), number(value.get("longitude"))
    if value.get("latitude") in (None, "") and value.get("longitude") in (None, ""):
        errors.append(shape)
        return None
    if latitude is None or not -90 <= latitude <= 90:
        errors.append(_("Near: the latitude must be a number from -90 to 90."))
    if longitude is None or not -180 <= longitude <= 180:
        errors.append(_("Near: the longitude must be a number from -180 to 180."))
    if latitude is None or longitude is None:
        return None
    return Near(latitude, longitude, km or 0.0)


def _attributes(value: Any, errors: list[str]) -> list[AttributeCondition]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        errors.append(_("Attributes: give a list of conditions, each with a name, an op and a value."))
        return []
    if len(value) > MAX_ATTRIBUTES:
        errors.append(_("Attributes: give at most %(count)d conditions.", count=MAX_ATTRIBUTES))
        return []
    return [condition for condition in (_attribute(item, errors) for item in value) if condition]


def _attribute(item: dict, errors: list[str]) -> AttributeCondition | None:
    name, op, raw = item.get("name"), item.get("op"), item.get("value")
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > MAX_TEXT or _CONTROL.search(name):
        errors.append(
            _(
                "Attributes: each condition needs an attribute name of at most %(limit)d characters, "
                "without control characters.",
                limit=MAX_TEXT,
            )
        )
        return None
    name = name.strip()
    if '"' in name or "\\" in name:  # SQLite's JSON paths cannot quote them
        errors.append(_("Attributes: the name “%(name)s” cannot contain quotes or backslashes.", name=name))
        return None
    if op not in OPS:
        errors.append(
            _("Attributes: “%(op)s” is not a comparison; use one of %(ops)s.", op=str(op)[:20], ops=", ".join(OPS))
        )
        return None
    text = raw if isinstance(raw, str) else ("" if raw is None or isinstance(raw, bool) else str(raw))
    text = text.strip()
    if not text or len(text) > 200 or _CONTROL.search(text):
        errors.append(
            _(
                "Attributes: give “%(name)s” a value to compare with: at most 200 characters, no control characters.",
                name=name,
            )
        )
        return None
    if op in NUMBER_OPS:
        value = number(text)
        if value is None:
            errors.append(
                _(
                    "Attributes: “%(name)s” is compared as a number, so “%(value)s” must be a number.",
                    name=name,
                    value=text,
                )
            )
            return None
        text = repr(_plain(value))
    elif op in DATE_OPS:
        text = iso_date(text) or ""
        if not text:
            errors.append(
                _(
                    "Attributes: “%(name)s” is compared as a date, "
                    "so “%(value)s” must be a date such as 2000-01-31 or 31.01.2000.",
                    name=name,
                    value=raw,
                )
            )
            return None
    return AttributeCondition(name, op, text)
