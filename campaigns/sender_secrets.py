"""Senders' secrets at rest: access tokens, app secrets and webhook verify tokens, encrypted with Fernet.

The keys come from ``VESTNIK_SECRETS_KEY`` (``config.SECRETS_KEYS``; in embedded mode a key generated
once in ``instance/secrets_key``). Several keys, comma-separated, make a rotation: the first encrypts,
every one decrypts, and ``rotate`` re-encrypts a stored value with the first. A secret is never shown
again once saved: pages, the API, the CLI and the audit log see only its last four characters.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app
from flask_babel import gettext as _

from domain_errors import DomainError


class SecretError(DomainError):
    """A stored secret cannot be read with the keys in force (the key that encrypted it is gone)."""

    status = 409
    code = "secret"  # the kind of refusal, for a script reading the CLI's JSON


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key.encode("ascii")) for key in current_app.config["SECRETS_KEYS"]])


def encrypt(secret: str) -> str:
    """The secret encrypted with the first key (a Fernet token, text)."""
    return _fernet().encrypt(secret.encode("utf-8")).decode("ascii")


def _unreadable(owner: str) -> SecretError:
    return SecretError(_("A stored secret of the sender “%(name)s” cannot be decrypted with the keys in "
                         "VESTNIK_SECRETS_KEY; add back the key it was saved with, or enter the secret again.",
                         name=owner))


def decrypt(token: str | None, owner: str) -> str:
    """The secret a stored token holds ("" for none); ``SecretError`` naming the sender ``owner`` when no key
    in force opens it."""
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise _unreadable(owner) from None


def rotate(token: str | None, owner: str) -> str | None:
    """The stored token re-encrypted with the first key (None stays None); ``SecretError`` as ``decrypt``."""
    if not token:
        return token
    try:
        return _fernet().rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken:
        raise _unreadable(owner) from None


def last_four(secret: str) -> str:
    """What may be shown of a secret: its last four characters (fewer for a shorter secret)."""
    return secret[-4:] if len(secret) > 4 else ""
