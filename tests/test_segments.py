"""Segments as a service: every part of a definition, their combinations, the radius, attribute
comparisons over messy values, validation sentences, and saving with an audit entry."""

from __future__ import annotations

import math
from itertools import count as counter

import pytest
from sqlalchemy import func, insert, select, text

from audience import segments
from audience.models import Contact, Segment
from audience.places import gazetteer, normalise_key
from compliance import suppression
from compliance.models import SuppressionReason
from dbtypes import utcnow
from extensions import db
from tests.records import audit_events as events
from tests.records import suppress

KM = segments.KM_PER_DEGREE
_numbers = counter(1000)


def add_contact(phone: str | None = None, *, city: str | None = None, tags: tuple[str, ...] = (), **fields) -> Contact:
    """A contact as the importer stores it (city_key from the city), committed."""
    contact = Contact(
        phone=phone or f"+7903{next(_numbers):07d}", city=city, city_key=normalise_key(city) if city else None,
        tags="|" + "|".join(tags) + "|" if tags else "", consent_source="test", consent_at=utcnow(), **fields,
    )
    db.session.add(contact)
    db.session.commit()
    return contact


def phones(definition) -> set[str]:
    """The numbers the definition matches (by the filter the launch uses), checked against its count."""
    checked = segments.parse_definition(definition)
    found = set(db.session.scalars(select(Contact.phone).where(segments.segment_filter(checked))))
    assert segments.count(checked) == len(found)
    return found


def errors_of(definition) -> list[str]:
    with pytest.raises(segments.SegmentDefinitionError) as caught:
        segments.parse_definition(definition)
    return caught.value.errors


def offset(latitude: float, longitude: float, north_km: float = 0, east_km: float = 0) -> dict[str, float]:
    """The point ``north_km`` north and ``east_km`` east of another, as the radius measures them."""
    return {"latitude": latitude + north_km / KM,
            "longitude": longitude + east_km / (KM * math.cos(math.radians(latitude)))}


# --- places ---------------------------------------------------------------------------------------

def test_countries_by_name_or_code(app):
    add_contact("+79030000001", country="RU")
    add_contact("+77010000001", country="KZ")
    add_contact("+4930000001", country="DE")
    add_contact("+79030000002")
    assert phones({"countries": ["Россия"]}) == {"+79030000001"}
    assert phones({"countries": ["ru", "Казахстан"]}) == {"+79030000001", "+77010000001"}
    assert phones({"countries": "Germany"}) == {"+4930000001"}


def test_regions_match_the_canonical_name_and_unknown_ones_as_written(app):
    add_contact("+79030000001", country="RU", region="Московская область")
    add_contact("+79030000002", country="RU", region="Республика Татарстан")
    add_contact("+79030000003", country="RU", region="Заречный край")
    add_contact("+79030000004", country="RU")
    assert segments.parse_definition({"regions": ["Моск. обл."]}).regions == ("Московская область",)
    assert phones({"regions": ["Моск. обл."]}) == {"+79030000001"}
    assert phones({"regions": ["Татарстан", "Московская область"]}) == {"+79030000001", "+79030000002"}
    assert phones({"regions": ["Заречный край"]}) == {"+79030000003"}
    assert phones({"countries": ["KZ"], "regions": ["Московская область"]}) == set()


def test_cities_match_the_written_name_or_the_gazetteer_place(app):
    moscow = gazetteer().city("Москва", "RU")
    add_contact("+79030000001", country="RU", city="г. Москва")
    add_contact("+79030000002", country="RU", city="Moscow", place_id=moscow.geonameid)  # resolved by the importer
    add_contact("+79030000003", country="RU", city="Казань", place_id=gazetteer().city("Казань", "RU").geonameid)
    add_contact("+79030000004", country="RU", city="Мухосранск")
    add_contact("+79030000005", country="RU", city="Москва-Сити")  # another name, not Moscow's key
    assert phones({"cities": ["Москва"]}) == {"+79030000001", "+79030000002"}
    assert phones({"cities": ["МОСКВА", "казань"]}) == {"+79030000001", "+79030000002", "+79030000003"}
    assert phones({"cities": ["Мухосранск"]}) == {"+79030000004"}  # unknown to the gazetteer, still matched
    assert phones({"countries": ["KZ"], "cities": ["Москва"]}) == set()
    assert phones({"countries": ["RU"], "cities": ["Moscow"]}) == {"+79030000002"}  # the key "moscow" is not "москва"


