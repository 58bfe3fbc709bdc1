"""Reading single cells of an audience file: consent answers, dates, tags, languages, coordinates."""

from __future__ import annotations

import functools
import re
import unicodedata
from datetime import UTC, datetime

YES = frozenset({"да", "д", "yes", "y", "1", "true", "+", "согласен", "согласна", "согласие", "есть",
                 "подписан", "подписана", "subscribed", "opted in", "opt in", "optin", "ok", "✓", "✔", "v", "x"})
NO = frozenset({"нет", "н", "no", "n", "0", "false", "-", "не согласен", "не согласна", "отказ", "отписан",
                "отписана", "unsubscribed", "opted out", "opt out", "optout"})

_DATE_FORMATS = ("%d.%m.%Y", "%d.%m.%Y %H:%M", "%d.%m.%Y %H:%M:%S", "%Y-%m-%d", "%Y-%m-%d %H:%M",
                 "%Y-%m-%d %H:%M:%S", "%d/%m/%Y", "%d.%m.%y")
_LANGUAGES = {"ru": "ru", "rus": "ru", "русский": "ru", "russian": "ru", "рус": "ru",
              "en": "en", "eng": "en", "английский": "en", "english": "en", "англ": "en"}
# Cells repeat (a handful of answers, dates and tags over a million rows): parse each once.
_CACHE = 1 << 16
_TAG_SPLIT = re.compile(r"[,;|]")
_DECIMAL_COMMA = re.compile(r"^-?\d+,\d+$")
_DOTTED_DATE = re.compile(r"^\d{1,2}\.\d{1,2}\.\d{4}$")
_EXCEL_DATETIME = re.compile(r"^(\d{4}-\d{2}-\d{2}) 00:00:00$")


@functools.lru_cache(maxsize=_CACHE)
def consent(value: str) -> bool | None:
    """True for a yes-like answer, False for a no-like or empty one, None when it is neither."""
    text = value.strip().casefold().replace("ё", "е").rstrip(".!")
    if not text:
        return False
    if text in YES:
        return True
    return False if text in NO else None


@functools.lru_cache(maxsize=_CACHE)
def moment(value: str) -> datetime | None:
    """A date or date-and-time as CRMs export it, taken as UTC; None when it is not one."""
    text = value.strip().removesuffix("Z").removesuffix("+00:00")
    if len(text) > 10 and text[10] == "T":  # ISO 8601
        text = f"{text[:10]} {text[11:]}"
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


@functools.lru_cache(maxsize=_CACHE)
def tags(value: str) -> tuple[str, ...]:
    """Tags from a cell such as "VIP, Москва; опт": lower-case, without "|", in order, unique."""
    found = (tag.strip().casefold().replace("|", "/")[:60] for tag in _TAG_SPLIT.split(value))
    return tuple(dict.fromkeys(tag for tag in found if tag))


@functools.lru_cache(maxsize=_CACHE)
def language(value: str) -> str | None:
    """A language code from "ru", "RU", "Русский", "English", …; an unknown one as written (short)."""
    text = value.strip().casefold()
    if not text:
        return None
    return _LANGUAGES.get(text, text.replace("-", "_")[:16])


def coordinate(value: str, limit: float) -> float | None:
    """A latitude (limit 90) or longitude (limit 180) written with a point or a comma."""
    try:
        number = float(value.strip().replace(",", "."))
    except ValueError:
        return None
    return number if -limit <= number <= limit else None


@functools.lru_cache(maxsize=_CACHE)
def attribute(value: str) -> str:
    """An attribute cell, with dates and decimal commas written one way so segments can compare them."""
    text = value.strip()
    if _DOTTED_DATE.match(text):
        parsed = moment(text)
        return parsed.date().isoformat() if parsed else text
    match = _EXCEL_DATETIME.match(text)
    if match:
        return match.group(1)
    if _DECIMAL_COMMA.match(text):
        return text.replace(",", ".")
    return text

def name_key(name: str | None) -> str | None:
    """The form of a name that search compares: case-folded, with single spaces."""
    if not name or not name.strip():
        return None
    return unicodedata.normalize("NFC", " ".join(name.split())).casefold()
