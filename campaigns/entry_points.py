"""Entry points: creating, changing and archiving them, the codes and personal tokens, what a start's payload
names, and the counters.

A code (the entry point's own, printed on a poster or in a QR) creates a contact with consent evidence
``qr:<code>``; a personal token (minted for one known contact, sent in an order e-mail or an SMS) links the
person's bot address to that contact. Both are random (``secrets``) and fit every platform's start payload:
Telegram's ``start`` takes at most 64 characters of ``A-Za-z0-9_-``, MAX's at most 128 (docs/entry_points.md).
Counters move by ``UPDATE … SET n = n + k`` only, so concurrent workers and page views never lose a count.
Services add and flush; the edges commit.
"""

from __future__ import annotations

import enum
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, delete, select, update

from audience.models import Contact
from campaigns.entry_point_models import EntryPoint, EntryPointSender, EntryToken
from campaigns.models import Campaign, Sender, SenderChannel
from compliance import audit
from compliance.keywords import Intent, classify_reply
from compliance.numbers import InvalidNumberError, to_e164
from dbtypes import UTCDateTime, utcnow
from domain_errors import DomainError
from extensions import db

# Codes are read off posters and typed into WhatsApp: lower-case letters and digits without look-alikes
# (no 0/o, 1/l/i). 8 of 31 symbols: about 8.5·10¹¹ codes, so a guessed one is almost never live.
CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
CODE_LENGTH = 8
# A personal token: 16 random bytes, URL-safe base64 (22 characters of A-Za-z0-9_-), 128 bits.
TOKEN_BYTES = 16
# What any start payload may be (Telegram's deep-link alphabet and length; MAX allows more, never this less).
PAYLOAD = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
KEYWORD = re.compile(r"^\w{1,32}$", re.UNICODE)
DEFAULT_KEYWORD = "ПОДПИСКА"
BOT_CHANNELS = (SenderChannel.MAX.value, SenderChannel.TELEGRAM.value)
WHATSAPP_CHANNELS = (SenderChannel.SANDBOX.value, SenderChannel.WHATSAPP_CLOUD.value)
NAME_LIMIT = 200
LABEL_LIMIT = 100


class EntryPointError(DomainError):
    """An entry point or a token cannot be made or changed as asked."""


class StartKind(str, enum.Enum):
    """What a start's payload turned out to be."""

    NONE = "none"  # no payload: the person opened the bot directly
    SOURCE = "source"  # an entry point's own code
    PERSONAL = "personal"  # a personal token of a known contact
    UNKNOWN = "unknown"  # a payload we never issued
    EXPIRED = "expired"  # ours, but expired or archived


@dataclass(frozen=True)
class Resolved:
    kind: StartKind
    entry_point: EntryPoint | None = None
    token: EntryToken | None = None

    @property
    def consent_source(self) -> str:
        """The opt-in evidence a start of this kind records."""
        if self.kind is StartKind.SOURCE:
            return f"qr:{self.entry_point.code}"
        if self.kind is StartKind.PERSONAL:
            return f"personal:{self.entry_point.code}"
        return "bot_start"


# --- codes and tokens ------------------------------------------------------------------------------------

def new_code() -> str:
    """A fresh random entry-point code (not checked against the table: ``create_entry_point`` does that)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def new_token() -> str:
    """A fresh random personal token."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def _unused_code() -> str:
    for _attempt in range(10):
        code = new_code()
        if db.session.scalar(select(EntryPoint.id).where(EntryPoint.code == code)) is None:
            return code
    raise RuntimeError("ten random entry-point codes in a row were taken")  # 8.5·10¹¹ codes: never in practice


def is_live(entry_point: EntryPoint, now: datetime | None = None) -> bool:
    """Whether the entry point takes people in now: not archived, not expired."""
    now = now or utcnow()
    return entry_point.archived_at is None and (entry_point.expires_at is None or entry_point.expires_at > now)


def find_by_code(code: str) -> EntryPoint | None:
    """The entry point of ``code`` (any case), live or not."""
    code = (code or "").strip().lower()
    if not code or len(code) > 16:
        return None
    return db.session.scalar(select(EntryPoint).where(EntryPoint.code == code))


