"""The E.164 shape, checked in Python (``is_e164``) and in SQL (``not_e164``), agrees on both databases."""

from __future__ import annotations

from sqlalchemy import String, cast, literal, null, select

from compliance.numbers import E164_MAX_DIGITS, E164_MIN_DIGITS, is_e164, not_e164
from extensions import db

VALID = [
    "+1" + "2" * (E164_MIN_DIGITS - 1),  # the shortest
    "+79031234567",
    "+4915112345678",
    "+9" + "8" * (E164_MAX_DIGITS - 1),  # the longest
]
INVALID = [
    None,
    "",
    "+",
    "+1" + "2" * (E164_MIN_DIGITS - 2),  # a digit short
    "+9" + "8" * E164_MAX_DIGITS,  # a digit too many
    "+0123456789",  # no country code starts with 0
    "79031234567",  # no plus
    "++79031234567",
    "+7 903 123 45 67",
    "+7(903)1234567",
    "+7903-123-4567",
    " +79031234567",
    "+79031234567 ",
    "+79031234567\n",
    "\n+79031234567",
    "+7903123456a",
    "+7٩٠٣١٢٣٤٥٦٧",  # Arabic-Indic digits are digits to Python's \d, not to E.164
]


def test_python_knows_the_valid_numbers_from_the_invalid_ones():
    assert [number for number in VALID + INVALID if is_e164(number)] == VALID


def test_the_sql_check_agrees_with_the_python_one(app):
    def invalid_in_sql(number: str | None) -> bool:
        value = null() if number is None else literal(number, String)
        return bool(db.session.scalar(select(not_e164(cast(value, String)))))

    assert {number: invalid_in_sql(number) for number in VALID + INVALID} == {
        number: not is_e164(number) for number in VALID + INVALID
    }

