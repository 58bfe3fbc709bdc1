"""Campaign analytics over a big campaign: the funnel, the timeline, the cost, the dashboard's daily series and
tier use, and the outcomes CSV export, timed on real rows.

    .venv/bin/python bench/analytics_bench.py [--messages N ...] [--runs R] [--database-url postgresql://…]

Builds, for each N given (default 100,000), one campaign of N message rows in the states a finished campaign's
rows are in (most read or delivered, some sent only, failed with provider codes, skipped, deferred, a few still
queued; replies, billable costs), sent over two hours, with an opt-out or a block after the message for 1 % of
the numbers, and a second, earlier campaign of a tenth of its size to the same numbers (so that attribution has
later and earlier messages to tell apart). Then it analyses the tables and times the real code paths; each
figure is the median of ``--runs`` runs after a warm-up. The CSV export is timed reading every line of the
generator, with how much the process's resident memory grew meanwhile (sampled every 10,000 lines): bounded
memory does not grow with N.

Without --database-url the data goes to a fresh SQLite file; with one, that database must be a scratch one:
every table is dropped and created.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CHUNK = 20_000
START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
# (status, share, whether it went out, delivered, read)
STATES = [("read", 0.55, True, True, True), ("delivered", 0.28, True, True, False), ("sent", 0.08, True, False, False),
          ("failed", 0.03, False, False, False), ("failed_late", 0.02, True, False, False),
          ("skipped", 0.02, False, False, False), ("deferred", 0.01, False, False, False),
          ("queued", 0.01, False, False, False)]
FAILURES = [("131026", "Message undeliverable"), ("131049", "This message was not delivered to maintain healthy "
                                                            "ecosystem engagement."), ("131050", "User opted out")]
SKIPS = ["opted_out", "frequency_cap", "time_zone", "no_consent"]


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, nargs="+", default=[100_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database-url")
    return parser.parse_args()


def timed(function, runs: int) -> float:
    """The median of ``runs`` runs of ``function`` after one warm-up, in milliseconds."""
    function()
    times = []
    for _run in range(runs):
        began = time.perf_counter()
        function()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def fill(count: int, number: int):
    """One campaign of ``count`` rows (and an earlier one of a tenth of it to the same numbers); the campaign."""
    from sqlalchemy import insert

    from audience.models import Contact, Segment
    from campaigns.models import Campaign, CampaignStatus, Message, Sender, Template, TemplateCategory
    from compliance.models import Suppression
    from extensions import db

    rng = random.Random(number)
    sender = Sender(name=f"Bench {number}", phone=f"+7495{number:07d}", tier="TIER_100K")
    template = Template(name=f"bench_{number}", language="ru", category=TemplateCategory.MARKETING, body="Привет")
    segment = Segment(name=f"Bench {number}", definition={"countries": ["RU"]})
    db.session.add_all([sender, template, segment])
    db.session.flush()

    def campaign(name: str, rows: int) -> Campaign:
        made = Campaign(name=name, sender_id=sender.id, template_id=template.id, segment_id=segment.id,
                        status=CampaignStatus.COMPLETED, recipients=rows, launched_at=START,
                        exclusions={"invalid_number": rows // 200, "opted_out": rows // 100, "no_consent": rows // 50,
                                    "blocked": 0, "frequency_cap": rows // 400},
                        estimate={"currency": "RUB", "total_minor": rows * 700, "total": f"{rows * 7}.00",
                                  "messages": rows})
        db.session.add(made)
        db.session.flush()
        return made

    earlier = campaign(f"Earlier {number}", count // 10)
    main = campaign(f"Bench {number}", count)
    base = number * 10_000_000
    first_contact = None
    for offset in range(0, count, CHUNK):
        size = min(CHUNK, count - offset)
        phones = [f"+79{base + offset + index:09d}" for index in range(size)]
        result = db.session.execute(insert(Contact).returning(Contact.id), [
            {"phone": phone, "name": f"Получатель {offset + index}", "country": "RU", "tags": "|bench|",
             "attributes": {}, "consent_source": "bench", "consent_at": START - timedelta(days=30)}
            for index, phone in enumerate(phones)])
        ids = [row[0] for row in result]
        first_contact = first_contact or ids[0]
        rows, suppressions = [], []
        for index, (contact_id, phone) in enumerate(zip(ids, phones, strict=True)):
            rows.append(_row(rng, main.id, contact_id, phone, START + timedelta(seconds=rng.uniform(0, 7200))))
            if (offset + index) % 10 == 0:  # the earlier campaign reached a tenth of them a week before
                rows.append(_row(rng, earlier.id, contact_id, phone, START - timedelta(days=7)))
            if rng.random() < 0.01:
                suppressions.append({"phone": phone, "reason": rng.choice(["opt_out", "opt_out", "block"]),
                                     "source": "bench", "actor_label": "bench",
                                     "created_at": START + timedelta(hours=3)})
        db.session.execute(insert(Message), rows)
        if suppressions:
            db.session.execute(insert(Suppression), suppressions)
        db.session.commit()
    return main


def _state(pick: float) -> tuple[str, bool, bool, bool]:
    total = 0.0
    for status, share, went_out, delivered, read in STATES:
        total += share
        if pick <= total:
            return status, went_out, delivered, read
    return STATES[-1][0], *STATES[-1][2:]


def _row(rng: random.Random, campaign_id: int, contact_id: int, phone: str, at: datetime) -> dict:
    status, went_out, delivered, read = _state(rng.random())
    row = {"campaign_id": campaign_id, "contact_id": contact_id, "phone": phone, "variables": {},
           "idempotency_key": f"{campaign_id}-{contact_id}", "status": status.replace("_late", ""),
           "created_at": START - timedelta(hours=1), "attempts": 1 if went_out else 0,
           "sent_at": at if went_out else None, "provider_message_id": f"wamid.{campaign_id}.{contact_id}"
           if went_out else None, "delivered_at": at + timedelta(seconds=4) if delivered else None,
           "read_at": at + timedelta(minutes=rng.uniform(1, 600)) if read else None,
           "billable": True if delivered else None, "cost_minor": 860 if delivered else None,
           "replied_at": at + timedelta(minutes=20) if delivered and rng.random() < 0.04 else None,
           "error_code": None, "error_message": None, "failed_at": None}
    if status.startswith("failed"):
        code, words = rng.choice(FAILURES)
        row.update(error_code=code, error_message=words, failed_at=at + timedelta(seconds=5))
    elif status == "skipped":
        row.update(error_code=rng.choice(SKIPS))
    return row


def analyse(url: str) -> None:
    from sqlalchemy import text

    from extensions import db

    db.session.execute(text("ANALYZE" if url.startswith("postgresql") else "PRAGMA optimize"))
    if not url.startswith("postgresql"):
        db.session.execute(text("ANALYZE"))
    db.session.commit()


def resident() -> int:
    """The process's resident memory now, in bytes (Linux)."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize()


