"""A person's name as Russian business writes it: first name, patronymic and last name, split from one
full-name cell when a file has no columns of its own for them, and composed back into the display name.

A pure function of the text (no database), so the importer's worker processes run it.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)
# Patronymics end so (Сергеевна, Ильич, Кузьминична; Latin transliterations), or are the separate Turkic word.
_PATRONYMIC = re.compile(r"(?:вич|вна|ична|инична|ich|vich|vna|ovna|evna|ichna)$", re.IGNORECASE)
_TURKIC_PATRONYMIC = frozenset({"оглы", "кызы", "ogly", "kyzy"})
# Surname endings, strong and weak (Ирина, Марина end as Каренина does): two words with no patronymic are put
# in order by whichever looks more like a surname; when neither does more, the ФИО order stands (surname first).
_STRONG_SURNAME = re.compile(r"(?:ов|ова|ев|ева|ёв|ёва|ский|ская|цкий|цкая|ской|енко|швили|дзе)$", re.IGNORECASE)
_WEAK_SURNAME = re.compile(r"(?:ин|ина|ын|ына|ых|их|ук|юк|ян)$", re.IGNORECASE)
_FIELD_LENGTH = 100
_WORD = re.compile(r"[^\W\d_]+(?:[-'’][^\W\d_]+)*\.?")  # letters, hyphenated or with an apostrophe


class PersonName(NamedTuple):
    first_name: str | None
    patronymic: str | None
    last_name: str | None


def _surname_score(word: str) -> int:
    return 2 if _STRONG_SURNAME.search(word) else 1 if _WEAK_SURNAME.search(word) else 0


def split_full_name(full: str | None) -> PersonName:
    """The parts of a full name: Cyrillic as ФИО (Фамилия Имя Отчество, or Имя Отчество Фамилия when the
    patronymic says so), Latin as "First Last". A value that cannot be read safely keeps no parts."""
    words = (full or "").split()
    if not all(_WORD.fullmatch(word) for word in words):  # "Клиент 0", "ООО «Ромашка»": not a person's name
        return PersonName(None, None, None)
    if words and words[-1].casefold() in _TURKIC_PATRONYMIC and len(words) >= 3:  # "Алиев Рашид Мамед оглы"
        words = [*words[:-2], f"{words[-2]} {words[-1]}"]
    patronymic = [bool(_PATRONYMIC.search(word) or " " in word) for word in words]
    if len(words) == 1:  # one word is what people call the person by
        return _clipped(words[0], None, None)
    if len(words) == 2:
        first, second = words
        if patronymic[1]:  # "Анна Сергеевна"
            return _clipped(first, second, None)
        if not _CYRILLIC.search(full or ""):  # "Anna Petrova"
            return _clipped(first, None, second)
        if _surname_score(second) > _surname_score(first):  # "Анна Петрова"
            return _clipped(first, None, second)
        return _clipped(second, None, first)  # "Петрова Анна", as ФИО orders it
    if len(words) == 3:
        if patronymic[2]:  # "Петрова Анна Сергеевна"
            return _clipped(words[1], words[2], words[0])
        if patronymic[1]:  # "Анна Сергеевна Петрова"
            return _clipped(words[0], words[1], words[2])
        if not _CYRILLIC.search(full or ""):  # "John Paul Smith": a middle name is no patronymic
            return _clipped(words[0], None, words[2])
        return _clipped(words[1], words[2], words[0])
    return PersonName(None, None, None)


def _clipped(first: str | None, patronymic: str | None, last: str | None) -> PersonName:
    return PersonName(*((part[:_FIELD_LENGTH] if part else None) for part in (first, patronymic, last)))


def display_name(name: PersonName) -> str | None:
    """The name as a contact list shows it: Фамилия Имя Отчество, the parts that are known."""
    return " ".join(part for part in (name.last_name, name.first_name, name.patronymic) if part) or None


def formal_address(first_name: str | None, patronymic: str | None) -> str | None:
    """How a Russian letter addresses a customer formally ("Анна Сергеевна"): both parts, or none."""
    first, middle = (first_name or "").strip(), (patronymic or "").strip()
    return f"{first} {middle}" if first and middle else None
