"""Users, their roles and their personal API tokens."""

from __future__ import annotations

import enum
import secrets
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dbtypes import UTCDateTime, utcnow, value_enum
from extensions import db


class Role(str, enum.Enum):
    """What a user may do. An admin passes every role check."""

    ADMIN = "admin"
    MARKETER = "marketer"
    REVIEWER = "reviewer"


def new_session_nonce() -> str:
    """A fresh value for ``User.session_nonce``; changing it signs the user out everywhere."""
    return secrets.token_hex(8)


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    role: Mapped[Role] = mapped_column(value_enum(Role, validate_strings=True))
    language: Mapped[str] = mapped_column(String(5), default="en")
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Part of the session cookie's user id: rotating it ends every session of this user.
    session_nonce: Mapped[str] = mapped_column(String(32), default=new_session_nonce)
    invitation_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    invitation_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user", order_by="ApiToken.id")

    @property
    def is_active(self) -> bool:  # Flask-Login refuses to log in inactive users
        return self.active and self.password_hash is not None

    @property
    def is_invited(self) -> bool:
        """Invited but has not yet chosen a password."""
        return self.password_hash is None and self.invitation_hash is not None

    @property
    def state(self) -> str:
        """``active``, ``invited``, ``invitation_expired`` (never set a password) or ``deactivated``."""
        if not self.active:
            return "deactivated"
        if self.password_hash is not None:
            return "active"
        return "invited" if self.invitation_hash is not None else "invitation_expired"

    def get_id(self) -> str:
        return f"{self.id}:{self.session_nonce}"

    def has_role(self, *roles: Role) -> bool:
        """True when the user holds one of ``roles``; admins hold them all."""
        return self.role is Role.ADMIN or self.role in roles

    def __repr__(self) -> str:
        return f"<User {self.id} {self.role.value}>"


class ApiToken(db.Model):
    """A personal token for ``Authorization: Bearer``; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    # The first characters, shown in lists so people can tell their tokens apart.
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(back_populates="tokens")

    def is_usable(self, now: datetime) -> bool:
        """Not revoked, not expired."""
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)
