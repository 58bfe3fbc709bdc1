"""The compliance preflight of a campaign to most of a million contacts: how long ``preflight.run`` takes.

    .venv/bin/python bench/preflight_bench.py [--contacts N] [--runs R] [--database-url postgresql://… [--keep|--reuse]]

Fills the contacts (and their suppressions) with ``segment_bench``'s realistic audience, then gives the
frequency cap, the tier and the free allowance something to read, as ``launch_bench`` does: an earlier
marketing campaign of the same sender to the "vip" tag, launched and delivered two hours ago, and one
of another sender to the "рассылка" tag (half the table) delivered three days ago — half a million
message rows of the last week. Then it times the real ``campaigns.preflight.run`` of a campaign to
every Russian contact (86% of the table) of a sender on the 10K tier: the template's checks, the
segment's contacts grouped by their facts in SQL, each group judged once, the tier and the estimate.
Each figure is one run; the median of ``--runs`` runs after a warm-up is the one to quote.

Goal (issue 12): seconds for 1,000,000 contacts (≤ 3 s here; the per-contact gathering it replaced
took ~12 s). Without --database-url the data goes to a fresh SQLite file; with one, that database
must be a scratch one: every table is dropped and created, and dropped again at the end (unless
--keep leaves them for --reuse, which deletes the campaigns and messages of the earlier run and
times again without filling).
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from launch_bench import campaign_to, forget_campaigns
from segment_bench import analyse, arguments, over_contacts

GOAL_SECONDS = 3.0


def earlier_sends() -> int:
    """Two launched campaigns whose rows were delivered: two hours ago (this sender's) and three days ago."""
    from sqlalchemy import update

    from campaigns import launch
    from campaigns.models import Campaign, Message, MessageStatus
    from dbtypes import utcnow
    from extensions import db

    senders = []
    for number, tag, ago in ((1, "vip", timedelta(hours=2)), (3, "рассылка", timedelta(days=3))):
        campaign_id = campaign_to({"tags": [tag]}, number)
        started = time.perf_counter()
        # The launch itself, without the job's enqueueing of send batches: nothing is sent here.
        outcome = launch.launch(campaign_id)
        db.session.commit()
        seconds = time.perf_counter() - started
        if not outcome.launched:
            raise SystemExit(f"the earlier campaign was not launched: {outcome}")
        db.session.execute(update(Message).where(Message.campaign_id == campaign_id)
                           .values(status=MessageStatus.DELIVERED.value, sent_at=utcnow() - ago))
        db.session.commit()
        senders.append(db.session.get(Campaign, campaign_id).sender_id)
        print(f"  earlier campaign to tag {tag}: {outcome.recipients:,} rows launched in {seconds:.1f} s, "
              f"delivered {ago} ago", flush=True)
    return senders[0]  # the vip campaign's: the measured campaign sends from it


def prepare() -> int:
    """The measured campaign: to every Russian contact, from the vip campaign's sender, on the 10K tier."""
    from campaigns.models import Campaign, Sender
    from extensions import db

    sender_id = earlier_sends()
    campaign_id = campaign_to({"countries": ["RU"]}, 2)
    campaign = db.session.get(Campaign, campaign_id)
    campaign.sender_id = sender_id
    db.session.get(Sender, sender_id).tier = "TIER_10K"
    db.session.commit()
    analyse()
    return campaign_id


def bench(runs: int) -> None:
    from sqlalchemy import func, select

    from audience.models import Contact
    from campaigns import preflight
    from campaigns.models import Campaign, Message
    from extensions import db

    campaign_id = prepare()
    total = db.session.scalar(select(func.count()).select_from(Contact))
    rows = db.session.scalar(select(func.count()).select_from(Message))
    print(f"  preflight of a campaign to country RU ({total:,} contacts, {rows:,} message rows in the tables):")
    times = []
    for run in range(runs + 1):
        campaign = db.session.get(Campaign, campaign_id)
        started = time.perf_counter()
        report = preflight.run(campaign)
        seconds = time.perf_counter() - started
        db.session.rollback()  # nothing carried from one run to the next
        if run:
            times.append(seconds)
        print(f"    {'warm-up' if not run else f'run {run}':>8}: {seconds:6.2f} s", flush=True)
    audience, tier = report["audience"], report["tier"]
    median = statistics.median(times)
    verdict = "met" if median <= GOAL_SECONDS else "MISSED"
    print(f"  median {median:.2f} s  goal ≤ {GOAL_SECONDS:.0f} s: {verdict}")
    excluded = ", ".join(f"{reason} {count:,}" for reason, count in audience["excluded"].items())
    print(f"    {audience['total']:,} contacts: eligible {audience['eligible']:,} (deferred {audience['deferred']:,}: "
          f"{audience['deferred_by']}), excluded: {excluded}")
    print(f"    tier {tier['tier']}: {tier['contacted_last_24h']:,} contacted in 24 h, headroom {tier['headroom']:,}, "
          f"{tier['new_recipients']:,} new recipients; estimate {report['estimate']['total']} "
          f"{report['estimate']['currency']}")


def main() -> None:
    args = arguments(__doc__, "Time the preflight over the contacts an earlier --keep run left.",
                     lambda parser: parser.add_argument("--runs", type=int, default=3))
    over_contacts(args, lambda: bench(args.runs), on_reuse=forget_campaigns)


if __name__ == "__main__":
    main()