def test_a_city_is_where_the_importer_placed_the_contact(app):
    moscow, almaty = gazetteer().city("Москва", "RU"), gazetteer().city("Алматы", "KZ")
    # "Город, Область" is placed by its parts; the key of the whole text is no city's key.
    add_contact("+79030000001", country="RU", city="Москва, Московская обл.", place_id=moscow.geonameid)
    # A Russian number placed in Almaty by the file's country column.
    add_contact("+79030000002", country="RU", city="Алматы", place_id=almaty.geonameid)
    # A Kazakh number in Moscow: no Kazakh city is called so, so the importer left it unplaced.
    add_contact("+77010000003", country="KZ", city="Москва")
    assert phones({"cities": ["Москва"]}) == {"+79030000001", "+77010000003"}
    assert phones({"cities": ["Москва, Московская обл."]}) == {"+79030000001"}
    assert phones({"countries": ["RU"], "cities": ["Алматы"]}) == {"+79030000002"}
    assert phones({"countries": ["KZ"], "cities": ["Москва"]}) == {"+77010000003"}


GEOGRAPHIC = [
    {"countries": ["RU", "KZ"]}, {"regions": ["Татарстан"]}, {"countries": ["RU"], "regions": ["Татарстан", "Москва"]},
    {"cities": ["Москва", "Мухосранск"]}, {"countries": ["RU"], "cities": ["Казань"]},
    {"near": {"city": "Казань", "km": 50}}, {"timezones": ["Europe/Moscow"]},
]


@pytest.mark.parametrize("definition", GEOGRAPHIC, ids=lambda definition: "+".join(definition))
def test_a_geographic_count_reads_an_index_and_never_the_table(app, definition):
    # The speed of a count over a million contacts (bench/segment_bench.py) rests on this: each
    # place part is answered by an index alone. Scans that read the table are priced out so that
    # PostgreSQL shows whether it could, whatever the size of the test table; its index-only scans
    # need a vacuumed table, as autovacuum leaves a real one.
    places = [
        ("RU", "Москва", "Москва", "Europe/Moscow"),
        ("RU", "Казань", "Республика Татарстан", "Europe/Moscow"),
        ("RU", "Екатеринбург", "Свердловская область", "Asia/Yekaterinburg"),
        ("KZ", "Алматы", None, "Asia/Almaty"),
        ("DE", "Berlin", None, "Europe/Berlin"),
    ]
    rows = []
    for number in range(500):  # enough rows for the planner to tell one index from another
        country, city, region, zone = places[number % len(places)]
        place = gazetteer().city(city, country)
        rows.append({"phone": f"+7999{number:07d}", "country": country, "region": region, "city": city,
                     "city_key": normalise_key(city), "place_id": place.geonameid if number % 2 else None,
                     "latitude": place.latitude + number / 10_000, "longitude": place.longitude, "timezone": zone,
                     "tags": "", "attributes": {}, "consent_source": "test", "consent_at": utcnow()})
    db.session.execute(insert(Contact), rows)
    db.session.commit()
    query = (
        select(func.count()).select_from(Contact).where(segments.segment_filter(segments.parse_definition(definition)))
    )
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE contacts"))
        for setting in ("enable_seqscan", "enable_bitmapscan"):
            db.session.execute(text(f"SET LOCAL {setting} = off"))
        plan = "\n".join(
            db.session.scalars(text(f"EXPLAIN {query.compile(db.engine, compile_kwargs={'literal_binds': True})}"))
        )
        assert (
            "Index Only Scan" in plan
            and "Seq Scan" not in plan
            and "Index Scan" not in plan.replace("Index Only Scan", "")
        ), plan
    else:
        plan = "\n".join(
            row[-1]
            for row in db.session.execute(
                text(f"EXPLAIN QUERY PLAN {query.compile(db.engine, compile_kwargs={'literal_binds': True})}")
            )
        )
        # An expression index is never called COVERING, yet a count reads no column of the table.
        assert "SCAN contacts" not in plan and ("COVERING INDEX" in plan or "ix_contacts_city_match" in plan), plan
    db.session.rollback()


