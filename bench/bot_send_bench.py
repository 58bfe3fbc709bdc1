"""Bot dispatch against the platforms' limits: a MAX and a Telegram campaign sent by 2 workers, and several
campaigns to the same few people, as the sandbox counts them.

    .venv/bin/python bench/bot_send_bench.py [--messages 450] [--people 20] [--campaigns 6] [--rate 30]
                                             [--workers 2] [--latency-ms 100] [--database-url postgresql://…]

Starts what ``bench/send_bench.py`` starts (``dispatch_world.Services``: a real Redis, the sandbox provider
answering after ``--latency-ms``, a fresh database, ``--workers`` real ``python worker.py`` processes), then for
each channel a bot sender on the sandbox's default bot (``senders.add_sender``, as an admin adds one) and
``--messages`` contacts, each with an active address on it (``audience.addresses.link_address``, as a start
of the bot makes one; the sandbox knows each person as having started the bot, and enforces the platform's
limits: MAX 30 requests a second per bot and 2 messages a second per dialog, Telegram 30 messages a second per
bot and 1 a second per chat, each refusing with a 429 and counting it).

1. **Throughput**: one campaign of a utility template to all of them, launched by the real launch job here and
   sent by the workers. Printed: the sends per second from the first message the sandbox accepted to the last
   (and the most in any 1-second window) against the bot's limit, and the sandbox's refusals (429s).
2. **Per dialog**: ``--campaigns`` campaigns to the same ``--people`` people, launched one right after another,
   so that each dialog gets ``--campaigns`` messages from campaigns sent at once by different batches. Printed:
   the gaps between consecutive messages to one dialog as the sandbox time-stamped them (min, p1, median)
   against the dialog's limit, and the refusals.

The goal: no refusal at all (the dispatch paces at or under the limits, never above) and a rate close to the
limit (the pacer's 2 % margin under it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dispatch_world import Services, load, phone, settings, wait, window_counts

TEMPLATE_BODY = "Здравствуйте, {{1}}! Заказ {{2}} готов."
VARIABLES = {"1": {"source": "field", "value": "name", "fallback": "клиент"},
             "2": {"source": "constant", "value": "A-1042"}}


class Bot:
    """What the bench needs to know of one channel: its limits, its sandbox people and how to read what it sent."""

    def __init__(self, channel: str, bot_rate: float, dialog_rate: float, first_id: int, refusals: tuple[str, ...]):
        self.channel, self.bot_rate, self.dialog_rate = channel, bot_rate, dialog_rate
        self.rate = int(bot_rate)  # the sender's and the campaigns' msgs/s: the limit, unless --rate says less
        self.first_id, self.refusals = first_id, refusals

    def address(self, n: int) -> str:
        return str(self.first_id + n)

    def register(self, services: Services, count: int) -> None:
        """Everybody has started the bot at the sandbox (no update posted: the addresses are made here)."""
        ids = [self.first_id + n for n in range(count)]
        if self.channel == "max":
            services.control("POST", "/_sandbox/max/users", {"users": [
                {"user_id": user, "first_name": f"Клиент {user}", "started": True} for user in ids]})
        else:
            services.control("POST", "/_sandbox/telegram/users", {"chat_ids": ids, "started": True})

    def sent(self, services: Services) -> list[tuple[str, float]]:
        """(dialog, seconds) of every message the sandbox accepted from the bot, in the order it accepted them."""
        if self.channel == "max":
            return [(str(m["user_id"]), m["at"] / 1000) for m in services.control("GET", "/_sandbox/max/messages")]
        return [(str(m["chat_id"]), m["at"]) for m in services.control("GET", "/_sandbox/telegram/messages")]

    def ledger(self, services: Services) -> tuple[list[float], int, str]:
        """From the sandbox's ledger: the arrivals of the sends it accepted (what the limits count, before the
        latency), its limit refusals, and a phrase saying which limit refused them and how many 429s it answered."""
        ledger = services.control("GET", "/_sandbox/ledger")
        sends = [request for request in ledger["requests"]
                 if request["path"].startswith("/messages?") or request["path"].endswith("/sendMessage")]
        arrivals = sorted(request["at"] for request in sends if request["status"] == 200)
        bot_limit, dialog_limit = (ledger["counts"].get(name, 0) for name in self.refusals)
        answered = sum(1 for request in sends if request["status"] == 429)
        return arrivals, bot_limit + dialog_limit, \
            f"bot's limit {bot_limit}, dialog's {dialog_limit}; {answered} answers 429"


def bots() -> list[Bot]:
    from channels.max import MaxBot
    from channels.telegram import TelegramBot

    return [Bot("max", MaxBot.capabilities.messages_per_second, MaxBot.capabilities.dialog_messages_per_second,
                910_000_001, ("max_requests_throttled", "max_dialog_throttled")),
            Bot("telegram", TelegramBot.capabilities.messages_per_second,
                TelegramBot.capabilities.dialog_messages_per_second, 920_000_001,
                ("telegram_bot_limit_violations", "telegram_chat_limit_violations"))]


# --- the world -------------------------------------------------------------------------------------------------

def build(services: Services, bot: Bot, recipients: int, people: int) -> tuple[int, int, int]:
    """The bot sender, the contacts with their addresses on it, and a template; (sender id, the segment of
    everybody, the segment of the first ``people``)."""
    from audience import addresses, segments
    from audience.models import Contact
    from audience.upsert import insert_rows
    from campaigns import senders
    from campaigns.models import Template, TemplateCategory, TemplateStatus
    from channels.sandbox import defaults
    from dbtypes import utcnow
    from extensions import db

    token = defaults.MAX_TOKEN if bot.channel == "max" else defaults.TELEGRAM_TOKEN
    sender = senders.add_sender({"name": f"Bench {bot.channel}", "channel": bot.channel, "access_token": token,
                                 "base_url": services.sandbox.url, "messages_per_second": bot.rate})
    consented = utcnow() - timedelta(days=30)
    tag = f"bench_{bot.channel}"
    base = 0 if bot.channel == "max" else 1_000_000  # the other channel's contacts are other people
    insert_rows(Contact.__table__, [
        {"phone": phone(base + n), "name": f"Клиент {n}", "name_key": f"клиент {n}", "country": "RU",
         "timezone": "Europe/Moscow", "language": "ru", "attributes": {}, "consent_source": "bench",
         "tags": f"|{tag}|" + (f"{tag}_dialog|" if n < people else ""),
         "consent_at": consented, "created_at": consented, "updated_at": consented}
        for n in range(recipients)])
    ids = dict(db.session.query(Contact.phone, Contact.id).filter(Contact.tags.like(f"%|{tag}|%")))
    for n in range(recipients):
        addresses.link_address(sender_id=sender.id, channel=bot.channel, address=bot.address(n), at=consented,
                               consent_source="bench", event_id=f"bench-{bot.channel}-{n}",
                               contact_id=ids[phone(base + n)])
    if not db.session.query(Template).filter_by(name="bench_bot_order").count():
        db.session.add(Template(name="bench_bot_order", language="ru", category=TemplateCategory.UTILITY,
                                body=TEMPLATE_BODY, status=TemplateStatus.APPROVED,
                                examples={"1": "Анна", "2": "42"}))
    everybody = segments.create_segment(f"Bench {bot.channel}", {"tags": [tag]})
    few = segments.create_segment(f"Bench {bot.channel} dialogs", {"tags": [f"{tag}_dialog"]})
    db.session.commit()
    return sender.id, everybody.id, few.id


def campaign(sender_id: int, segment_id: int, name: str, rate: int) -> int:
    """An approved campaign of the bench template at ``rate`` msg/s (a campaign's default is 20: the bench sets the
    bot's limit, as a marketer sending at full speed does), as a reviewer approved it."""
    from campaigns.content import content_hash
    from campaigns.models import Campaign, CampaignStatus, Template
    from extensions import db

    template = db.session.query(Template).filter_by(name="bench_bot_order").one()
    row = Campaign(name=name, sender_id=sender_id, template_id=template.id, segment_id=segment_id,
                   variables=VARIABLES, status=CampaignStatus.APPROVED, messages_per_second=rate)
    db.session.add(row)
    db.session.flush()
    row.content_hash = row.approved_hash = content_hash(row)
    db.session.commit()
    return row.id


def launch(campaign_ids: list[int], timeout: float) -> dict[str, int]:
    """Run each campaign's launch job here, one right after another, and wait until the workers complete them
    all; the rows by status."""
    from sqlalchemy import func, select

    from campaigns.jobs import launch_campaign
    from campaigns.models import Campaign, CampaignStatus, Message
    from extensions import db

    for campaign_id in campaign_ids:
        db.session.get(Campaign, campaign_id).status = CampaignStatus.SCHEDULED
        db.session.flush()
        if not launch_campaign(campaign_id)["launched"]:
            raise SystemExit(f"campaign {campaign_id} was not launched")

    def completed() -> bool:
        db.session.rollback()
        return all(db.session.get(Campaign, campaign_id).status is not CampaignStatus.SENDING
                   for campaign_id in campaign_ids)

    wait(completed, "the campaigns to complete", timeout, 0.05)
    counts = db.session.execute(select(Message.status, func.count()).where(Message.campaign_id.in_(campaign_ids))
                                .group_by(Message.status)).all()
    return {status.value: count for status, count in counts}


# --- the figures -----------------------------------------------------------------------------------------------

def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def throughput(services: Services, bot: Bot, sender_id: int, segment_id: int, recipients: int) -> bool:
    services.control("POST", "/_sandbox/reset")
    bot.register(services, recipients)
    ids = [campaign(sender_id, segment_id, f"Bench {bot.channel}", bot.rate)]
    counts = launch(ids, timeout=recipients / 10 + 60)
    times = sorted(at for _dialog, at in bot.sent(services))
    arrivals, refused, which = bot.ledger(services)
    rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    name = "MAX" if bot.channel == "max" else "Telegram"
    print(f"  {name}: {rate:.1f} sends/s (limit {bot.bot_rate:g}, {rate / bot.bot_rate:.2f}×), {refused} refused "
          f"({which}); most in any 1-second window {window_counts(times)} (by arrival "
          f"{window_counts(arrivals)}); {len(times):,} "
          f"accepted in {times[-1] - times[0]:.2f} s; rows {counts}; {load()}", flush=True)
    return refused == 0 and len(times) == recipients


def per_dialog(services: Services, bot: Bot, sender_id: int, segment_id: int, people: int, campaigns: int) -> bool:
    services.control("POST", "/_sandbox/reset")
    bot.register(services, people)
    ids = [campaign(sender_id, segment_id, f"Bench {bot.channel} dialog {n}", bot.rate)
           for n in range(campaigns)]
    counts = launch(ids, timeout=campaigns * people / bot.dialog_rate + 120)
    stamps: dict[str, list[float]] = {}
    for dialog, at in bot.sent(services):
        stamps.setdefault(dialog, []).append(at)
    gaps = [(later - earlier) * 1000 for times in stamps.values() for earlier, later in pairwise(sorted(times))]
    _arrivals, refused, which = bot.ledger(services)
    floor = 1000 / bot.dialog_rate
    name = "MAX" if bot.channel == "max" else "Telegram"
    print(f"  {name} per dialog: {campaigns} campaigns to {people} people, {len(gaps)} gaps: min {min(gaps):.0f} ms, "
          f"p1 {percentile(gaps, 0.01):.0f} ms, median {statistics.median(gaps):.0f} ms (limit "
          f"{bot.dialog_rate:g}/s per dialog: ≥ {floor:.0f} ms), {refused} refused ({which}); "
          f"rows {counts}; {load()}", flush=True)
    return refused == 0 and min(gaps) >= floor and len(gaps) == people * (campaigns - 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=450, help="recipients of the throughput campaign")
    parser.add_argument("--people", type=int, default=20, help="the people of the per-dialog campaigns")
    parser.add_argument("--campaigns", type=int, default=6, help="per-dialog campaigns to the same people")
    parser.add_argument("--rate", type=int, help="the senders' and campaigns' msgs/s (else the bot's limit, 30)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--batch-size", type=int, help="DISPATCH_BATCH_SIZE for the workers (else theirs)")
    parser.add_argument("--in-flight", type=int, help="DISPATCH_IN_FLIGHT for the workers (else theirs)")
    args = parser.parse_args()
    ok = True
    print(f"before: {load()}", flush=True)
    with Services(args.database_url, args.workers, args.latency_ms, settings(args)) as services:
        from extensions import db

        channels = bots()
        for bot in channels:
            bot.rate = args.rate or bot.rate
        worlds = [(bot, *build(services, bot, max(args.messages, args.people), args.people)) for bot in channels]
        services.start_workers()
        rates = ", ".join(str(bot.rate) for bot in channels)
        print(f"{db.engine.dialect.name}: {args.messages:,} recipients per channel, {args.workers} workers, senders "
              f"and campaigns at {rates} msg/s, sandbox at {args.latency_ms:g} ms with the platforms' limits on; "
              f"{load()}", flush=True)
        started = time.perf_counter()
        for bot, sender_id, everybody, _few in worlds:
            ok &= throughput(services, bot, sender_id, everybody, args.messages)
        for bot, sender_id, _everybody, few in worlds:
            ok &= per_dialog(services, bot, sender_id, few, args.people, args.campaigns)
        print(f"  {'every goal met' if ok else 'a goal MISSED'} (no refusal, every message accepted, no gap under the "
              f"dialog's limit) in {time.perf_counter() - started:.0f} s", flush=True)
    print(f"after: {load()}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