def resolve_payloads(payloads: Iterable[str | None], sender_id: int, now: datetime | None = None
                     ) -> dict[str | None, Resolved]:
    """What each start payload of the bot ``sender_id`` names, for a batch: three queries whatever its size. A
    payload outside the platforms' alphabet, one we never issued, or one of an entry point that does not offer
    this bot (its links never lead here) is ``UNKNOWN``; an expired or archived one ``EXPIRED``."""
    result = _resolve(payloads, now or utcnow())
    named = {what.entry_point.id for what in result.values() if what.entry_point is not None}
    offering = set(db.session.scalars(select(EntryPointSender.entry_point_id).where(
        EntryPointSender.entry_point_id.in_(named), EntryPointSender.sender_id == sender_id))) if named else set()
    unknown = Resolved(StartKind.UNKNOWN)
    return {payload: what if what.entry_point is None or what.entry_point.id in offering else unknown
            for payload, what in result.items()}


def _resolve(payloads: Iterable[str | None], now: datetime) -> dict[str | None, Resolved]:
    wanted = set(payloads)
    result: dict[str | None, Resolved] = {}
    valid = {payload for payload in wanted if payload and PAYLOAD.match(payload)}
    for payload in wanted:
        result[payload] = Resolved(StartKind.NONE if not (payload or "").strip() else StartKind.UNKNOWN)
    codes = {payload.lower(): payload for payload in valid if len(payload) <= 16}
    if codes:
        for entry_point in db.session.scalars(select(EntryPoint).where(EntryPoint.code.in_(codes))):
            payload = codes[entry_point.code]
            kind = StartKind.SOURCE if is_live(entry_point, now) else StartKind.EXPIRED
            result[payload] = Resolved(kind, entry_point)
    tokens = [payload for payload in valid if result[payload].kind is StartKind.UNKNOWN]
    if tokens:
        rows = db.session.execute(select(EntryToken, EntryPoint)
                                  .join(EntryPoint, EntryPoint.id == EntryToken.entry_point_id)
                                  .where(EntryToken.token.in_(tokens)))
        for token, entry_point in rows:
            live = is_live(entry_point, now) and (token.expires_at is None or token.expires_at > now)
            result[token.token] = Resolved(StartKind.PERSONAL if live else StartKind.EXPIRED, entry_point, token)
    return result


def mint_token(entry_point: EntryPoint, contact: Contact, *, expires_at: datetime | None = None,
               actor: Any = None) -> EntryToken:
    """A personal token of ``entry_point`` for ``contact``: a start with it links the bot address to that contact.
    Refused for an archived or expired entry point, or an expiry in the past. Flushes."""
    now = utcnow()
    if not is_live(entry_point, now):
        raise EntryPointError(_("This entry point is archived or expired; tokens are minted only for a live one."),
                              status=409)
    if expires_at is not None and expires_at <= now:
        raise EntryPointError(_("The token's expiry must be in the future."), field="expires_at")
    if entry_point.expires_at is not None and (expires_at is None or expires_at > entry_point.expires_at):
        expires_at = entry_point.expires_at  # a token never outlives its entry point
    token = EntryToken(token=new_token(), entry_point_id=entry_point.id, contact_id=contact.id, expires_at=expires_at,
                       created_by_id=getattr(actor, "id", None), created_at=now)
    db.session.add(token)
    db.session.flush()
    audit.record("entry_point.token_minted", actor=actor, target=entry_point,
                 details={"contact_id": contact.id, "token_id": token.id,
                          "expires_at": expires_at.isoformat() if expires_at else None})
    return token


def mint_for(entry_point: EntryPoint, contact_reference: str, *, expires_at: datetime | None = None,
             actor: Any = None) -> EntryToken:
    """``mint_token`` for the contact a phone number or an id names; ``EntryPointError`` (404) if none does."""
    contact = find_contact(str(contact_reference))
    if contact is None:
        raise EntryPointError(_("There is no contact with this phone number or id."), field="contact", status=404)
    return mint_token(entry_point, contact, expires_at=expires_at, actor=actor)


def find_entry_point(reference: str | int) -> EntryPoint | None:
    """An entry point by its code, or by its id (digits)."""
    text = str(reference).strip()
    return find_by_code(text) or (db.session.get(EntryPoint, int(text)) if text.isdigit() else None)


# --- entry points ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Changes:
    """What a form, the API or the CLI asks an entry point to be."""

    name: str
    sender_ids: tuple[int, ...]
    keyword: str = DEFAULT_KEYWORD
    campaign_id: int | None = None
    source_label: str = ""
    expires_at: datetime | None = None