def test_a_radius_keeps_40_km_and_drops_60_km(app):
    kazan = gazetteer().city("Казань", "RU")
    centre = (kazan.latitude, kazan.longitude)
    add_contact("+79030000001", **offset(*centre, north_km=40))
    add_contact("+79030000002", **offset(*centre, north_km=60))
    add_contact("+79030000003", **offset(*centre, east_km=-40))
    add_contact("+79030000004", **offset(*centre, east_km=60))
    add_contact("+79030000005", **offset(*centre, north_km=-49))
    add_contact("+79030000006", country="RU", city="Казань")  # no coordinates: never within a radius
    inside = {"+79030000001", "+79030000003", "+79030000005"}
    assert phones({"near": {"latitude": centre[0], "longitude": centre[1], "km": 50}}) == inside
    assert phones({"near": {"city": "Казань", "km": 50}}) == inside
    assert phones({"near": {"city": "Kazan", "country": "Россия", "km": "50"}}) == inside
    assert phones({"near": {"city": "Казань", "km": 70}}) == inside | {"+79030000002", "+79030000004"}


def test_the_corner_of_the_bounding_box_is_outside_the_circle(app):
    centre = (55.75, 37.62)
    add_contact("+79030000001", **offset(*centre, north_km=45, east_km=45))  # 63.6 km away, inside the box
    add_contact("+79030000002", **offset(*centre, north_km=-34, east_km=34))  # 48.1 km away
    assert phones({"near": {"latitude": centre[0], "longitude": centre[1], "km": 50}}) == {"+79030000002"}


def test_a_radius_reaches_across_the_antimeridian(app):
    add_contact("+79030000001", latitude=65.0, longitude=-179.8)  # 19 km east of the centre
    add_contact("+79030000002", latitude=65.0, longitude=179.0)  # 38 km west
    add_contact("+79030000003", latitude=65.0, longitude=-179.0)  # 56 km east
    add_contact("+79030000004", latitude=65.0, longitude=0.2)  # the other side of the Earth
    assert phones({"near": {"latitude": 65.0, "longitude": 179.8, "km": 30}}) == {"+79030000001"}
    assert phones({"near": {"latitude": 65.0, "longitude": 179.8, "km": 50}}) == {"+79030000001", "+79030000002"}
    assert phones({"near": {"latitude": 65.0, "longitude": -179.9, "km": 60}}) == {
        "+79030000001", "+79030000003", "+79030000002"}


def test_time_zones_and_tags(app):
    add_contact("+79030000001", timezone="Europe/Moscow", tags=("vip", "moscow"))
    add_contact("+79030000002", timezone="Asia/Yekaterinburg", tags=("vipclub",))
    add_contact("+79030000003", timezone="Europe/Moscow", tags=("a_b",))
    add_contact("+79030000004", tags=("axb",))
    assert phones({"timezones": ["europe/moscow"]}) == {"+79030000001", "+79030000003"}
    assert phones({"timezones": ["Europe/Moscow", "Asia/Yekaterinburg"]}) == {
        "+79030000001",
        "+79030000002",
        "+79030000003",
    }
    assert phones({"tags": ["VIP"]}) == {"+79030000001"}  # whole tags only: not "vipclub"
    assert phones({"tags": ["#vipclub", "moscow"]}) == {"+79030000001", "+79030000002"}
    assert phones({"tags": ["a_b"]}) == {"+79030000003"}  # "_" is no wildcard


