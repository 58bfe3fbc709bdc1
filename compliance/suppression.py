"""The suppression list: numbers and messenger addresses nobody may message, why, since when, and who lifted them.

An entry is keyed by a *key*: an E.164 number, or a messenger address key ("max:<user id>", see
``audience.models.ContactAddress.address_key``; it always contains ":" so it never looks like a number).
A number's entries are stored in ``phone``, an address key's in ``address_key``; ``key_column`` says which.

Only these functions change the list; views, the API, the CLI, the reply handler and (later) the
importer and webhooks call them. They add and flush; the caller commits, and every change writes
its audit entry in the same transaction.

Lifting is deliberately hard. An opt-in from the person lifts their own opt-out; an admin may lift
anything with a written reason; nothing else lifts anything — an import in particular never does.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select, update

from accounts.events import actor_label
from accounts.models import Role, User
from compliance import audit
from compliance.models import Suppression, SuppressionError, SuppressionReason, SuppressionScope
from compliance.numbers import InvalidNumberError, to_e164
from dbtypes import conflict_insert, keyset_page, utcnow
from extensions import db

PAGE_SIZE = 50
# IN-lists this long stay well inside every database's parameter limit.
_CHUNK = 900

REASON_LABELS = {
    SuppressionReason.OPT_OUT: _l("Opted out"),
    SuppressionReason.BLOCK: _l("Blocked the business"),
    SuppressionReason.SPAM_REPORT: _l("Reported spam"),
    SuppressionReason.MANUAL: _l("Suppressed manually"),
    SuppressionReason.UNSURE_REPLY: _l("On hold: a reply awaits a decision"),
    SuppressionReason.BOT_STOPPED: _l("Stopped the bot"),
}
SCOPE_LABELS = {
    SuppressionScope.PERSON: _l("The person, on every channel"),
    SuppressionScope.ADDRESS: _l("This messenger address only"),
}
# Where a suppression came from (the ``source`` the callers of ``suppress`` pass).
SOURCE_LABELS = {
    "ui": _l("Web interface"),
    "cli": _l("Command line"),
    "api": _l("API"),
    "import": _l("File import"),
    "keyword": _l("Opt-out reply"),
    "webhook": _l("Provider report"),
    "reply": _l("Customer's reply"),
    "decision": _l("Decision on a reply"),
    "preference": _l("Stopped marketing messages in WhatsApp"),
    "block_report": _l("Block or spam report"),
    "bot": _l("Messenger bot event"),
    "bot_reply": _l("Reply to a messenger bot"),
}
# The sources of an opt-out that the person's own provider setting made (the stop in WhatsApp, or the 131050
# failure that follows it): resuming marketing messages there lifts these, and no other opt-out.
PROVIDER_OPT_OUT_SOURCES = ("preference", "webhook")
# Why a suppression was lifted, when the system wrote a code rather than a person a sentence.
LIFT_REASON_LABELS = {
    "opt-in": _l("The person opted back in"),
    "reply_refusal": _l("The reply was a refusal: opted out"),
    "reply_not_refusal": _l("The reply was not a refusal: messages may resume"),
    "preference_resume": _l("The person resumed marketing messages in WhatsApp"),
    "bot_restarted": _l("The person started the bot again"),
}


# "max:123", "telegram:-100500": a channel, a colon, the person's id on it (never a "/", so it fits a URL path).
ADDRESS_KEY = re.compile(r"[a-z]{2,16}:[^\s/]{1,80}")
# How pages name the messenger of an address key (product names, the same in every language).
MESSENGER_NAMES = {"max": "MAX", "telegram": "Telegram"}


def is_address_key(key: str) -> bool:
    """Whether ``key`` is a messenger address key ("max:123") rather than an E.164 number."""
    return ":" in key


def key_column(key: str):
    """The column of ``Suppression`` that holds ``key``: ``address_key`` for an address key, else ``phone``."""
    return Suppression.address_key if is_address_key(key) else Suppression.phone


def key_of(entry: Suppression) -> str:
    """The key an entry suppresses: its number, or its messenger address key."""
    return entry.phone or entry.address_key or ""


def parse_key(raw: str, region: str) -> str:
    """A key as typed or in a URL: an address key as it is ("max:123"), else a number in E.164; raises
    ``InvalidNumberError`` for neither."""
    raw = (raw or "").strip()
    if is_address_key(raw):
        if ADDRESS_KEY.fullmatch(raw):
            return raw
        raise InvalidNumberError(_l("“%(key)s” is neither a phone number nor a messenger address.", key=raw[:40]))
    return to_e164(raw, region)


def display_key(key: str) -> str:
    """A key as pages show it: a number as it is, an address key as "MAX 123"."""
    if not is_address_key(key):
        return key
    channel, _sep, user_id = key.partition(":")
    return f"{MESSENGER_NAMES.get(channel, channel)} {user_id}"


def open_entries(key: str) -> list[Suppression]:
    """The suppressions of ``key`` (a number or an address key) in force now."""
    query = select(Suppression).where(key_column(key) == key, Suppression.lifted_at.is_(None))
    return list(db.session.scalars(query.order_by(Suppression.id)))


def history(key: str) -> list[Suppression]:
    """Every suppression ``key`` (a number or an address key) ever had, newest first."""
    return list(
        db.session.scalars(select(Suppression).where(key_column(key) == key).order_by(Suppression.id.desc()))
    )


def histories(keys: Iterable[str]) -> list[Suppression]:
    """Every suppression any of ``keys`` ever had, newest first (a person's number and addresses in one list)."""
    keys = list(dict.fromkeys(key for key in keys if key))
    phones = [key for key in keys if not is_address_key(key)]
    addresses = [key for key in keys if is_address_key(key)]
    if not keys:
        return []
    return list(db.session.scalars(
        select(Suppression).where(or_(Suppression.phone.in_(phones), Suppression.address_key.in_(addresses)))
        .order_by(Suppression.id.desc())
    ))


def suppressed_reasons(keys: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """For each of ``keys`` (numbers or address keys) that is suppressed now, the reasons; keys not suppressed
    are absent."""
    keys = list(dict.fromkeys(keys))
    found: dict[str, list[str]] = defaultdict(list)
    for column, wanted in ((Suppression.phone, [key for key in keys if not is_address_key(key)]),
                           (Suppression.address_key, [key for key in keys if is_address_key(key)])):
        for start in range(0, len(wanted), _CHUNK):
            rows = db.session.execute(
                select(column, Suppression.reason)
                .where(column.in_(wanted[start:start + _CHUNK]), Suppression.lifted_at.is_(None))
            )
            for key, reason in rows:
                found[key].append(reason.value)
    return {key: tuple(sorted(reasons)) for key, reasons in found.items()}


def suppress(
    key: str,
    reason: SuppressionReason,
    *,
    source: str,
    scope: SuppressionScope | None = None,
    actor: User | None = None,
    note: str = "",
    evidence: str = "",
    at: datetime | None = None,
) -> tuple[Suppression, bool]:
    """Suppress ``key`` (an E.164 number or a messenger address key) for ``reason``; returns the entry and
    whether it is new.

    ``scope`` defaults to the person (every channel), except for ``BOT_STOPPED``, which closes one address.
    Suppressing a key already suppressed for the same reason changes nothing (the first
    evidence stands), so a repeated STOP or a re-delivered webhook is harmless.
    """
    if scope is None:
        scope = SuppressionScope.ADDRESS if reason is SuppressionReason.BOT_STOPPED else SuppressionScope.PERSON
    note = (note or "").strip()
    if reason is SuppressionReason.MANUAL and not note:
        raise SuppressionError(_l("Write a note saying why this number is suppressed."))
    current = _open_entry(key, reason)
    if current is not None:
        return current, False
    column = "address_key" if is_address_key(key) else "phone"
    values = {
        column: key, "scope": scope.value, "reason": reason.value, "source": source, "note": note,
        "evidence": (evidence or "")[:255],
        "created_at": at or utcnow(), "actor_id": getattr(actor, "id", None), "actor_label": actor_label(actor),
    }
    # Two workers handling the same STOP at once: the unique index on open entries lets one insert
    # win and the other do nothing, inside the caller's transaction (no savepoint, which SQLite's
    # driver would commit on its own).
    insert = conflict_insert(Suppression, db.session.get_bind().dialect.name).values(**values)
    # The partial unique index of the key's column: uq_suppressions_open (phone) or uq_suppressions_open_address.
    insert = insert.on_conflict_do_nothing(
        index_elements=[column, "reason"], index_where=Suppression.lifted_at.is_(None)
    )
    new_id = db.session.execute(insert.returning(Suppression.id)).scalar()
    if new_id is None:
        return _open_entry(key, reason), False
    entry = db.session.get(Suppression, new_id)
    audit.record("suppression.added", actor=actor, target=entry, details=_describe(entry))
    return entry, True


def lift_opt_out(key: str, *, evidence: str = "", at: datetime | None = None) -> list[Suppression]:
    """The person opted back in (START): lift the opt-out of ``key`` (a number or an address key), and nothing
    else."""
    rows = [row for row in open_entries(key) if row.reason is SuppressionReason.OPT_OUT]
    return _lift(rows, actor=None, reason_text="opt-in", evidence=evidence, at=at)


def lift_provider_opt_out(phone: str, *, at: datetime, evidence: str = "") -> list[Suppression]:
    """The person resumed marketing messages in the provider's app: lift their opt-out if the provider's setting
    made it (``PROVIDER_OPT_OUT_SOURCES``) before ``at``; a keyword STOP, a block, a spam report or a manual
    suppression stays."""
    rows = [row for row in open_entries(phone) if row.reason is SuppressionReason.OPT_OUT
            and row.source in PROVIDER_OPT_OUT_SOURCES and row.created_at <= at]
    return _lift(rows, actor=None, reason_text="preference_resume", evidence=evidence, at=at)


def resumed_since(phone: str, at: datetime) -> bool:
    """Whether a provider opt-out of ``phone`` was lifted by a resume at or after ``at`` (a stop older than that
    resume, arriving late, must not undo it)."""
    return db.session.scalar(select(Suppression.id).where(
        Suppression.phone == phone, Suppression.reason == SuppressionReason.OPT_OUT,
        Suppression.lift_reason == "preference_resume", Suppression.lifted_at >= at).limit(1)) is not None


def lift_hold(key: str, *, actor: User | None, reason_text: str) -> list[Suppression]:
    """End the hold an unclear reply put on ``key`` (``replies.decide_unsure`` decides; nothing else calls this)."""
    rows = [row for row in open_entries(key) if row.reason is SuppressionReason.UNSURE_REPLY]
    return _lift(rows, actor=actor, reason_text=reason_text, evidence="", at=None)


def lift(phone: str, *, reason_text: str, actor: User | None) -> list[Suppression]:
    """An admin (or the server's operator, ``actor=None``) lifts the suppressions of ``phone`` (a number or an
    address key).

    Every reason but an opt-out and a stopped bot: the person opted out (or stopped the bot), so only the person
    opts back in (START, or starting the bot again).
    """
    if actor is not None and not actor.has_role(Role.ADMIN):
        raise SuppressionError(_l("Only an admin can lift a suppression."))
    reason_text = (reason_text or "").strip()
    if not reason_text:
        raise SuppressionError(_l("Write the reason for lifting the suppression."))
    rows = open_entries(phone)
    if not rows:
        raise SuppressionError(_l("%(phone)s is not suppressed.", phone=display_key(phone)))
    liftable = [row for row in rows
                if row.reason not in (SuppressionReason.OPT_OUT, SuppressionReason.BOT_STOPPED)]
    if not liftable:
        raise SuppressionError(
            _l("%(phone)s opted out; only the person can opt back in, by replying START.", phone=display_key(phone))
        )
    return _lift(liftable, actor=actor, reason_text=reason_text, evidence="", at=None)


def lift_entries(rows: list[Suppression], *, reason_text: str, evidence: str = "",
                 at: datetime | None = None) -> list[Suppression]:
    """Lift these open entries on the person's own word (a bot started again); ``reason_text`` is a code of
    ``LIFT_REASON_LABELS``. Callers choose the rows; an entry already lifted is left as it is."""
    return _lift(rows, actor=None, reason_text=reason_text, evidence=evidence, at=at)


def _lift(
    rows: list[Suppression], *, actor: User | None, reason_text: str, evidence: str, at: datetime | None
) -> list[Suppression]:
    lifted = []
    for row in rows:
        # Only a row still open is lifted: of two lifts at once, the second changes nothing rather
        # than overwriting who lifted it and why.
        result = db.session.execute(
            update(Suppression).where(Suppression.id == row.id, Suppression.lifted_at.is_(None)).values(
                lifted_at=at or utcnow(), lifted_by_id=getattr(actor, "id", None), lifted_by_label=actor_label(actor),
                lift_reason=reason_text, lift_evidence=evidence[:255],
            ).execution_options(synchronize_session=False)
        )
        db.session.refresh(row)
        if result.rowcount:
            lifted.append(row)
            audit.record(
                "suppression.lifted", actor=actor, target=row, details={**_describe(row), "lift_reason": reason_text}
            )
    return lifted


def _open_entry(key: str, reason: SuppressionReason) -> Suppression | None:
    return db.session.scalar(
        select(Suppression).where(
            key_column(key) == key, Suppression.reason == reason, Suppression.lifted_at.is_(None)
        )
    )


def _describe(entry: Suppression) -> dict[str, Any]:
    details = {"phone": entry.phone, "reason": entry.reason.value, "source": entry.source, "evidence": entry.evidence}
    if entry.address_key:
        details.update(address_key=entry.address_key, scope=entry.scope.value)
    return details


@dataclass(frozen=True)
class SuppressionPage:
    entries: list[Suppression]
    query: str
    include_lifted: bool
    next_before: int | None


def browse(
    query: str = "",
    *,
    region: str = "RU",
    include_lifted: bool = False,
    before_id: int | None = None,
    limit: int = PAGE_SIZE,
) -> SuppressionPage:
    """Newest entries first, matching ``query``: a number as typed, some of its digits (of a number or a messenger
    address), an address key, or words of the note."""
    query = (query or "").strip()[:64]
    statement = select(Suppression).order_by(Suppression.id.desc()).limit(limit + 1)
    if not include_lifted:
        statement = statement.where(Suppression.lifted_at.is_(None))
    if query:
        digits = "".join(ch for ch in query if ch.isdigit())
        conditions = [Suppression.note.contains(query, autoescape=True)]
        if is_address_key(query):
            conditions.append(Suppression.address_key == query.lower())
        if digits:
            conditions.append(Suppression.phone.contains(digits, autoescape=True))
            conditions.append(Suppression.address_key.contains(digits, autoescape=True))
        try:  # "8 903 111-22-33" is +79031112233, whose digits do not contain 89031112233
            conditions.append(Suppression.phone == to_e164(query, region))
        except InvalidNumberError:
            pass
        statement = statement.where(or_(*conditions))
    if before_id is not None:
        statement = statement.where(Suppression.id < before_id)
    rows, next_before = keyset_page(list(db.session.scalars(statement)), limit)
    return SuppressionPage(rows, query, include_lifted, next_before)