def _checked(changes: Changes) -> tuple[Changes, list[Sender]]:
    errors: list[tuple[str | None, Any]] = []
    name = (changes.name or "").strip()
    if not name:
        errors.append(("name", _("Name the entry point.")))
    elif len(name) > NAME_LIMIT:
        errors.append(("name", _("The name is longer than %(limit)s characters.", limit=NAME_LIMIT)))
    label = (changes.source_label or "").strip()
    if len(label) > LABEL_LIMIT:
        errors.append(("source_label", _("The source label is longer than %(limit)s characters.", limit=LABEL_LIMIT)))
    ids = tuple(dict.fromkeys(changes.sender_ids))
    chosen = {sender.id: sender for sender in db.session.scalars(select(Sender).where(Sender.id.in_(ids)))}
    senders = [chosen[sender_id] for sender_id in ids if sender_id in chosen]
    if len(senders) != len(ids):
        errors.append(("sender_ids", _("One of the chosen senders does not exist.")))
    if not ids:
        errors.append(("sender_ids", _("Choose at least one bot or WhatsApp number the entry point offers.")))
    for sender in senders:
        if sender.channel in BOT_CHANNELS and not (sender.bot_username or "").strip().lstrip("@"):
            errors.append(("sender_ids", _("The bot “%(name)s” has no username, so no deep link can be made for it.",
                                           name=sender.name)))
        elif sender.channel in WHATSAPP_CHANNELS and not sender.phone:
            errors.append(("sender_ids", _("The sender “%(name)s” has no number.", name=sender.name)))
    keyword = (changes.keyword or "").strip()
    if any(sender.channel in WHATSAPP_CHANNELS for sender in senders):
        if not KEYWORD.match(keyword):
            errors.append(("keyword", _("The WhatsApp keyword is one word of letters or digits, at most 32.")))
        elif classify_reply(keyword) in (Intent.OPT_OUT, Intent.HELP):
            errors.append(("keyword", _("“%(word)s” already means a request to stop or for help; choose another "
                                        "keyword.", word=keyword)))
    if changes.campaign_id is not None and db.session.get(Campaign, changes.campaign_id) is None:
        errors.append(("campaign_id", _("There is no campaign with this id.")))
    if errors:
        raise EntryPointError(errors=errors)
    return Changes(name, ids, keyword, changes.campaign_id, label, changes.expires_at), senders


def _set_senders(entry_point: EntryPoint, sender_ids: Sequence[int]) -> None:
    db.session.execute(delete(EntryPointSender).where(EntryPointSender.entry_point_id == entry_point.id))
    db.session.add_all(EntryPointSender(entry_point_id=entry_point.id, sender_id=sender_id, position=position)
                       for position, sender_id in enumerate(sender_ids))


def _details(changes: Changes) -> dict[str, Any]:
    return {"name": changes.name, "senders": list(changes.sender_ids), "keyword": changes.keyword,
            "campaign_id": changes.campaign_id, "source_label": changes.source_label,
            "expires_at": changes.expires_at.isoformat() if changes.expires_at else None}


def create_entry_point(changes: Changes, *, actor: Any = None) -> EntryPoint:
    """A new entry point with a fresh random code. Raises ``EntryPointError`` with the sentences. Flushes."""
    changes, _senders = _checked(changes)
    now = utcnow()
    entry_point = EntryPoint(name=changes.name, code=_unused_code(), keyword=changes.keyword,
                             campaign_id=changes.campaign_id, source_label=changes.source_label,
                             expires_at=changes.expires_at, created_by_id=getattr(actor, "id", None),
                             created_at=now, updated_at=now, visits=0, starts=0, opt_ins=0)
    db.session.add(entry_point)
    db.session.flush()
    _set_senders(entry_point, changes.sender_ids)
    db.session.flush()
    audit.record("entry_point.created", actor=actor, target=entry_point, details={"code": entry_point.code,
                                                                                   **_details(changes)})
    return entry_point