# --- attributes -------------------------------------------------------------------------------------

@pytest.fixture
def buyers(app):
    """Contacts with messy attribute values, as spreadsheets give them."""
    values = {
        "+79030000001": {"Покупок": "5", "Уровень": "gold", "День рождения": "2001-05-17"},
        "+79030000002": {"Покупок": " 3 ", "Уровень": "Gold", "День рождения": "17.05.1999"},
        "+79030000003": {"Покупок": "3,5", "Уровень": "silver gold", "День рождения": "скоро"},
        "+79030000004": {"Покупок": "много", "Уровень": "", "День рождения": "1999-12-31T10:00"},
        "+79030000005": {"Покупок": "-2", "День рождения": "31.02.2000"},
        "+79030000006": {"Покупок": "1e5", "День рождения": "2000-1-1"},
        "+79030000007": {"Покупок": "12.5.3"},
        "+79030000008": {},
    }
    for phone, attributes in values.items():
        add_contact(phone, attributes=attributes)


def having(name: str, op: str, value: str) -> set[str]:
    return phones({"attributes": [{"name": name, "op": op, "value": value}]})


def test_text_comparisons_are_exact(buyers):
    assert having("Уровень", "equals", "gold") == {"+79030000001"}
    assert having("Уровень", "contains", "gold") == {"+79030000001", "+79030000003"}
    assert having("Уровень", "contains", "Gol") == {"+79030000002"}
    # Without the attribute, a contact is "not gold" too.
    assert having("Уровень", "not_equals", "gold") == {f"+7903000000{n}" for n in (2, 3, 4, 5, 6, 7, 8)}


def test_numbers_compare_as_numbers_and_other_values_never_match(buyers):
    assert having("Покупок", "gt", "3") == {"+79030000001", "+79030000003"}
    assert having("Покупок", "gte", "3") == {"+79030000001", "+79030000002", "+79030000003"}
    assert having("Покупок", "lt", "3,5") == {"+79030000002", "+79030000005"}
    assert having("Покупок", "lte", "-2") == {"+79030000005"}
    assert having("Покупок", "gt", "-1000000") == {"+79030000001", "+79030000002", "+79030000003", "+79030000005"}


def test_dates_compare_as_dates_in_either_spelling(buyers):
    assert having("День рождения", "after", "01.01.2000") == {"+79030000001", "+79030000005"}
    assert having("День рождения", "before", "2000-01-01") == {"+79030000002", "+79030000004"}
    assert having("День рождения", "on", "17.05.2001") == {"+79030000001"}
    assert having("День рождения", "on", "1999-12-31") == {"+79030000004"}


def test_attribute_conditions_are_all_required(buyers):
    assert phones(
        {
            "attributes": [
                {"name": "Покупок", "op": "gte", "value": "3"},
                {"name": "День рождения", "op": "before", "value": "2000-01-01"},
            ]
        }
    ) == {"+79030000002"}


# --- status and combinations -------------------------------------------------------------------------

def test_status_follows_the_suppression_list(app):
    add_contact("+79030000001")
    add_contact("+79030000002")
    add_contact("+79030000003")
    add_contact("+79030000004")
    suppress("+79030000002", SuppressionReason.OPT_OUT)
    suppress("+79030000003", SuppressionReason.SPAM_REPORT)
    suppress("+79030000004", SuppressionReason.OPT_OUT)
    suppression.lift_opt_out("+79030000004", evidence="wamid.START")
    db.session.commit()
    assert phones({"status": ["subscribed"]}) == {"+79030000001", "+79030000004"}
    assert phones({"status": ["opted_out"]}) == {"+79030000002"}
    assert phones({"status": ["blocked"]}) == {"+79030000003"}
    assert phones({"status": ["opted_out", "blocked"]}) == {"+79030000002", "+79030000003"}
    assert len(phones({"status": ["subscribed", "opted_out", "blocked"]})) == 4


