"""A small world for campaign tests: a sender, an approved template, a segment and its contacts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import count as counter
from typing import Any

from sqlalchemy import select

from accounts.models import User
from audience import segments
from audience.models import Contact, Segment
from campaigns import campaign_specs, senders
from campaigns.models import (
    ApprovalSource,
    Campaign,
    Sender,
    Template,
    TemplateApproval,
    TemplateCategory,
    TemplateStatus,
)
from dbtypes import utcnow
from extensions import db

_numbers = counter(1000)


@dataclass
class World:
    marketer: User
    reviewer: User
    sender: Sender
    template: Template
    segment: Segment

    def spec(self, **overrides: Any) -> dict[str, Any]:
        """A valid campaign spec; ``overrides`` replace its parts."""
        spec = {
            "name": "Autumn sale",
            "sender": self.sender.name,
            "template": {"name": self.template.name, "language": self.template.language},
            "segment": self.segment.name,
            "variables": {"1": {"source": "field", "value": "name", "fallback": "друг"},
                          "2": {"source": "constant", "value": "Москве"}},
            "send_at": tomorrow_at(9).isoformat(),
            "send_window": None,
            "messages_per_second": 20,
        }
        spec.update(overrides)
        return spec

    def campaign(self, **overrides: Any) -> Campaign:
        """A committed draft created by the marketer."""
        made = campaign_specs.create_campaign(self.spec(**overrides), self.marketer)
        db.session.commit()
        return made


def tomorrow_at(hour_utc: int) -> datetime:
    """Tomorrow at ``hour_utc``:00 UTC (09 UTC is noon in Moscow, inside every default window)."""
    day = utcnow().date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour_utc, tzinfo=UTC)


def provider_status_everywhere(template: Template) -> None:
    """Record the template's status as the provider's in every sender's business account (as an admin's
    ``set-status`` without ``--sender`` would), for worlds built from rows."""
    if template.status is TemplateStatus.DRAFT:
        return
    accounts = set(db.session.execute(select(Sender.waba_id, Sender.base_url)).all())
    known = set(db.session.execute(select(TemplateApproval.account_id, TemplateApproval.base_url)
                                   .where(TemplateApproval.template_id == template.id)).all())
    for account_id, base_url in accounts - known:
        db.session.add(TemplateApproval(template_id=template.id, account_id=account_id, base_url=base_url,
                                        status=template.status, reason=template.rejection_reason,
                                        source=ApprovalSource.ADMIN))
    db.session.flush()


def add_template(name: str = "autumn_sale", *, status: TemplateStatus = TemplateStatus.APPROVED,
                 body: str = "Здравствуйте, {{1}}! Скидка 20% в {{2}}.", category=TemplateCategory.MARKETING,
                 **fields: Any) -> Template:
    fields.setdefault("examples", {"1": "Анна", "2": "Москве"})
    template = Template(name=name, language=fields.pop("language", "ru"), category=category, body=body,
                        status=status, **fields)
    db.session.add(template)
    db.session.flush()
    provider_status_everywhere(template)
    db.session.commit()
    return template


def add_contact(phone: str | None = None, *, tags: str = "|promo|", **fields: Any) -> Contact:
    fields.setdefault("consent_source", "website form")
    fields.setdefault("consent_at", utcnow() - timedelta(days=30))
    fields.setdefault("country", "RU")
    fields.setdefault("timezone", "Europe/Moscow")
    contact = Contact(phone=phone or f"+7903{next(_numbers):07d}", tags=tags, **fields)
    db.session.add(contact)
    db.session.commit()
    return contact


def make_world(make_user) -> World:
    marketer, reviewer = make_user("marketer"), make_user("reviewer")
    sender = senders.create_sender("Main", "+74951234567", tier="TIER_250", messages_per_second=50)
    segment = segments.create_segment("Promo", {"tags": ["promo"]})
    db.session.commit()
    return World(marketer, reviewer, sender, add_template(), segment)


# What a reviewer writes to approve a campaign despite the channel rule's warning: the default world sends
# marketing through WhatsApp to contacts in Russia, which the rule warns about (``compliance.channel_rule``).
ACKNOWLEDGEMENT = "Эти клиенты сами просили писать им в WhatsApp; предупреждение ФАС прочитано, риск принимаем."
