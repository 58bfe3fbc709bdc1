"""Password hashing (Argon2id) and the password policy."""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_babel import lazy_gettext as _l


def _hasher() -> PasswordHasher:
    config = current_app.config
    return PasswordHasher(
        time_cost=config["PASSWORD_HASH_TIME_COST"], memory_cost=config["PASSWORD_HASH_MEMORY_KIB"]
    )


def hash_password(password: str) -> str:
    """An Argon2id hash of ``password`` with a random salt."""
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; a missing or malformed hash never matches."""
    if not password_hash:
        return False
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than the current ones."""
    return _hasher().check_needs_rehash(password_hash)


# Verifying against this when the account doesn't exist makes both paths cost the same time,
# so response times don't reveal which e-mail addresses have accounts.
def burn_verification_time(password: str) -> None:
    """Spend as long as a real verification would."""
    config = current_app.config
    verify_password(_dummy_hash(config["PASSWORD_HASH_TIME_COST"], config["PASSWORD_HASH_MEMORY_KIB"]), password)


@functools.cache
def _dummy_hash(time_cost: int, memory_kib: int) -> str:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib).hash("not-a-real-password")


def password_problem(password: str, email: str = "") -> str | None:
    """Why ``password`` is unacceptable, as a sentence, or None when it is fine."""
    minimum = current_app.config["PASSWORD_MIN_LENGTH"]
    if len(password) < minimum:
        return str(_l("The password must be at least %(n)d characters long.", n=minimum))
    if len(set(password)) < 5:
        return str(_l("The password repeats too few different characters."))
    local_part = email.split("@", 1)[0].lower()
    if len(local_part) >= 4 and local_part in password.lower():
        return str(_l("The password must not contain your e-mail address."))
    return None