def test_parts_are_anded_and_items_ored(app):
    add_contact(
        "+79030000001",
        country="RU",
        city="Москва",
        timezone="Europe/Moscow",
        tags=("vip",),
        attributes={"Покупок": "7"},
    )
    add_contact(
        "+79030000002",
        country="RU",
        city="Москва",
        timezone="Europe/Moscow",
        tags=("new",),
        attributes={"Покупок": "7"},
    )
    add_contact(
        "+79030000003",
        country="RU",
        city="Казань",
        timezone="Europe/Moscow",
        tags=("vip",),
        attributes={"Покупок": "1"},
    )
    add_contact(
        "+77010000004", country="KZ", city="Алматы", timezone="Asia/Almaty", tags=("vip",), attributes={"Покупок": "9"}
    )
    suppress("+79030000001", SuppressionReason.BLOCK)
    assert phones({}) == {"+79030000001", "+79030000002", "+79030000003", "+77010000004"}
    assert phones({"countries": ["RU"], "tags": ["vip"]}) == {"+79030000001", "+79030000003"}
    assert phones({"countries": ["RU"], "tags": ["vip"], "status": ["subscribed"]}) == {"+79030000003"}
    assert phones({"cities": ["Москва", "Алматы"], "attributes": [{"name": "Покупок", "op": "gt", "value": "5"}],
                   "tags": ["vip", "new"]}) == {"+79030000001", "+79030000002", "+77010000004"}
    assert phones({"countries": ["KZ", "RU"], "timezones": ["Asia/Almaty"], "cities": ["Москва"]}) == set()


def test_the_sample_is_the_newest_contacts(app):
    made = [add_contact(country="RU") for _ in range(12)]
    add_contact(country="KZ")
    assert [c.id for c in segments.sample({"countries": ["RU"]})] == [c.id for c in made[::-1][:10]]
    assert [c.id for c in segments.sample({"countries": ["RU"]}, limit=3)] == [c.id for c in made[::-1][:3]]


# --- checking and normalising --------------------------------------------------------------------------

def test_a_definition_is_normalised_and_stable(app):
    definition = segments.parse_definition({
        "countries": "Россия, kz", "regions": ["Татарстан"], "cities": [" Казань ", "Казань"],
        "near": {"city": "Казань", "km": "30"}, "timezones": ["EUROPE/MOSCOW"], "tags": ["#VIP"],
        "attributes": [{"name": " Покупок ", "op": "gte", "value": "3,5"},
                       {"name": "День рождения", "op": "before", "value": "31.12.1999"}],
        "status": ["subscribed"]})
    stored = definition.as_json()
    assert stored == {
        "countries": ["RU", "KZ"], "regions": ["Республика Татарстан"], "cities": ["Казань"],
        "near": {"city": "Казань", "country": "RU", "km": 30}, "timezones": ["Europe/Moscow"], "tags": ["vip"],
        "attributes": [{"name": "Покупок", "op": "gte", "value": "3.5"},
                       {"name": "День рождения", "op": "before", "value": "1999-12-31"}],
        "status": ["subscribed"]}
    assert segments.parse_definition(stored).as_json() == stored
    assert segments.parse_definition({}).as_json() == {}


