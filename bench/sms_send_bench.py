"""SMS sends per second through the sandbox's SMSC API, sent by real workers, as the sandbox counts them.

    .venv/bin/python bench/sms_send_bench.py [--messages 900] [--rates 30,200] [--workers 2] [--latency-ms 100]
                                             [--account-rps 250] [--database-url postgresql://…]

Starts what ``bench/send_bench.py`` starts (``dispatch_world.Services``: a real Redis, the sandbox provider
answering after ``--latency-ms``, a fresh database, ``--workers`` real ``python worker.py`` processes), then an SMS
sender on the sandbox's SMSC account (``senders.add_sender``, as an admin adds one) and ``--messages`` contacts with
ordinary numbers (no simulated failure). For each rate of ``--rates`` (the sender's and the campaign's msgs/s: 30 is
SMSC's default for a sender, 200 the most a sender may be given), one campaign of a utility template (no send
window, no cap) to all of them, launched by the real launch job here and sent by the workers: each message rendered
to its SMS text and posted to ``/sys/send.php``.

The sandbox's account takes ``--account-rps`` requests a second (SMSC's per-login window, code 9 beyond it; set above
the fastest rate so that the window does not hide the dispatcher's own pace). Printed per rate: the sends per second
from the first message the sandbox accepted to the last, the most in any 1-second window, the most requests in
flight at once (arrivals within one latency), the refusals (code 9), repeated ids (a message sent twice), and the
rows by status. The goal: every message sent once, no refusal, a rate close to the sender's (the pacer's 2 % margin
under it).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dispatch_world import Services, load, phone, settings, wait, window_counts

TEMPLATE_NAME = "bench_sms_order"
TEMPLATE_BODY = "Здравствуйте, {{1}}! Заказ {{2}} готов, ждём вас в магазине."
VARIABLES = {"1": {"source": "field", "value": "name", "fallback": "клиент"},
             "2": {"source": "constant", "value": "A-1042"}}


def build(services: Services, recipients: int) -> tuple[int, int]:
    """The SMS sender, the contacts and the template; (sender id, segment id)."""
    from audience import segments
    from audience.models import Contact
    from audience.upsert import insert_rows
    from campaigns import senders
    from campaigns.models import Template, TemplateCategory, TemplateStatus
    from channels.sandbox import defaults
    from dbtypes import utcnow
    from extensions import db

    sender = senders.add_sender({"name": "Bench SMS", "channel": "smsc", "base_url": services.sandbox.url,
                                 "login": defaults.SMS_LOGIN, "access_token": defaults.SMS_PASSWORD,
                                 "alpha_name": defaults.SMS_ALPHA_NAME})
    consented = utcnow() - timedelta(days=30)
    for start in range(0, recipients, 50_000):
        insert_rows(Contact.__table__, [
            {"phone": phone(n), "name": f"Клиент {n}", "name_key": f"клиент {n}", "country": "RU",
             "timezone": "Europe/Moscow", "language": "ru", "tags": "|bench_sms|", "attributes": {},
             "consent_source": "bench", "consent_at": consented, "created_at": consented, "updated_at": consented}
            for n in range(start, min(recipients, start + 50_000))])
    db.session.add(Template(name=TEMPLATE_NAME, language="ru", category=TemplateCategory.UTILITY, body=TEMPLATE_BODY,
                            status=TemplateStatus.APPROVED, examples={"1": "Анна", "2": "42"}))
    segment = segments.create_segment("Bench SMS", {"tags": ["bench_sms"]})
    db.session.commit()
    return sender.id, segment.id


def campaign(sender_id: int, segment_id: int, rate: int) -> int:
    """An approved campaign of the bench template at ``rate`` msg/s from the sender, set to the same rate (the rates
    are written to the rows directly, as a reviewer approved the campaign)."""
    from campaigns.content import content_hash
    from campaigns.models import Campaign, CampaignStatus, Sender, Template
    from extensions import db

    db.session.get(Sender, sender_id).messages_per_second = rate
    template = db.session.query(Template).filter_by(name=TEMPLATE_NAME).one()
    row = Campaign(name=f"Bench SMS at {rate}", sender_id=sender_id, template_id=template.id, segment_id=segment_id,
                   variables=VARIABLES, status=CampaignStatus.APPROVED, messages_per_second=rate)
    db.session.add(row)
    db.session.flush()
    row.content_hash = row.approved_hash = content_hash(row)
    db.session.commit()
    return row.id


def launch(campaign_id: int, timeout: float) -> dict[str, int]:
    """Run the campaign's launch job here and wait until the workers complete it; its rows by status."""
    from sqlalchemy import func, select

    from campaigns.jobs import launch_campaign
    from campaigns.models import Campaign, CampaignStatus, Message
    from extensions import db

    db.session.get(Campaign, campaign_id).status = CampaignStatus.SCHEDULED
    db.session.flush()
    if not launch_campaign(campaign_id)["launched"]:
        raise SystemExit(f"campaign {campaign_id} was not launched")

    def completed() -> bool:
        db.session.rollback()
        return db.session.get(Campaign, campaign_id).status is not CampaignStatus.SENDING

    wait(completed, "the campaign to complete", timeout, 0.05)
    counts = db.session.execute(select(Message.status, func.count()).where(Message.campaign_id == campaign_id)
                                .group_by(Message.status)).all()
    return {status.value: count for status, count in counts}


