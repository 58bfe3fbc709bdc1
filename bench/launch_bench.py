"""The launch of a campaign to most of a million contacts: how long the materialisation takes.

    .venv/bin/python bench/launch_bench.py [--contacts N] [--database-url postgresql://… [--keep] [--reuse]]

Fills the contacts (and their suppressions) with ``segment_bench``'s realistic audience, then gives
the frequency cap something to read: an earlier marketing campaign to the "vip" tag, launched and
marked delivered. Then it schedules a campaign to every Russian contact (86% of the table) with
three variables — a field with a fallback, a Cyrillic attribute with a fallback and a constant — and
times the real job, ``campaigns.jobs.launch_campaign``: the compare-and-set, the INSERT … SELECT of
every message row, the count of exclusions by reason and the commit. A second run of the job (a
retry) is timed too; it must find the campaign launched and do nothing.

Goal (issue 5): seconds, not minutes, for 1,000,000 recipients. Without --database-url the data
goes to a fresh SQLite file; with one, that database must be a scratch one: every table is dropped
and created, and dropped again at the end (unless --keep leaves them for --reuse, which deletes the
campaigns and messages of the earlier run and launches again without filling).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from segment_bench import arguments, over_contacts

VARIABLES = {
    "1": {"source": "field", "value": "name", "fallback": "клиент"},
    "2": {"source": "attribute", "value": "Уровень", "fallback": "basic"},
    "3": {"source": "constant", "value": "ОСЕНЬ-25"},
}
GOAL_SECONDS = 60


def campaign_to(definition: dict, number: int):
    """An approved, scheduled campaign of a marketing template to the segment ``definition``."""
    from audience.models import Segment
    from campaigns import senders
    from campaigns.content import content_hash
    from campaigns.models import (
        ApprovalSource,
        Campaign,
        CampaignStatus,
        Sender,
        Template,
        TemplateApproval,
        TemplateCategory,
        TemplateStatus,
    )
    from extensions import db

    sender = Sender(name=f"bench {number}", phone=f"+7495000{number:04d}", tier="TIER_UNLIMITED")
    template = Template(name=f"bench_{number}", language="ru", category=TemplateCategory.MARKETING,
                        body="Здравствуйте, {{1}}! Ваш уровень {{2}}, промокод {{3}}.", status=TemplateStatus.APPROVED)
    segment = Segment(name=f"bench {number}", definition=definition)
    db.session.add_all([sender, template, segment])
    db.session.flush()
    # Approved in the sender's own business account, where the launch asks.
    account_id, base_url = senders.account_of(sender)
    db.session.add(TemplateApproval(template_id=template.id, account_id=account_id, base_url=base_url,
                                    status=TemplateStatus.APPROVED, source=ApprovalSource.ADMIN))
    campaign = Campaign(name=f"bench {number}", sender_id=sender.id, template_id=template.id, segment_id=segment.id,
                        variables=VARIABLES, status=CampaignStatus.SCHEDULED)
    db.session.add(campaign)
    db.session.flush()
    campaign.content_hash = campaign.approved_hash = content_hash(campaign)  # approved as it is
    db.session.commit()
    return campaign.id


def forget_campaigns() -> None:
    """Delete what an earlier run launched, keeping its contacts."""
    from sqlalchemy import text

    from audience.models import Segment
    from campaigns.models import Campaign, Message, Sender, Template
    from extensions import db

    for model in (Message, Campaign, Segment, Template, Sender):
        db.session.execute(model.__table__.delete())
    db.session.commit()
    if db.engine.dialect.name == "postgresql":  # so the next launch writes into a clean table
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE messages"))


def timed(campaign_id: int) -> tuple[float, dict]:
    from campaigns.jobs import launch_campaign

    started = time.perf_counter()
    outcome = launch_campaign(campaign_id)
    return time.perf_counter() - started, outcome


def bench() -> None:
    from sqlalchemy import func, select, update

    from audience.models import Contact
    from campaigns.models import Message, MessageStatus
    from extensions import db

    total = db.session.scalar(select(func.count()).select_from(Contact))
    earlier = campaign_to({"tags": ["vip"]}, 1)
    seconds, outcome = timed(earlier)
    db.session.execute(
        update(Message).where(Message.campaign_id == earlier).values(status=MessageStatus.DELIVERED.value)
    )
    db.session.commit()
    print(f"  earlier campaign to tag vip: {outcome['recipients']:,} rows in {seconds:.2f} s, marked delivered")

    campaign_id = campaign_to({"countries": ["RU"]}, 2)
    seconds, outcome = timed(campaign_id)
    if not outcome["launched"]:
        raise SystemExit(f"the campaign was not launched ({outcome['skipped']}); nothing was measured")
    excluded = ", ".join(f"{reason} {count:,}" for reason, count in outcome["exclusions"].items())
    verdict = "met" if seconds <= GOAL_SECONDS else "MISSED"
    print(f"  launch of a campaign to country RU ({total:,} contacts in the table):")
    print(f"    {seconds:6.2f} s  {outcome['recipients']:,} message rows  "
          f"({outcome['recipients'] / seconds:,.0f} rows/s)  goal: seconds, not minutes: {verdict}")
    print(f"    excluded: {excluded}")
    again, repeat = timed(campaign_id)
    print(f"    a retried job: {again * 1000:.1f} ms, launched={repeat['launched']} ({repeat['skipped']})")


def main() -> None:
    args = arguments(__doc__, "Launch to the contacts an earlier --keep run left.")
    over_contacts(args, bench, on_reuse=forget_campaigns)


if __name__ == "__main__":
    main()
