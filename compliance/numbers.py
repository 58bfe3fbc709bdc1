"""Phone numbers as the suppression list keys them: E.164."""

from __future__ import annotations

import re

import phonenumbers
from flask_babel import gettext as _

from domain_errors import DomainError

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
    if not 1 < len(digits) <= 15:  # E.164 allows at most 15 digits
        raise InvalidNumberError(_("“%(text)s” is not a phone number.", text=(raw or "")[:40]))
    try:
        return to_e164("+" + digits)
    except InvalidNumberError:
        return "+" + digits
