"""Pacing: a campaign configured at 200 msg/s, sent by 2 workers, as the provider counts its arrivals.

    .venv/bin/python bench/rate_bench.py [--rate 200] [--seconds 30] [--workers 2] [--latency-ms 100]
                                         [--database-url postgresql://…]

Starts a real Redis, the sandbox provider, a fresh database (SQLite, or the scratch PostgreSQL
database given: its schema is dropped and migrated) and ``--workers`` real ``python worker.py``
processes, launches a campaign of ``rate × seconds`` recipients (6,000) whose own rate is ``--rate``
from a sender allowed 1,000 msg/s, and reads the sandbox ledger's accept times of every message:
the most messages accepted in any one-second window (sliding, from every accept) and the mean rate
from the first accept to the last; and the same by the requests' arrival times (the ledger's
``requests[].at``, taken before the sandbox's latency: what a provider's limit counts). The limit
is shared by the workers through Redis; each worker sends its own batches.

Goal (issue 12): at most 200 in any second, a mean of at least 194 msg/s.

Then, against the same sandbox (reset), the reference: one bare asyncio loop of the same channel
(``channels.registry.channel_for`` on ``channels.http``'s session) sending the same number of messages
each at its own exact slot, spaced as the pacer spaces them (the rate less ``PACING_MARGIN``), measured
the same way: what the machine and the sandbox's own timing do to a perfectly paced sender.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dispatch_world import SENDER_PHONE, TEMPLATE_NAME, Services, load, phone, settings, window_counts


def paced(settings, outbounds, interval: float, in_flight: int) -> None:
    """Send each message at its exact slot (``interval`` apart), at most ``in_flight`` at once."""
    from channels import http
    from channels.registry import channel_for

    async def drive(session) -> None:
        channel = channel_for(settings, session)
        gate = asyncio.Semaphore(in_flight)
        start = time.monotonic() + 0.2

        async def one(n: int, message) -> None:
            await asyncio.sleep(max(0.0, start + n * interval - time.monotonic()))
            async with gate:
                await channel.send([message])

        await asyncio.gather(*(one(n, message) for n, message in enumerate(outbounds)))

    http.run(drive, timeout=None)


def reference(services: Services, count: int, rate: int, in_flight: int) -> list[float]:
    """The accept times of ``count`` messages sent at exact slots by a bare loop (see the module's text)."""
    from sqlalchemy import select

    from campaigns import senders
    from campaigns.dispatch.ratelimit import PACING_MARGIN
    from campaigns.models import Sender, Template
    from campaigns.test_sends import outbound_for
    from extensions import db

    template = db.session.scalar(select(Template).where(Template.name == TEMPLATE_NAME))
    settings = senders.settings_for(db.session.scalar(select(Sender).where(Sender.phone == SENDER_PHONE)))
    outbounds = [outbound_for(template, phone(n), {"1": f"Клиент {n}", "2": "x"}, f"paced-{n}") for n in range(count)]
    services.control("POST", "/_sandbox/reset")
    services.submit_template()
    paced(settings, outbounds, 1 / (rate * (1 - PACING_MARGIN)), in_flight)
    times, _counts = services.accepted()
    return times


def figures(times: list[float]) -> tuple[int, float, list[int]]:
    """The most in any 1-second window, the mean from the first accept to the last, the whole seconds' counts."""
    span = times[-1] - times[0]
    seconds = [0] * (int(span) + 1)
    for at in times:
        seconds[int(at - times[0])] += 1
    return window_counts(times), (len(times) - 1) / span if span else 0.0, seconds


SENDER_RATE = 1000  # WhatsApp's top throughput: the campaign's own rate is the one that binds
GOAL_MEAN_SHARE = 0.97  # 194 of 200


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--skip-reference", action="store_true", help="measure the engine only")
    parser.add_argument("--dump", type=Path, help="write the accept times (one a line) to this file")
    parser.add_argument("--batch-size", type=int, help="DISPATCH_BATCH_SIZE for the workers (else theirs)")
    parser.add_argument("--in-flight", type=int, help="DISPATCH_IN_FLIGHT for the workers (else theirs)")
    args = parser.parse_args()
    recipients = args.rate * args.seconds
    print(f"before: {load()}", flush=True)
    with Services(args.database_url, args.workers, args.latency_ms, settings(args)) as services:
        from extensions import db

        backend = db.engine.dialect.name
        campaign_id = services.campaign(recipients, args.rate, SENDER_RATE)
        services.start_workers()
        print(f"{backend}: {recipients:,} recipients at {args.rate} msg/s (sender {SENDER_RATE} msg/s), "
              f"{args.workers} workers, sandbox at {args.latency_ms:g} ms; {load()}", flush=True)
        outcome = services.launch(campaign_id, timeout=args.seconds * 4 + 60)
        times = outcome.accepted_at
        if args.dump:
            args.dump.write_text("".join(f"{at:.6f}\n" for at in times))
        goal_mean = args.rate * GOAL_MEAN_SHARE
        most, mean, seconds = figures(times)
        print(f"  {len(times):,} accepted in {times[-1] - times[0]:.2f} s (wall clock from the launch to completed "
              f"{outcome.wall_seconds:.2f} s); rows: {outcome.counts}; {outcome.duplicates} duplicates", flush=True)
        verdict = "met" if most <= args.rate else "MISSED"
        print(f"  most in any 1-second window: {most}  (goal <= {args.rate}: {verdict})", flush=True)
        print(f"  mean from the first accept to the last: {mean:.1f} msg/s  (goal >= {goal_mean:.0f}: "
              f"{'met' if mean >= goal_mean else 'MISSED'})", flush=True)
        full = seconds[:-1] or seconds
        print(f"  whole seconds from the first accept: min {min(full)}, max {max(full)} "
              f"(the last, partial: {seconds[-1]}); {load()}", flush=True)
        failed = most > args.rate or mean < goal_mean or len(times) != recipients or outcome.duplicates > 0
        # The same counted where a provider's limit counts: the requests' arrivals, before the sandbox's latency.
        most, mean, seconds = figures(services.arrivals)
        full = seconds[:-1] or seconds
        print(f"  by arrival: most in any 1-second window {most}, mean {mean:.1f} msg/s, whole seconds min "
              f"{min(full)}, max {max(full)}", flush=True)
        if not args.skip_reference:
            accepts = reference(services, recipients, args.rate, services.app.config["DISPATCH_IN_FLIGHT"])
            for label, measured in (("accepts", accepts), ("arrivals", services.arrivals)):
                most, mean, seconds = figures(measured)
                full = seconds[:-1] or seconds
                print(f"  reference (a bare loop at exact slots), by {label}: most in any 1-second window {most}, "
                      f"mean {mean:.1f} msg/s, whole seconds min {min(full)}, max {max(full)}", flush=True)
            print(f"  {load()}", flush=True)
    print(f"after: {load()}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