@pytest.mark.parametrize(
    ("definition", "expected"),
    [
        ([], ["The definition must be a JSON object with parts such as countries or cities."]),
        (
            {"country": ["RU"]},
            [
                "“country” is not a part of a segment definition; the parts are countries, regions, cities, "
                "near, timezones, tags, attributes, status."
            ],
        ),
        (
            {"countries": ["Атлантида"]},
            ["Countries: “Атлантида” is not a country we know; write a name such as Россия or a code such as RU."],
        ),
        ({"countries": [1]}, ["Countries: give a list of names."]),
        ({"cities": ["x" * 121]}, ["Cities: “xxxxxxxxxxxxxxxxxxxx…” is longer than 120 characters."]),
        ({"tags": [f"t{n}" for n in range(101)]}, ["Tags: give at most 100 values."]),
        ({"timezones": ["Moscow"]}, ["Time zones: “Moscow” is not a time zone; write a name such as Europe/Moscow."]),
        ({"tags": ["a|b"]}, ["Tags: “a|b” cannot contain “|”."]),
        ({"status": ["active"]}, ["Status: “active” is not a status; use subscribed, opted_out or blocked."]),
        ({"near": {"km": 10}}, ["Near: give latitude, longitude and km, or a city and km."]),
        ({"near": "Москва"}, ["Near: give latitude, longitude and km, or a city and km."]),
        (
            {"near": {"city": "Москва", "latitude": 1, "km": 5}},
            ["Near: give latitude, longitude and km, or a city and km."],
        ),
        ({"near": {"city": "Нигдеград", "km": 10}}, ["Near: we could not find the city “Нигдеград”."]),
        ({"near": {"city": "Казань", "country": "KZ", "km": 10}}, ["Near: we could not find the city “Казань”."]),
        ({"near": {"city": "Казань", "km": 0}}, ["Near: give the distance in km, more than 0 and at most 20000."]),
        ({"near": {"city": "Казань", "km": 20001}}, ["Near: give the distance in km, more than 0 and at most 20000."]),
        ({"near": {"city": "Казань", "km": True}}, ["Near: give the distance in km, more than 0 and at most 20000."]),
        (
            {"near": {"latitude": 91, "longitude": "37,6", "km": 5}},
            ["Near: the latitude must be a number from -90 to 90."],
        ),
        (
            {"near": {"latitude": "55", "longitude": "east", "km": "nan"}},
            [
                "Near: give the distance in km, more than 0 and at most 20000.",
                "Near: the longitude must be a number from -180 to 180.",
            ],
        ),
        (
            {"attributes": {"name": "x"}},
            ["Attributes: give a list of conditions, each with a name, an op and a value."],
        ),
        (
            {"attributes": [{"op": "equals", "value": "1"}]},
            [
                "Attributes: each condition needs an attribute name of at most 120 characters, "
                "without control characters."
            ],
        ),
        (
            {"attributes": [{"name": 'a"b', "op": "equals", "value": "1"}]},
            ['Attributes: the name “a"b” cannot contain quotes or backslashes.'],
        ),
        (
            {"attributes": [{"name": "x", "op": "like", "value": "1"}]},
            [
                "Attributes: “like” is not a comparison; "
                "use one of equals, not_equals, contains, gt, gte, lt, lte, before, after, on."
            ],
        ),
        (
            {"attributes": [{"name": "x", "op": "equals", "value": " "}]},
            ["Attributes: give “x” a value to compare with: at most 200 characters, no control characters."],
        ),
        ({"tags": ["vip\x00"]}, ["Tags: “vip?” contains a control character."]),
        (
            {"attributes": [{"name": "Покупок", "op": "gt", "value": "три"}]},
            ["Attributes: “Покупок” is compared as a number, so “три” must be a number."],
        ),
        (
            {"attributes": [{"name": "ДР", "op": "after", "value": "31.02.2000"}]},
            [
                "Attributes: “ДР” is compared as a date, "
                "so “31.02.2000” must be a date such as 2000-01-31 or 31.01.2000."
            ],
        ),
    ],
)
def test_a_wrong_definition_is_refused_with_sentences_naming_the_part(app, definition, expected):
    assert errors_of(definition) == expected


