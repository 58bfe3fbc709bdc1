"""How many SMS parts a text takes, and in which alphabet (3GPP TS 23.038 and 23.040): pure counting.

A text whose every character is in the GSM 7-bit default alphabet goes as GSM-7: 160 septets in one
message, 153 a part once it needs several (the user data header of a concatenated SMS takes 7). A
character of the alphabet's extension table (``^{}\\[~]|€`` and form feed) is an escape and the
character, two septets, and a part never splits the pair. Any other character (every Cyrillic letter,
an emoji) makes the whole text UCS-2: 70 UTF-16 code units in one message, 67 a part; a character
outside the Basic Multilingual Plane (most emoji) is a surrogate pair, two units that a part never
splits either. Gateways bill per part, so the price of a message is its parts times the rate.

No package on PyPI counts this with the extension table and the no-split rule (``gsm0338`` is a codec,
not a counter), so the two tables live here.
"""

from __future__ import annotations

from dataclasses import dataclass

GSM7 = "GSM-7"
UCS2 = "UCS-2"

# The default alphabet, in code order (0x1B, the escape to the extension table, is not a character of a text).
BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table's characters: each is sent as escape + character, two septets.
EXTENSION = frozenset("\f^{}\\[~]|€")

# (one message, one part of several) in the alphabet's units.
LIMITS: dict[str, tuple[int, int]] = {GSM7: (160, 153), UCS2: (70, 67)}


@dataclass(frozen=True)
class Segments:
    """A text as SMS parts: its alphabet, its characters, how many parts, the size of a part and what is left of
    the last one (for a live "GSM-7 · 2 parts · 14 left" line)."""

    encoding: str  # "GSM-7" | "UCS-2"
    characters: int  # characters of the text (code points)
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    parts: int  # 0 for an empty text
    per_part: int  # 160 / 70 for a single message, 153 / 67 once it is split
    remaining: int  # units still free in the last part


def is_gsm7(text: str) -> bool:
    """Whether every character of ``text`` can go in the GSM 7-bit alphabet (basic or extension table)."""
    return all(char in BASIC or char in EXTENSION for char in text)


def _widths(text: str, encoding: str) -> list[int]:
    """Each character's size in the encoding's units: 2 for an extension character or a surrogate pair."""
    if encoding == GSM7:
        return [2 if char in EXTENSION else 1 for char in text]
    return [2 if ord(char) > 0xFFFF else 1 for char in text]


def count(text: str) -> Segments:
    """The SMS parts ``text`` takes (see the module's docstring for the rules)."""
    encoding = GSM7 if is_gsm7(text) else UCS2
    single, multi = LIMITS[encoding]
    widths = _widths(text, encoding)
    units = sum(widths)
    if units <= single:
        return Segments(encoding, len(text), units, 1 if text else 0, single, single - units)
    # Several parts: fill each with whole characters, so a two-unit character that does not fit starts the next.
    parts, used = 1, 0
    for width in widths:
        if used + width > multi:
            parts, used = parts + 1, 0
        used += width
    return Segments(encoding, len(text), units, parts, multi, multi - used)


def parts(text: str) -> int:
    """How many SMS parts ``text`` takes (what a gateway bills)."""
    return count(text).parts
