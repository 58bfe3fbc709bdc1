"""Splitting one full-name cell into first name, patronymic and last name, and composing them back."""

from __future__ import annotations

import pytest

from audience.person_names import PersonName, display_name, formal_address, split_full_name


@pytest.mark.parametrize("full, parts", [
    ("Петрова Анна Сергеевна", ("Анна", "Сергеевна", "Петрова")),
    ("Анна Сергеевна Петрова", ("Анна", "Сергеевна", "Петрова")),
    ("Иванов Пётр Ильич", ("Пётр", "Ильич", "Иванов")),
    ("Петрова Анна", ("Анна", None, "Петрова")),
    ("Анна Петрова", ("Анна", None, "Петрова")),
    ("Ирина Петрова", ("Ирина", None, "Петрова")),  # -ова outranks -ина
    ("Каренина Ирина", ("Ирина", None, "Каренина")),  # both end in -ина: the ФИО order stands
    ("Пётр Сергеевич", ("Пётр", "Сергеевич", None)),
    ("Anna Petrova", ("Anna", None, "Petrova")),
    ("Anna Sergeevna Petrova", ("Anna", "Sergeevna", "Petrova")),
    ("John Paul Smith", ("John", None, "Smith")),  # a middle name is not a patronymic
    ("Салтыков-Щедрин Михаил Евграфович", ("Михаил", "Евграфович", "Салтыков-Щедрин")),
    ("Мамедов Ильхам Гейдар оглы", ("Ильхам", "Гейдар оглы", "Мамедов")),
    ("анна", ("анна", None, None)),
    ("", (None, None, None)),
    ("ООО «Ромашка»", (None, None, None)),
    ("Клиент 12", (None, None, None)),
    ("Мария Анна Луиза фон Штауфен", (None, None, None)),  # five words: no guess
])
def test_a_full_name_is_split_by_its_words_order_and_endings(full, parts):
    assert split_full_name(full) == PersonName(*parts)


def test_the_display_name_is_surname_first_and_the_formal_address_needs_both_parts():
    assert display_name(PersonName("Анна", "Сергеевна", "Петрова")) == "Петрова Анна Сергеевна"
    assert display_name(PersonName("Олег", None, "Кузнецов")) == "Кузнецов Олег"
    assert display_name(PersonName(None, None, None)) is None
    assert formal_address(" Анна ", "Сергеевна") == "Анна Сергеевна"
    assert formal_address("Анна", "  ") is None and formal_address(None, "Сергеевна") is None