def update_entry_point(entry_point: EntryPoint, changes: Changes, *, actor: Any = None) -> EntryPoint:
    """Change what the entry point is called and offers (its code and counters stay). Flushes."""
    changes, _senders = _checked(changes)
    entry_point.name, entry_point.keyword = changes.name, changes.keyword
    entry_point.campaign_id, entry_point.source_label = changes.campaign_id, changes.source_label
    entry_point.expires_at, entry_point.updated_at = changes.expires_at, utcnow()
    _set_senders(entry_point, changes.sender_ids)
    db.session.flush()
    audit.record("entry_point.updated", actor=actor, target=entry_point, details=_details(changes))
    return entry_point


def set_archived(entry_point: EntryPoint, archived: bool, *, actor: Any = None) -> EntryPoint:
    """Archive the entry point (its code and tokens stop taking people in; its page answers politely) or
    bring it back. Flushes."""
    if archived == (entry_point.archived_at is not None):
        return entry_point
    entry_point.archived_at = utcnow() if archived else None
    entry_point.updated_at = utcnow()
    db.session.flush()
    audit.record("entry_point.archived" if archived else "entry_point.restored", actor=actor, target=entry_point,
                 details={"code": entry_point.code})
    return entry_point


def list_entry_points(archived: bool = False) -> list[EntryPoint]:
    """The live-or-expired entry points (or the archived ones), newest first."""
    condition = EntryPoint.archived_at.is_not(None) if archived else EntryPoint.archived_at.is_(None)
    return list(db.session.scalars(select(EntryPoint).where(condition).order_by(EntryPoint.id.desc())))


def offered_senders(entry_point_ids: Iterable[int]) -> dict[int, list[Sender]]:
    """The senders each entry point offers, in the page's order (one query)."""
    ids = list(entry_point_ids)
    offered: dict[int, list[Sender]] = {entry_point_id: [] for entry_point_id in ids}
    if not ids:
        return offered
    rows = db.session.execute(select(EntryPointSender.entry_point_id, Sender)
                              .join(Sender, Sender.id == EntryPointSender.sender_id)
                              .where(EntryPointSender.entry_point_id.in_(ids))
                              .order_by(EntryPointSender.entry_point_id, EntryPointSender.position))
    for entry_point_id, sender in rows:
        offered[entry_point_id].append(sender)
    return offered


def find_contact(reference: str) -> Contact | None:
    """A contact by phone number (any spelling the number parser reads), else by id (digits)."""
    reference = (reference or "").strip()
    try:
        phone = to_e164(reference)
    except InvalidNumberError:
        phone = None
    if phone is not None:
        contact = db.session.scalar(select(Contact).where(Contact.phone == phone))
        if contact is not None:
            return contact
    return db.session.get(Contact, int(reference)) if reference.isdigit() else None


# --- counters --------------------------------------------------------------------------------------------

def count_visit(entry_point_id: int) -> None:
    """One more view of the public page (one UPDATE; flushes nothing else)."""
    db.session.execute(update(EntryPoint).where(EntryPoint.id == entry_point_id)
                       .values(visits=EntryPoint.visits + 1).execution_options(synchronize_session=False))


def count_starts(counts: Mapping[int, tuple[int, int]]) -> None:
    """Add ``(starts, opt_ins)`` to each entry point, for a batch: one executemany UPDATE."""
    if not counts:
        return
    table = EntryPoint.__table__
    db.session.execute(
        update(table).where(table.c.id == bindparam("ep"))
        .values(starts=table.c.starts + bindparam("s"), opt_ins=table.c.opt_ins + bindparam("o")),
        [{"ep": entry_point_id, "s": starts, "o": opt_ins}
         for entry_point_id, (starts, opt_ins) in sorted(counts.items())])


def count_token_uses(uses: Mapping[int, tuple[int, datetime]]) -> None:
    """Add each personal token's uses in a batch and note the latest (one executemany UPDATE)."""
    if not uses:
        return
    table = EntryToken.__table__
    db.session.execute(
        update(table).where(table.c.id == bindparam("tid"))
        .values(uses=table.c.uses + bindparam("n"), last_used_at=bindparam("at", type_=UTCDateTime())),
        [{"tid": token_id, "n": n, "at": at} for token_id, (n, at) in sorted(uses.items())])


ACTION_LABELS = {
    "entry_point.created": _l("Entry point created"),
    "entry_point.updated": _l("Entry point changed"),
    "entry_point.archived": _l("Entry point archived"),
    "entry_point.restored": _l("Entry point restored"),
    "entry_point.token_minted": _l("Personal token minted"),
}