def run(services: Services, sender_id: int, segment_id: int, recipients: int, rate: int, latency_ms: float) -> bool:
    services.control("POST", "/_sandbox/reset")
    services.control("POST", "/_sandbox/config", {"sms_requests_per_second": services.account_rps})
    counts = launch(campaign(sender_id, segment_id, rate), timeout=recipients / rate * 3 + 60)
    ledger = services.control("GET", "/_sandbox/ledger")
    times = sorted(message["at"] for message in ledger["messages"])
    sends = [request for request in ledger["requests"] if request["path"] == "/sys/send.php"]
    arrivals = sorted(request["at"] for request in sends if request["status"] == 200)
    refused = ledger["counts"].get("sms_requests_throttled", 0)
    repeated = ledger["counts"].get("duplicates", 0)
    keys = {message["key"] for message in ledger["messages"]}
    sent = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    in_flight = window_counts(arrivals, latency_ms / 1000)
    print(f"  at {rate} msg/s: {sent:.1f} sends/s ({sent / rate:.2f}× the sender's rate), most in any 1-second "
          f"window {window_counts(times)} (by arrival {window_counts(arrivals)}), at most {in_flight} requests in "
          f"flight; "
          f"{len(times):,} accepted ({len(keys):,} ids) in {times[-1] - times[0]:.2f} s, {refused} refused (code 9), "
          f"{repeated} repeated; rows {counts}; {load()}", flush=True)
    return refused == 0 and repeated == 0 and len(keys) == len(times) == recipients and sent >= 0.9 * rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=900, help="recipients of each campaign")
    parser.add_argument("--rates", default="30,200", help="the sender's and the campaign's msgs/s, one run each")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--account-rps", type=int, default=250, help="the sandbox account's requests a second")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--batch-size", type=int, help="DISPATCH_BATCH_SIZE for the workers (else theirs)")
    parser.add_argument("--in-flight", type=int, help="DISPATCH_IN_FLIGHT for the workers (else theirs)")
    args = parser.parse_args()
    rates = [int(rate) for rate in args.rates.split(",") if rate.strip()]
    ok = True
    print(f"before: {load()}", flush=True)
    with Services(args.database_url, args.workers, args.latency_ms, settings(args)) as services:
        from extensions import db

        services.account_rps = args.account_rps
        sender_id, segment_id = build(services, args.messages)
        services.start_workers()
        print(f"{db.engine.dialect.name}: {args.messages:,} recipients, {args.workers} workers, sandbox SMSC at "
              f"{args.latency_ms:g} ms, its account taking {args.account_rps} requests/s; {load()}", flush=True)
        started = time.perf_counter()
        for rate in rates:
            ok &= run(services, sender_id, segment_id, args.messages, rate, args.latency_ms)
        print(f"  {'every goal met' if ok else 'a goal MISSED'} (every message sent once, no refusal, at least 0.9× "
              f"the sender's rate) in {time.perf_counter() - started:.0f} s", flush=True)
    print(f"after: {load()}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
