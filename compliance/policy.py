"""The compliance policy in force: shipped defaults, overridden section by section by an admin.

Sections: reply keywords, the restricted-platform registry, spam-likeness rules, sending rules
(windows, caps) and the channel rule (which channels are restricted in Russia, and what that means).
Each is stored whole, as JSON, in ``compliance_settings``; a section nobody has changed is the default.
Every process rebuilds its compiled copy when a row's timestamp changes, so an admin's edit
reaches all web processes and workers without a restart.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from accounts.models import User
from compliance import audit
from compliance.channel_rule import ChannelRules
from compliance.keywords import DEFAULT_KEYWORDS, KeywordSets
from compliance.lint import LintReport, lint
from compliance.models import ComplianceSetting
from compliance.restricted import REGISTRY_PATH, Registry
from compliance.sending import SendingRules
from compliance.spam import SpamRules
from dbtypes import utcnow
from extensions import db


@dataclass(frozen=True)
class Policy:
    keywords: KeywordSets
    registry: Registry
    spam: SpamRules
    sending: SendingRules
    channels: ChannelRules = field(default_factory=ChannelRules)

    def lint(self, text: str, language: str) -> LintReport:
        """The content report of ``text`` under this policy's registry and spam rules."""
        return lint(text, language, registry=self.registry, rules=self.spam)


@dataclass(frozen=True)
class Section:
    parse: Callable[[dict[str, Any]], Any]
    default: Callable[[], dict[str, Any]]
    # Small sections whose values go into the audit log with each change (what it was, what it became).
    audit_values: bool = False


SECTIONS: dict[str, Section] = {
    "keywords": Section(KeywordSets.from_dict, DEFAULT_KEYWORDS.as_dict),
    "registry": Section(Registry.from_dict, lambda: json.loads(REGISTRY_PATH.read_text(encoding="utf-8"))),
    "spam": Section(SpamRules.from_dict, lambda: SpamRules().as_dict()),
    "sending": Section(SendingRules.from_dict, lambda: SendingRules().as_dict()),
    "channels": Section(ChannelRules.from_dict, lambda: ChannelRules().as_dict(), audit_values=True),
}

_lock = threading.Lock()
_cache: dict[str, Any] = {"stamp": None, "policy": None}


def current_policy() -> Policy:
    """The policy in force now (one small query; compiled again only after an edit)."""
    rows = {row.key: row for row in db.session.scalars(select(ComplianceSetting))}
    stamp = tuple(sorted((key, row.updated_at.isoformat()) for key, row in rows.items()))
    with _lock:
        if _cache["stamp"] != stamp:
            _cache["policy"] = Policy(**{
                name: section.parse(rows[name].value if name in rows else section.default())
                for name, section in SECTIONS.items()
            })
            _cache["stamp"] = stamp
        return _cache["policy"]


def section_data(name: str) -> dict[str, Any]:
    """The stored (or default) data of one section, as an admin edits it."""
    row = db.session.get(ComplianceSetting, name)
    return row.value if row is not None else SECTIONS[name].default()


def is_customised(name: str) -> bool:
    """Whether an admin has changed this section from the shipped default."""
    return db.session.get(ComplianceSetting, name) is not None


def save_section(name: str, data: dict[str, Any], actor: User | None) -> None:
    """Validate and store one section; ``ValueError`` with a sentence when it is not valid."""
    value = SECTIONS[name].parse(data).as_dict()
    before = section_data(name)
    row = db.session.get(ComplianceSetting, name) or ComplianceSetting(key=name)
    row.value, row.updated_at, row.updated_by_id = value, utcnow(), getattr(actor, "id", None)
    db.session.add(row)
    audit.record("compliance.settings_changed", actor=actor, details={"section": name, **_values(name, before, value)})
    db.session.flush()


def reset_section(name: str, actor: User | None) -> None:
    """Go back to the shipped default of one section."""
    row = db.session.get(ComplianceSetting, name)
    if row is not None:
        before = row.value
        db.session.delete(row)
        audit.record("compliance.settings_reset", actor=actor,
                     details={"section": name, **_values(name, before, SECTIONS[name].default())})
        db.session.flush()


def _values(name: str, before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {"before": before, "after": after} if SECTIONS[name].audit_values else {}