def test_every_mistake_is_reported_at_once(app):
    assert errors_of({"countries": ["Атлантида"], "timezones": ["Mars"], "status": ["x"]}) == [
        "Countries: “Атлантида” is not a country we know; write a name such as Россия or a code such as RU.",
        "Time zones: “Mars” is not a time zone; write a name such as Europe/Moscow.",
        "Status: “x” is not a status; use subscribed, opted_out or blocked."]


# --- saving -----------------------------------------------------------------------------------------

def test_creating_a_segment_stores_the_normalised_definition_and_audits_it(app, make_user):
    marketer = make_user("marketer")
    segment = segments.create_segment(
        " Москвичи ", {"countries": ["Россия"], "cities": "Москва"}, "VIP in Moscow", actor=marketer
    )
    db.session.commit()
    assert (segment.name, segment.description, segment.definition) == (
        "Москвичи", "VIP in Moscow", {"countries": ["RU"], "cities": ["Москва"]})
    assert (segment.created_by_id, segment.updated_by_id) == (marketer.id, marketer.id)
    [event] = events("segment.created")
    assert (event.actor_id, event.object_type, event.object_id) == (marketer.id, "segment", str(segment.id))
    assert event.details == {"name": "Москвичи", "definition": {"countries": ["RU"], "cities": ["Москва"]}}


def test_a_duplicate_name_or_a_wrong_definition_saves_nothing(app):
    segments.create_segment("VIP", {"tags": ["vip"]})
    db.session.commit()
    with pytest.raises(segments.DuplicateSegmentError) as caught:
        segments.create_segment("VIP ", {"tags": ["gold"]})
    assert caught.value.errors == ["A segment named “VIP” already exists; choose another name."]
    db.session.rollback()
    with pytest.raises(segments.SegmentDefinitionError) as caught:
        segments.create_segment("", {"timezones": ["Mars"]})
    assert caught.value.errors == ["Give the segment a name.",
                                   "Time zones: “Mars” is not a time zone; write a name such as Europe/Moscow."]
    db.session.rollback()
    assert [s.name for s in segments.list_segments()] == ["VIP"] and len(events("segment.created")) == 1


def test_updating_records_what_changed_and_a_no_op_records_nothing(app, make_user):
    marketer = make_user("marketer")
    segment = segments.create_segment("VIP", {"tags": ["vip"]})
    other = segments.create_segment("Gold", {"tags": ["gold"]})
    db.session.commit()
    before = segment.updated_at
    segments.update_segment(segment, definition={"tags": ["VIP"]}, actor=marketer)
    db.session.commit()
    assert events("segment.updated") == [] and segment.updated_at == before

    segments.update_segment(
        segment, name="VIP Москва", definition={"tags": ["vip"], "cities": ["Москва"]}, actor=marketer
    )
    db.session.commit()
    [event] = events("segment.updated")
    assert event.details == {"name": "VIP Москва", "changed": {
        "name": {"from": "VIP", "to": "VIP Москва"},
        "definition": {"from": {"tags": ["vip"]}, "to": {"cities": ["Москва"], "tags": ["vip"]}}}}
    assert segment.updated_by_id == marketer.id and segment.updated_at >= before
    with pytest.raises(segments.DuplicateSegmentError):
        segments.update_segment(other, name="VIP Москва")
    db.session.rollback()


def test_find_a_segment_by_name_or_id(app):
    first = segments.create_segment("Первый", {})
    named_like_an_id = segments.create_segment(str(first.id + 5), {})
    db.session.commit()
    assert segments.find_segment("Первый") is first
    assert segments.find_segment(str(first.id)) is first
    assert segments.find_segment(first.id) is first
    assert segments.find_segment(str(first.id + 5)) is named_like_an_id
    assert segments.find_segment("Нет такого") is None
    assert db.session.scalar(select(Segment.id).where(Segment.name == "Нет такого")) is None
