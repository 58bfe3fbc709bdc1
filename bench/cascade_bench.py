"""Cascades through the sandbox with real workers: where people are reached, and how many get it twice.

    .venv/bin/python bench/cascade_bench.py [--people 3000] [--late 0.05] [--compression 10] [--workers 3]
                                            [--latency-ms 50] [--database-url postgresql://…]

Starts what ``bench/send_bench.py`` starts (``dispatch_world.Services``: a real Redis, the sandbox provider, a fresh
database, ``--workers`` real ``python worker.py`` processes) and the webhook receiver (``python webhooks.py``), to
which the sandbox posts its WhatsApp and SMS statuses as `make run` points it.

1. **Reach**: a cascade MAX → Telegram → SMS over ``--people`` people of a typical Russian audience: 55 % started
   the business's MAX bot, 5 % (of everybody) of whom have since stopped it in MAX (we have not heard: their MAX
   send fails and they fall back), 15 % only started the Telegram bot, 25 % have only a phone (1 % of everybody on
   numbers SMS cannot reach: the sandbox's unreachable ones). Printed: the share of people reached on each channel,
   how many fell back, how many nothing reached, the rows by step, status and error (SMS sends per second:
   ``bench/sms_send_bench.py``).
2. **Delivered twice**: a cascade WhatsApp → SMS at the default wait (``cascade.DEFAULT_WAIT_SECONDS``: 10
   minutes) over ``--people`` phones, where the sandbox delivers a share ``--late`` of WhatsApp messages late, as to
   a phone switched off for a minute to an hour (``status_shares.late``, ``late_delays_ms``). Time is compressed
   ``--compression`` times (10: the wait is 60 s, the late deliveries 6 s to 6 minutes, the ordinary status gaps
   5–150 ms): the run takes minutes, not an hour and a half. Not more: the sweep that finds the timed-out rows runs
   every second and may wait behind a worker's long job, and a second of that is a minute at 60×. Printed:
   how many fell back on the timeout and how many of them were "delivered twice" (the WhatsApp delivery came after
   the SMS had been sent), as counts and as shares of the people.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dispatch_world import EXAMPLES, TEMPLATE_BODY, TEMPLATE_NAME, VARIABLES, Services, load, phone, wait

MAX_USERS, TELEGRAM_CHATS = 930_000_001, 940_000_001


def people_mix(count: int) -> list[str]:
    """Who each of ``count`` people is, in a fixed interleaved order (so every batch holds all kinds)."""
    kinds = ["max"] * 50 + ["max_stopped"] * 5 + ["telegram"] * 15 + ["phone"] * 24 + ["unreachable"] * 1
    kinds += ["phone"] * (100 - len(kinds))
    return [kinds[(n * 37) % 100] for n in range(count)]


def contacts(count: int, tag: str, base: int, unreachable: set[int] = frozenset()) -> dict[int, int]:
    """``count`` consenting RU contacts tagged ``tag`` (numbers ending in 85 for ``unreachable``: the sandbox's SMS
    refuses them); index → contact id."""
    from audience.models import Contact
    from audience.upsert import insert_rows
    from dbtypes import utcnow
    from extensions import db

    consented = utcnow() - timedelta(days=30)
    numbers = {n: (phone(base + n)[:-2] + "85" if n in unreachable else phone(base + n)) for n in range(count)}
    insert_rows(Contact.__table__, [
        {"phone": numbers[n], "name": f"Клиент {n}", "name_key": f"клиент {n}", "country": "RU",
         "timezone": "Europe/Moscow", "language": "ru", "attributes": {}, "consent_source": "bench", "tags": f"|{tag}|",
         "consent_at": consented, "created_at": consented, "updated_at": consented} for n in range(count)])
    by_phone = dict(db.session.query(Contact.phone, Contact.id).filter(Contact.tags == f"|{tag}|"))
    return {n: by_phone[numbers[n]] for n in range(count)}


def senders_of(services: Services, receiver_url: str):
    """The MAX and Telegram bots, the WhatsApp number and the SMS account on the sandbox, their callbacks pointed at
    the receiver."""
    from campaigns import sandbox_callbacks, senders
    from channels.sandbox import defaults
    from extensions import db

    services.app.config["WEBHOOK_RECEIVER_URL"] = receiver_url
    url = services.sandbox.url
    made = {
        "max": senders.add_sender({"name": "Bench MAX", "channel": "max", "access_token": defaults.MAX_TOKEN,
                                   "base_url": url, "messages_per_second": 30}),
        "telegram": senders.add_sender({"name": "Bench Telegram", "channel": "telegram", "base_url": url,
                                        "access_token": defaults.TELEGRAM_TOKEN, "messages_per_second": 30}),
        "whatsapp": senders.create_sender("Bench WhatsApp", defaults.PHONE, channel="sandbox", base_url=url,
                                          tier="TIER_UNLIMITED"),
        "sms": senders.add_sender({"name": "Bench SMS", "channel": "smsc", "login": defaults.SMS_LOGIN,
                                   "access_token": defaults.SMS_PASSWORD, "alpha_name": "Shop", "base_url": url,
                                   "messages_per_second": 30}),
    }
    made["whatsapp"].messages_per_second = 200
    db.session.commit()
    sandbox_callbacks.point(made["whatsapp"])
    sandbox_callbacks.point_sms(made["sms"])
    return made


def template(services: Services):
    """The bench template, approved at the sandbox's WhatsApp account (``dispatch_world``'s) and here."""
    from campaigns.models import Template, TemplateCategory, TemplateStatus
    from extensions import db
    from tests.campaign_world import provider_status_everywhere

    services.submit_template()
    row = Template(name=TEMPLATE_NAME, language="ru", category=TemplateCategory.UTILITY, body=TEMPLATE_BODY,
                   status=TemplateStatus.APPROVED, examples=EXAMPLES)
    db.session.add(row)
    db.session.flush()
    provider_status_everywhere(row)
    return row


def run_campaign(tag: str, steps: list[dict], template_id: int, timeout: float) -> int:
    """An approved cascade campaign to the people tagged ``tag``, launched here; waits until it completes."""
    from audience import segments
    from campaigns.content import content_hash
    from campaigns.jobs import launch_campaign
    from campaigns.models import Campaign, CampaignStatus
    from extensions import db

    segment = segments.create_segment(f"Bench {tag}", {"tags": [tag]})
    db.session.flush()
    campaign = Campaign(name=f"Bench {tag}", sender_id=steps[0]["sender_id"], template_id=template_id,
                        segment_id=segment.id, variables=VARIABLES, status=CampaignStatus.SCHEDULED,
                        messages_per_second=1000, cascade=steps)
    db.session.add(campaign)
    db.session.flush()
    campaign.content_hash = campaign.approved_hash = content_hash(campaign)
    db.session.commit()
    if not launch_campaign(campaign.id)["launched"]:
        raise SystemExit("the campaign was not launched")

    def completed() -> bool:
        db.session.rollback()
        return db.session.get(Campaign, campaign.id).status is CampaignStatus.COMPLETED

    wait(completed, "the cascade to complete", timeout, 0.2)
    return campaign.id


def settled(campaign_id: int, timeout: float) -> None:
    """Wait until every row on a channel with delivery receipts has its final status (the reports come after the
    campaign completed) and every stored callback was applied."""
    from sqlalchemy import func, select

    from campaigns import cascade
    from campaigns.feedback.models import WebhookEvent
    from campaigns.models import Campaign, Message, MessageStatus, Sender
    from extensions import db

    campaign = db.session.get(Campaign, campaign_id)
    receipts = [step.index for step in cascade.steps(campaign)
                if cascade.receipts(db.session.get(Sender, step.sender_id).channel)]

    def done() -> bool:
        db.session.rollback()
        open_rows = db.session.scalar(select(func.count()).where(
            Message.campaign_id == campaign_id, Message.step.in_(receipts), Message.status == MessageStatus.SENT))
        pending = db.session.scalar(select(func.count()).select_from(WebhookEvent).where(
            WebhookEvent.processed_at.is_(None)))
        return not open_rows and not pending

    wait(done, "the delivery reports to be applied", timeout, 0.2)


def figures(campaign_id: int) -> dict:
    from sqlalchemy import distinct, func, select

    from campaigns import cascade
    from campaigns.models import Campaign, Message
    from extensions import db

    db.session.rollback()
    campaign = db.session.get(Campaign, campaign_id)
    rows = db.session.execute(select(Message.step, Message.status, Message.error_code, func.count()).where(
        Message.campaign_id == campaign_id).group_by(Message.step, Message.status, Message.error_code)).all()
    fell = db.session.scalar(select(func.count()).where(Message.campaign_id == campaign_id,
                                                        Message.fallback_at.is_not(None)))
    people = db.session.scalar(select(func.count(distinct(Message.contact_id))).where(
        Message.campaign_id == campaign_id))
    by_status = {(step, status.value, code) if code else (step, status.value): n for step, status, code, n in rows}
    return {"rows": by_status, "fell_back": fell or 0, "people": people,
            "reached": cascade.reached_by_step(campaign), "twice": cascade.delivered_twice(campaign_id)}


def reach(services: Services, made: dict, count: int, template_id: int) -> None:
    from audience import addresses
    from dbtypes import utcnow
    from extensions import db

    kinds = people_mix(count)
    ids = contacts(count, "bench_reach", 0, {n for n, kind in enumerate(kinds) if kind == "unreachable"})
    on_max = [n for n, kind in enumerate(kinds) if kind.startswith("max")]
    on_telegram = [n for n, kind in enumerate(kinds) if kind == "telegram"]
    services.control("POST", "/_sandbox/max/users", {"users": [
        {"user_id": MAX_USERS + n, "first_name": f"Клиент {n}", "started": True} for n in on_max]})
    services.control("POST", "/_sandbox/telegram/users", {"chat_ids": [TELEGRAM_CHATS + n for n in on_telegram],
                                                          "started": True})
    for n in (n for n in on_max if kinds[n] == "max_stopped"):
        services.control("POST", f"/_sandbox/max/users/{MAX_USERS + n}/stop", {})
    at = utcnow() - timedelta(days=7)
    for channel, numbers, first in (("max", on_max, MAX_USERS), ("telegram", on_telegram, TELEGRAM_CHATS)):
        for n in numbers:
            addresses.link_address(sender_id=made[channel].id, channel=channel, address=str(first + n), at=at,
                                   consent_source="bench", event_id=f"bench-{channel}-{n}", contact_id=ids[n])
    db.session.commit()
    steps = [{"sender_id": made[name].id, "wait_seconds": None} for name in ("max", "telegram", "sms")]
    started = time.perf_counter()
    campaign_id = run_campaign("bench_reach", steps, template_id, timeout=count / 10 + 300)
    wall = time.perf_counter() - started
    settled(campaign_id, timeout=120)
    found = figures(campaign_id)
    reached = found["reached"]
    nobody = count - sum(reached.values())
    names = ("MAX", "Telegram", "SMS")
    shares = ", ".join(f"{name} {reached[step]:,} ({reached[step] / count:.1%})" for step, name in enumerate(names))
    print(f"  reach, MAX → Telegram → SMS, {count:,} people: {shares}; not reached {nobody:,} ({nobody / count:.1%}); "
          f"fell back {found['fell_back']:,}; delivered twice {found['twice']}; {wall:.1f} s; rows {found['rows']}; "
          f"{load()}", flush=True)


def twice(services: Services, made: dict, count: int, late: float, template_id: int, compression: int) -> None:
    from campaigns.cascade import DEFAULT_WAIT_SECONDS

    services.control("POST", "/_sandbox/config", {
        "callback_delays_ms": [50 / compression, 1500 / compression],
        "late_delays_ms": [60_000 / compression, 3_600_000 / compression],
        "status_shares": {"late": late, "failed": 0.0}})
    contacts(count, "bench_twice", 1_000_000)
    wait_seconds = DEFAULT_WAIT_SECONDS // compression
    steps = [{"sender_id": made["whatsapp"].id, "wait_seconds": wait_seconds},
             {"sender_id": made["sms"].id, "wait_seconds": None}]
    campaign_id = run_campaign("bench_twice", steps, template_id, timeout=count / 10 + 300)
    # The late deliveries still due (up to an hour, compressed) arrive; then the doubles are counted.
    settled(campaign_id, timeout=3_600 / compression + 120)
    found = figures(campaign_id)
    print(f"  delivered twice, WhatsApp → SMS at the default wait ({DEFAULT_WAIT_SECONDS // 60} min; run "
          f"{compression}× compressed), {count:,} people, {late:.0%} delivered late (1 min – 1 h): fell back on the "
          f"timeout {found['fell_back']:,} ({found['fell_back'] / count:.1%}); delivered twice {found['twice']:,} "
          f"({found['twice'] / count:.2%} of the people, {found['twice'] / max(found['fell_back'], 1):.0%} of the "
          f"fallbacks); reached {found['reached']}; {load()}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=3000)
    parser.add_argument("--late", type=float, default=0.05)
    parser.add_argument("--compression", type=int, default=10)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    from tests.feedback.receiver_process import EdgeProcess

    # The sweep that finds the timed-out rows runs every second (15 s by default), as the wait is compressed.
    with Services(args.database_url, args.workers, args.latency_ms, {"DISPATCH_SWEEP_SECONDS": "1"}) as services:
        backend = services.database_url.split(":")[0].split("+")[0]
        print(f"{backend}: cascades through the sandbox, {args.workers} workers, latency {args.latency_ms:g} ms; "
              f"{load()}", flush=True)
        with EdgeProcess(services.environment()) as edge:
            made = senders_of(services, edge.url)
            template_id = template(services).id
            services.start_workers()
            reach(services, made, args.people, template_id)
            twice(services, made, args.people, args.late, template_id, args.compression)


if __name__ == "__main__":
    main()
