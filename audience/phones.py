"""Phone cells as CRMs and Excel write them, to E.164 with what the number says about its place.

Pure functions over plain values (no Flask, no database), so the importer can run them in worker
processes: ``normalise_many`` is what a process pool maps over chunks of a column.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType, ValidationResult, geocoder
from phonenumbers import timezone as number_zones

# Rejection codes; the importer turns them into sentences in the reader's language.
MISSING = "phone_missing"
EXCEL_DAMAGED = "phone_excel_damaged"
TOO_SHORT = "phone_too_short"
TOO_LONG = "phone_too_long"
UNKNOWN_COUNTRY = "phone_unknown_country"
INVALID = "phone_invalid"

# Excel pads cells with these; phonenumbers would read some of them as part of the number.
_INVISIBLE = str.maketrans("", "", "\u00a0\u202f\u2007\u200b\u200e\u200f\ufeff\t")
# "79031234514.0": a number column read as floats; the digits are all there.
_FLOAT = re.compile(r"^(\+?\d{5,})[.,]0+$")
# "7.90312E+10": Excel showed the number in scientific notation and saved what it showed.
_SCIENTIFIC = re.compile(r"^\+?\d+(?:[.,]\d+)?[eE]\+?\d+$")
_UNKNOWN_ZONE = "Etc/Unknown"
# A geographic number of a country with a few zones names its region; a mobile number of Russia
# lists every zone of +7, and asking the geocoder then only costs time.
_MAX_ZONES_FOR_REGION = 3


class Number(NamedTuple):
    e164: str
    country: str | None
    # The zone when the number pins one; None for a number that may be in several (a Russian
    # mobile, say), whose zones the send-time check derives from the number itself.
    timezone: str | None
    region: str | None  # what libphonenumber's geocoder says, in Russian (landlines only)
    had_extension: bool


def clean(raw: str) -> str:
    """The cell without Excel's artefacts: apostrophe prefix, invisible spaces, a float's ".0"."""
    text = raw.translate(_INVISIBLE).strip()
    if text.startswith("'"):
        text = text[1:].lstrip()
    match = _FLOAT.match(text)
    return match.group(1) if match else text


def normalise(raw: str, default_region: str) -> Number | str:
    """The number in ``raw`` with its place, or a rejection code (one of the module constants)."""
    text = clean(raw or "")
    if not text:
        return MISSING
    if _SCIENTIFIC.match(text):
        return EXCEL_DAMAGED
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as error:
        if error.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            return UNKNOWN_COUNTRY
        if error.error_type in (phonenumbers.NumberParseException.TOO_SHORT_NSN,
                                phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD):
            return TOO_SHORT
        return TOO_LONG if error.error_type == phonenumbers.NumberParseException.TOO_LONG else INVALID
    # number_type is what is_valid_number computes inside; asking once serves validity and place.
    kind = phonenumbers.number_type(number)
    if kind == PhoneNumberType.UNKNOWN:
        return _why_invalid(number)
    region = None
    if phonenumbers.is_number_type_geographical(kind, number.country_code):
        zones = _known(number_zones.time_zones_for_geographical_number(number))
        if 0 < len(zones) <= _MAX_ZONES_FOR_REGION:
            region = geocoder.description_for_valid_number(number, "ru") or None
    else:
        # A mobile number says nothing about where in its country the person is (a Russian mobile
        # may be in any of 11 zones), so its zones are the country's; they depend on the code only.
        zones = _country_zones(number)
    return Number(
        phonenumbers.format_number(number, PhoneNumberFormat.E164),
        phonenumbers.region_code_for_number(number),
        zones[0] if len(zones) == 1 else None,
        region,
        bool(number.extension),
    )


def _known(zones: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return tuple(zone for zone in zones if zone != _UNKNOWN_ZONE)


_zones_by_country_code: dict[int, tuple[str, ...]] = {}


def _country_zones(number: phonenumbers.PhoneNumber) -> tuple[str, ...]:
    # For a non-geographic number libphonenumber answers with its country code's zones.
    zones = _zones_by_country_code.get(number.country_code)
    if zones is None:
        zones = _zones_by_country_code[number.country_code] = _known(number_zones.time_zones_for_number(number))
    return zones


def _why_invalid(number: phonenumbers.PhoneNumber) -> str:
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason in (ValidationResult.TOO_SHORT, ValidationResult.INVALID_LENGTH):
        return TOO_SHORT if reason == ValidationResult.TOO_SHORT else INVALID
    if reason == ValidationResult.TOO_LONG:
        return TOO_LONG
    if reason == ValidationResult.INVALID_COUNTRY_CODE:
        return UNKNOWN_COUNTRY
    return INVALID


def normalise_many(raws: list[str], default_region: str) -> list[Number | str]:
    """``normalise`` over a chunk of cells; the unit of work of the importer's process pool."""
    return [normalise(raw, default_region) for raw in raws]
