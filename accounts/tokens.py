"""Personal API tokens: created once and shown once, stored as SHA-256, revocable."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from accounts.events import announce
from accounts.models import ApiToken, User
from accounts.users import AccountError
from dbtypes import utcnow
from extensions import db

TOKEN_PREFIX = "vst_"
# Recording every use would turn every API read into a write; a minute's precision is plenty.
LAST_USED_PRECISION = timedelta(minutes=1)


def _digest(token: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(user: User, name: str, *, expires_in_days: int | None = None) -> tuple[ApiToken, str]:
    """Make a token for ``user``; returns the row and the plaintext, which is never stored."""
    name = name.strip()
    if not name:
        raise AccountError(_l("Give the token a name so you can recognise it later."))
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user=user,
        name=name,
        prefix=plaintext[: len(TOKEN_PREFIX) + 6],
        token_hash=_digest(plaintext),
        expires_at=utcnow() + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    db.session.add(token)
    db.session.flush()
    announce("api_token.created", actor=user, target=token, name=name, prefix=token.prefix)
    return token, plaintext


def revoke_token(user: User, token_id: int) -> ApiToken:
    """Revoke one of ``user``'s own tokens."""
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise AccountError(_l("There is no such token."))
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        db.session.flush()
        announce("api_token.revoked", actor=user, target=token, name=token.name, prefix=token.prefix)
    return token


def user_for_token(plaintext: str, now: datetime | None = None) -> User | None:
    """The active owner of a usable token, or None."""
    if not plaintext.startswith(TOKEN_PREFIX):
        return None
    now = now or utcnow()
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(plaintext)))
    if token is None or not token.is_usable(now) or not token.user.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_PRECISION:
        token.last_used_at = now
    return token.user
