"""Import a messy 1,000,000-row CRM export and compare the time with the floor.

The floor, measured in the same run: pandas reading the same file (all columns as strings) plus
phonenumbers parsing and validating every phone, in one process. The goal: import ≤ 1.5 × floor.

    .venv/bin/python bench/import_bench.py [--rows N] [--database-url postgresql://…]

Without --database-url the import goes to a fresh SQLite file; with one, that database must be
empty or a scratch one: the contacts tables are dropped and created.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CITIES = ["Москва", "г. Москва", "Санкт-Петербург", "СПб", "Новосибирск", "Екатеринбург", "Казань",
          "Нижний Новгород", "Челябинск", "Самара", "Омск", "Ростов-на-Дону", "Уфа", "Красноярск",
          "Воронеж", "Пермь", "Волгоград", "Краснодар", "Саратов", "Тюмень", "Владивосток", "Иркутск",
          "Хабаровск", "Якутск", "Калининград", "Мурманск", "Сочи", "Орёл", "", "", "Урюпинск-Сити"]
NAMES = ["Иванов Иван", "Петрова Анна", "Сидоров Пётр", "Смирнова Ольга", "Кузнецов Олег", "Попова Мария"]


def messy_phone(rng: random.Random, index: int) -> str:
    digits = f"9{index % 100:02d}{index // 100 % 10_000_000:07d}"
    shape = rng.random()
    if shape < 0.25:
        return f"+7 ({digits[:3]}) {digits[3:6]}-{digits[6:8]}-{digits[8:]}"
    if shape < 0.45:
        return f"8 {digits[:3]} {digits[3:6]} {digits[6:8]} {digits[8:]}"
    if shape < 0.60:
        return f"'+7{digits}"
    if shape < 0.72:
        return f"7{digits}.0"
    if shape < 0.80:
        return f"+7\u00a0{digits[:3]}\u00a0{digits[3:]}"
    if shape < 0.85:
        return f"8{digits} доб. {rng.randint(1, 999)}"
    if shape < 0.87:
        return f"7.{digits[:5]}E+10"  # Excel's scientific notation: rejected
    if shape < 0.89:
        return digits[:6]  # too short
    return f"+7{digits}"


def write_file(path: Path, rows: int) -> None:
    rng = random.Random(4)
    lines = ["Телефон;ФИО;Город;Согласие;Дата согласия;Теги;Уровень;Покупок"]
    for index in range(rows):
        # About 2% of the rows repeat an earlier number, as merged CRM exports do.
        number = index if rng.random() > 0.02 or index == 0 else rng.randrange(index)
        consent = "да" if rng.random() < 0.95 else rng.choice(["нет", ""])
        date = f"{rng.randint(1, 28):02d}.{rng.randint(1, 12):02d}.2024" if rng.random() < 0.5 else ""
        lines.append(";".join((messy_phone(rng, number), rng.choice(NAMES), rng.choice(CITIES), consent, date,
                               rng.choice(["", "vip", "опт, vip", "новый"]), rng.choice(["gold", "silver", ""]),
                               str(rng.randint(0, 40)))))
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1251"))


def floor_seconds(content: bytes) -> float:
    import pandas as pd
    import phonenumbers

    started = time.perf_counter()
    frame = pd.read_csv(io.BytesIO(content), sep=";", dtype=str, keep_default_na=False, encoding="cp1251")
    for raw in frame["Телефон"].tolist():
        try:
            phonenumbers.is_valid_number(phonenumbers.parse(raw, "RU"))
        except phonenumbers.NumberParseException:
            pass
    return time.perf_counter() - started


def import_seconds(content: bytes, database_url: str) -> tuple[float, dict]:
    from app import create_app
    from audience.import_pipeline import file_sha256, run_import
    from audience.models import Import
    from extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "LOG_LEVEL": "WARNING"})
    with app.app_context():
        db.drop_all()
        db.create_all()
        record = Import(file_name="bench.csv", file_sha256=file_sha256(content), file_size=len(content),
                        options={"default_region": "RU"}, uploaded_by_label="bench")
        db.session.add(record)
        db.session.commit()
        started = time.perf_counter()
        summary = run_import(record, content)
        db.session.commit()
        elapsed = time.perf_counter() - started
        db.drop_all()
    return elapsed, summary.as_dict()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "audience.csv"
        started = time.perf_counter()
        write_file(path, args.rows)
        content = path.read_bytes()
        print(
            f"generated {args.rows:,} rows, {len(content) / 1e6:.0f} MB cp1251 in {time.perf_counter() - started:.0f} s"
        )
        database_url = args.database_url or f"sqlite:///{Path(folder) / 'bench.db'}"
        floor = floor_seconds(content)
        print(f"floor (pandas read + phonenumbers parse/validate, one process): {floor:.1f} s")
        elapsed, summary = import_seconds(content, database_url)
        backend = database_url.split(":", 1)[0]
        print(f"import into {backend}: {elapsed:.1f} s = {elapsed / floor:.2f} × floor (goal ≤ 1.50 ×)")
        print("summary:", dict(summary.items()))


if __name__ == "__main__":
    main()
