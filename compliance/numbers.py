"""Phone numbers as the suppression list keys them: E.164, and the shape of one in Python and in SQL."""

from __future__ import annotations

import re

import phonenumbers
from flask_babel import gettext as _
from sqlalchemy import ColumnElement
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Boolean

from domain_errors import DomainError

# An E.164 number is "+" and 7 to 15 digits, the first not 0. ``is_e164`` and ``not_e164`` (its SQL
# twin) are both built from these, and tests/test_numbers.py runs them over the same numbers.
E164_MIN_DIGITS = 7
E164_MAX_DIGITS = 15
E164_PATTERN = rf"^\+[1-9][0-9]{{{E164_MIN_DIGITS - 1},{E164_MAX_DIGITS - 1}}}$"

_E164 = re.compile(E164_PATTERN)
_DIGITS = re.compile(r"\D+")


class InvalidNumberError(DomainError):
    """The text is not a phone number; the message says why in a sentence."""


def to_e164(raw: str, default_region: str = "RU") -> str:
    """``raw`` as an E.164 number, reading numbers without a country code as ``default_region``'s.

    Accepts what people type (spaces, brackets, dashes, a leading 8 in Russia). Refuses text that
    cannot be a number of any length valid for its country.
    """
    text = (raw or "").strip().lstrip("'")
    if not text:
        raise InvalidNumberError(_("Enter a phone number."))
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        raise InvalidNumberError(_("“%(text)s” is not a phone number.", text=text[:40])) from None
    # "Possible" rather than "valid": metadata lags new number ranges, and refusing a real person's
    # opt-out because our copy of libphonenumber is old would be the worse mistake.
    if not phonenumbers.is_possible_number(number):
        raise InvalidNumberError(_("“%(text)s” has the wrong number of digits for a phone number.", text=text[:40]))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def from_provider(raw: str) -> str:
    """A sender id as a provider reports it (``79031234567``, ``+7 903…``) in E.164.

    An opt-out must be recorded whatever the number looks like, so anything with 2 to 15 digits
    that libphonenumber does not know is kept as ``+`` and its digits; only what cannot be a number
    at all is refused.
    """
    digits = _DIGITS.sub("", raw or "")
    if not 1 < len(digits) <= E164_MAX_DIGITS:
        raise InvalidNumberError(_("“%(text)s” is not a phone number.", text=(raw or "")[:40]))
    try:
        return to_e164("+" + digits)
    except InvalidNumberError:
        return "+" + digits


def is_e164(text: str | None) -> bool:
    """Whether ``text`` has the shape of an E.164 number (``+``, 7 to 15 digits, the first not 0)."""
    return isinstance(text, str) and _E164.fullmatch(text) is not None


class _NotE164(FunctionElement):
    type = Boolean()
    inherit_cache = True


def not_e164(phone: ColumnElement[str]) -> ColumnElement[bool]:
    """SQL that is true when ``phone`` is NULL or not shaped like E.164: ``is_e164`` in the database.

    The importer stores only numbers it could read, so this catches rows written some other way
    (the API, a restored backup, a hand edit), which no provider would accept.
    """
    return _NotE164(phone)


@compiles(_NotE164)
def _not_e164_sqlite(element: _NotE164, compiler, **kw) -> str:
    # SQLite has no regular expressions by default: GLOB for the first digit and for the rest.
    phone = compiler.process(element.clauses, **kw)
    return (f"(coalesce({phone}, '') NOT GLOB '+[1-9]*' "
            f"OR length({phone}) NOT BETWEEN {E164_MIN_DIGITS + 1} AND {E164_MAX_DIGITS + 1} "
            f"OR substr({phone}, 2) GLOB '*[^0-9]*')")


@compiles(_NotE164, "postgresql")
def _not_e164_postgresql(element: _NotE164, compiler, **kw) -> str:
    return f"(coalesce({compiler.process(element.clauses, **kw)}, '') !~ '{E164_PATTERN}')"