def measure(app, campaign, runs: int) -> None:
    """Print the median time of each analytics function on ``campaign``, and the CSV export's."""
    from campaigns import analytics, outcomes

    now = START + timedelta(hours=12)
    figures = {
        "funnel": lambda: analytics.funnel(campaign),
        "timeline (chosen bucket)": lambda: analytics.timeline(campaign),
        "timeline by minute": lambda: analytics.timeline(campaign, "minute"),
        "cost": lambda: analytics.cost(campaign),
        "daily, 30 days": lambda: analytics.daily(30, now),
        "tier use": lambda: analytics.tier_use(now),
    }
    for name, function in figures.items():
        print(f"  {name:<28} {timed(function, runs):9.1f} ms")
    with app.test_request_context():
        before = highest = resident()
        began = time.perf_counter()
        lines = 0
        for _line in outcomes.outcome_lines(campaign):
            lines += 1
            if lines % 10_000 == 0:
                highest = max(highest, resident())
        seconds = time.perf_counter() - began
    print(f"  {'CSV export':<28} {seconds * 1000:9.1f} ms  ({lines - 1:,} rows, "
          f"{(lines - 1) / seconds:,.0f} rows/s, resident memory grew at most {(highest - before) / 2**20:.1f} MiB)")
    print("  funnel:", {key: line["count"] for key, line in analytics.funnel(campaign).items()})


def main() -> None:
    args = arguments()
    from app import create_app
    from extensions import db

    folder = tempfile.mkdtemp(prefix="analytics-bench-")
    url = args.database_url or f"sqlite:///{folder}/bench.db"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "LOG_LEVEL": "WARNING"})
    with app.app_context():
        db.drop_all()
        db.create_all()
        print(f"database: {url.split('@')[-1]}")
        for number, count in enumerate(args.messages, start=1):
            began = time.perf_counter()
            campaign = fill(count, number)
            analyse(url)
            print(f"\n{count:,} message rows (+{count // 10:,} earlier) filled in {time.perf_counter() - began:.1f} s")
            measure(app, campaign, args.runs)
        db.session.remove()
        if args.database_url:
            db.drop_all()


if __name__ == "__main__":
    main()
