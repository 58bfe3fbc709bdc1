"""SMS segment counting: GSM-7 with its extension table, UCS-2 for anything else (Cyrillic, emoji), and parts
that never split a two-unit character (pure)."""

from __future__ import annotations

import pytest

from channels.sms.segments import BASIC, EXTENSION, GSM7, UCS2, Segments, count, is_gsm7, parts


@pytest.mark.parametrize(("text", "encoding", "units", "parts_", "per_part", "remaining"), [
    ("", GSM7, 0, 0, 160, 160),
    ("Hello", GSM7, 5, 1, 160, 155),
    ("a" * 160, GSM7, 160, 1, 160, 0),
    ("a" * 161, GSM7, 161, 2, 153, 145),
    ("a" * 306, GSM7, 306, 2, 153, 0),
    ("a" * 307, GSM7, 307, 3, 153, 152),
    # Extension characters take two septets each.
    ("€" * 80, GSM7, 160, 1, 160, 0),
    ("€" * 81, GSM7, 162, 2, 153, 143),  # 76 pairs (152) fit the first part, 5 go to the second
    ("a" * 159 + "[", GSM7, 161, 2, 153, 145),
    # At the 153 boundary: 152 septets then an escape pair that does not fit moves whole to the second part.
    ("a" * 152 + "{" + "a" * 10, GSM7, 164, 2, 153, 141),
    ("a" * 151 + "}" + "a" * 10, GSM7, 163, 2, 153, 143),
    ("\f^{}\\[~]|€", GSM7, 20, 1, 160, 140),
    ("Ünïcode", UCS2, 7, 1, 70, 63),  # ï is not in the alphabet
    ("Çà Ñö §¿ ΔΦΓ", GSM7, 12, 1, 160, 148),
    # Cyrillic is UCS-2.
    ("Привет", UCS2, 6, 1, 70, 64),
    ("я" * 70, UCS2, 70, 1, 70, 0),
    ("я" * 71, UCS2, 71, 2, 67, 63),
    ("я" * 134, UCS2, 134, 2, 67, 0),
    ("я" * 135, UCS2, 135, 3, 67, 66),
    ("Hello €, привет", UCS2, 15, 1, 70, 55),  # in UCS-2 € is one unit
    # An emoji outside the BMP is a surrogate pair: two units, never split.
    ("😀" * 35, UCS2, 70, 1, 70, 0),
    ("😀" * 36, UCS2, 72, 2, 67, 61),  # 33 pairs (66) in the first part, 3 in the second
    ("a" * 66 + "😀" + "a" * 5, UCS2, 73, 2, 67, 60),
    ("a" * 65 + "😀" + "a" * 5, UCS2, 72, 2, 67, 62),
    ("☺", UCS2, 1, 1, 70, 69),  # inside the BMP: one unit
])
def test_counting(text, encoding, units, parts_, per_part, remaining):
    assert count(text) == Segments(encoding, len(text), units, parts_, per_part, remaining)
    assert parts(text) == parts_


def test_the_tables():
    assert len(BASIC) == 127  # 128 codes less the escape
    assert len(EXTENSION) == 10
    assert not BASIC & EXTENSION
    assert is_gsm7("".join(BASIC) + "".join(EXTENSION))
    assert not is_gsm7("`")  # the backtick is not in the alphabet
    assert not is_gsm7("\t")


def test_a_long_text_of_mixed_extension_characters_fills_each_part_with_whole_pairs():
    text = ("a" + "€") * 200  # 600 septets; a part holds 51 pairs of 3 septets = 153 exactly
    seg = count(text)
    assert (seg.units, seg.parts, seg.remaining) == (600, 4, 153 * 4 - 600)
    text = "€" * 100  # 200 septets: 76 pairs (152) in the first part, 24 in the second
    assert (count(text).parts, count(text).remaining) == (2, 153 - 48)
