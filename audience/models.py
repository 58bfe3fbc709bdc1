"""Audience tables: contacts with their consent proof, imports with their report, saved segments."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    and_,
    case,
    cast,
    func,
    literal_column,
    null,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column

from audience.person_names import formal_address
from dbtypes import BigId, UTCDateTime, utcnow, value_enum
from extensions import db


class Contact(db.Model):
    """One person who opted in, keyed by their number in E.164 — or, for a person who came in through a bot's
    entry point and never gave a number, by their messenger addresses only (``phone`` None).

    Whether they may be messaged now is not stored here: the suppression list (compliance) is keyed
    by number (and by messenger address) and always wins, so a re-import can never re-subscribe anybody.
    """

    __tablename__ = "contacts"
    # Segment counts read these indexes and never the table (see audience.segments): a country on
    # its own (the narrowest index counts 86% of a million in ~30 ms), a region with or without its
    # country, a radius's box, and the city match below.
    __table_args__ = (
        Index("ix_contacts_country", "country"),
        Index("ix_contacts_region_country", "region", "country"),
        Index("ix_contacts_latitude_longitude", "latitude", "longitude"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    phone: Mapped[str | None] = mapped_column(String(16), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    # Case-folded name for search: SQLite's lower() only folds ASCII, and names are mostly Cyrillic.
    name_key: Mapped[str | None] = mapped_column(String(200), index=True)
    # The parts of the name as Russian business writes them; ``name`` is the display name, composed from them
    # when an import gives them (audience.person_names), so everything that shows a name keeps working.
    first_name: Mapped[str | None] = mapped_column(String(100))
    patronymic: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str | None] = mapped_column(String(2))
    region: Mapped[str | None] = mapped_column(String(120))
    city: Mapped[str | None] = mapped_column(String(120))
    # places.normalise_key(city): segments match 'г. Москва' and 'МОСКВА' alike.
    city_key: Mapped[str | None] = mapped_column(String(120))
    place_id: Mapped[int | None] = mapped_column(Integer)  # geonameid of the matched city
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    # One IANA zone when known; None means "any zone of the number's country" at send time.
    timezone: Mapped[str | None] = mapped_column(String(64), index=True)
    language: Mapped[str | None] = mapped_column(String(16))
    # '|vip|moscow|': one portable LIKE '%|vip|%' on SQLite and PostgreSQL alike.
    tags: Mapped[str] = mapped_column(String(1000), default="")
    attributes: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    consent_source: Mapped[str] = mapped_column(String(300))
    consent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    consent_import_id: Mapped[int | None] = mapped_column(ForeignKey("audience_imports.id"))
    consent_row: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @hybrid_property
    def first_and_patronymic(self) -> str | None:
        """The formal address ("Анна Сергеевна"), or None without both parts: a template variable falls back."""
        return formal_address(self.first_name, self.patronymic)

    @first_and_patronymic.inplace.expression
    @classmethod
    def _first_and_patronymic_expression(cls) -> ColumnElement[str | None]:
        # The same in SQL, for the launch's set-wise rendering (campaigns.materialise).
        first, middle = func.trim(cls.first_name), func.trim(cls.patronymic)
        both = and_(func.coalesce(first, "") != "", func.coalesce(middle, "") != "")
        return case((both, first + literal_column("' '", String) + middle), else_=null())

    @property
    def tag_list(self) -> list[str]:
        return [tag for tag in (self.tags or "").split("|") if tag]


# What a city segment compares, one value per contact: "#<geonameid>" for a contact the importer
# placed in a gazetteer city, else the key of the city as written. One value rather than
# "place_id IN … OR city_key IN …", so that one index answers a city on its own or with countries;
# PostgreSQL reads an expression index without visiting the table only if it holds the columns too.
# SQLAlchemy cannot reflect an expression index on SQLite (it warns and skips it), so a later batch
# migration that rebuilds the contacts table on SQLite must create this index again.
CITY_MATCH = func.coalesce(literal_column("'#'", String) + cast(Contact.place_id, String), Contact.city_key)
Index("ix_contacts_city_match", CITY_MATCH, Contact.country, postgresql_include=["place_id", "city_key"])


class AddressChannel(str, enum.Enum):
    """The messengers whose addresses a bot learns (WhatsApp's address is the contact's number itself)."""

    MAX = "max"
    TELEGRAM = "telegram"


class AddressStatus(str, enum.Enum):
    ACTIVE = "active"  # the person started the bot: it may write to them
    STOPPED = "stopped"  # the person stopped or blocked the bot
    UNREACHABLE = "unreachable"  # the provider says the chat does not exist (any more)


class ContactAddress(db.Model):
    """A contact's address on one bot (a MAX or Telegram user or chat id), with its own opt-in evidence.

    It exists only because the person came in through an entry point or wrote to the bot first: bots may
    write only to people who started them, so imports never create one. ``address_key`` ("max:<id>") is
    what the suppression list keys a messenger-only person by. The bot is a sender (``senders.id``).
    """

    __tablename__ = "contact_addresses"
    __table_args__ = (UniqueConstraint("sender_id", "address"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    sender_id: Mapped[int] = mapped_column(ForeignKey("senders.id", ondelete="CASCADE"))
    channel: Mapped[AddressChannel] = mapped_column(value_enum(AddressChannel))
    address: Mapped[str] = mapped_column(String(64))  # as the bot writes to it: user id or "chat:<id>"
    address_key: Mapped[str] = mapped_column(String(100), index=True)  # "<channel>:<person's user id>"
    status: Mapped[AddressStatus] = mapped_column(value_enum(AddressStatus), default=AddressStatus.ACTIVE)
    profile_name: Mapped[str] = mapped_column(String(200), default="")
    # The opt-in evidence: where (source, e.g. "qr:<code>" or "personal:<entry point>"), when, through which
    # entry point, and the provider's event that carried it.
    consent_source: Mapped[str] = mapped_column(String(300))
    consent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    entry_point_id: Mapped[int | None] = mapped_column(Integer)
    consent_event_id: Mapped[str] = mapped_column(String(128), default="")
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status_evidence: Mapped[str] = mapped_column(String(255), default="")  # the event or error that changed it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ImportStatus(str, enum.Enum):
    UPLOADED = "uploaded"  # file stored, mapping not confirmed yet
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Import(db.Model):
    """One uploaded file and what became of it; the summary and report are written with the data."""

    __tablename__ = "audience_imports"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    status: Mapped[ImportStatus] = mapped_column(value_enum(ImportStatus), default=ImportStatus.UPLOADED)
    file_name: Mapped[str] = mapped_column(String(255))
    file_sha256: Mapped[str] = mapped_column(String(64))
    file_size: Mapped[int] = mapped_column(Integer)
    # mapping, default_region, consent_source, sheet: everything that decides how the file is read.
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    uploaded_by_label: Mapped[str] = mapped_column(String(254))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)  # the sentence shown for a failed import
    job_id: Mapped[str | None] = mapped_column(String(64))


class ImportFile(db.Model):
    """The uploaded bytes, in the database so that a worker on any host can read them."""

    __tablename__ = "audience_import_files"

    import_id: Mapped[int] = mapped_column(ForeignKey("audience_imports.id", ondelete="CASCADE"), primary_key=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)


class IssueKind(str, enum.Enum):
    REJECTED = "rejected"
    WARNING = "warning"


class ImportIssue(db.Model):
    """A rejected row, or a warning about a kept one, for the downloadable error report."""

    __tablename__ = "audience_import_issues"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("audience_imports.id", ondelete="CASCADE"), index=True)
    row: Mapped[int] = mapped_column(Integer)  # as the spreadsheet numbers it: the header is row 1
    kind: Mapped[IssueKind] = mapped_column(value_enum(IssueKind))
    reason: Mapped[str] = mapped_column(String(32))  # a code; the sentence is rendered in the reader's language
    detail: Mapped[str] = mapped_column(String(300), default="")
    raw: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)


class ImportMerge(db.Model):
    """A row of an import whose number a later row repeats: merged into that row, for the report.

    The contact's consent proof names ``into_row``, the last row of the number, whose values stand.
    """

    __tablename__ = "audience_import_merges"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("audience_imports.id", ondelete="CASCADE"), index=True)
    row: Mapped[int] = mapped_column(Integer)  # as the spreadsheet numbers it: the header is row 1
    into_row: Mapped[int] = mapped_column(Integer)
    number_end: Mapped[str] = mapped_column(String(4))  # the last digits, enough to find the rows again


class Segment(db.Model):
    """A saved audience definition; its contacts are computed by one query whenever asked."""

    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
