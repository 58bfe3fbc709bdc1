"""Account services: create, invite, sign in, change role, deactivate.

Views, the API and the CLI all call these. They add and flush; the caller commits. Every change is
announced through ``accounts.events`` so the audit log records it in the same transaction.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from accounts import passwords, throttle
from accounts.events import announce
from accounts.models import Role, User, new_session_nonce
from dbtypes import utcnow
from domain_errors import DomainError
from extensions import db


class AccountError(DomainError):
    """A request about an account that cannot be carried out; the message is a sentence."""


class LoginError(AccountError):
    """Sign-in refused; ``retry_after`` is set (seconds) when the refusal is a slow-down."""

    def __init__(self, message: str, retry_after: int = 0):
        super().__init__(message)
        self.retry_after = retry_after


def normalise_email(email: str) -> str:
    """The address in the form we store and compare: validated, domain lower-cased."""
    try:
        return validate_email(email.strip(), check_deliverability=False, globally_deliverable=False).normalized.lower()
    except EmailNotValidError:
        raise AccountError(_l("“%(email)s” is not a valid e-mail address.", email=email)) from None


def find_by_email(email: str) -> User | None:
    """The user with this e-mail address, in any letter case."""
    return db.session.scalar(select(User).where(User.email == email.strip().lower()))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _already_exists(email: str) -> AccountError:
    return AccountError(_l("There is already an account for %(email)s.", email=email))


def _check_language(language: str) -> str:
    if language not in current_app.config["LANGUAGES"]:
        raise AccountError(_l("Unknown language “%(language)s”.", language=language))
    return language


def create_user(
    email: str, role: Role, *, password: str, actor: User | None, name: str = "", language: str | None = None
) -> User:
    """Create an active account with a password (CLI and first-run bootstrap)."""
    email = normalise_email(email)
    if find_by_email(email) is not None:
        raise _already_exists(email)
    problem = passwords.password_problem(password, email)
    if problem:
        raise AccountError(problem)
    user = User(
        email=email,
        name=name,
        role=role,
        language=_check_language(language or current_app.config["BABEL_DEFAULT_LOCALE"]),
        password_hash=passwords.hash_password(password),
        created_by_id=actor.id if actor else None,
    )
    db.session.add(user)
    db.session.flush()
    announce("user.created", actor=actor, target=user, email=email, role=role.value)
    return user


def invite_user(email: str, role: Role, *, actor: User, name: str = "", language: str = "en") -> tuple[User, str]:
    """Invite ``email`` and return the account with its one-time invitation token.

    Inviting someone who was invited before but never set a password (their link may have
    expired) issues a fresh link for the same account; the old link stops working.
    """
    email = normalise_email(email)
    user = find_by_email(email)
    if user is not None and (user.password_hash is not None or not user.active):
        raise _already_exists(email)
    if user is None:
        user = User(email=email, created_by_id=actor.id)
        db.session.add(user)
    user.name = name
    user.role = role
    user.language = _check_language(language)
    token = secrets.token_urlsafe(32)
    user.invitation_hash = _digest(token)
    user.invitation_expires_at = utcnow() + timedelta(days=current_app.config["INVITATION_DAYS"])
    db.session.flush()
    announce("user.invited", actor=actor, target=user, email=email, role=role.value)
    return user, token


def find_invitation(token: str) -> User | None:
    """The invited user this token belongs to, if it is still valid."""
    user = db.session.scalar(select(User).where(User.invitation_hash == _digest(token)))
    if user is None or not user.active or user.invitation_expires_at is None:
        return None
    if user.invitation_expires_at <= utcnow():
        return None
    return user


def accept_invitation(token: str, password: str) -> User:
    """Set the invited user's password and record the sign-in that follows; the token stops working."""
    user = find_invitation(token)
    if user is None:
        raise AccountError(_l("This invitation link is no longer valid. Ask an administrator for a new one."))
    problem = passwords.password_problem(password, user.email)
    if problem:
        raise AccountError(problem)
    user.password_hash = passwords.hash_password(password)
    user.invitation_hash = None
    user.invitation_expires_at = None
    _signed_in(user)
    announce("user.invitation_accepted", actor=user, target=user)
    return user


def authenticate(email: str, password: str, address: str) -> User:
    """Check the credentials; raise LoginError with a sentence (and a wait) when refused.

    Failures are slowed down per e-mail and per client address; while a wait is pending even a
    correct password is refused, or the slow-down would not stop a guesser.
    """
    wait = throttle.seconds_until_allowed(email, address)
    if wait:
        announce("user.login_throttled", actor=None, target=None, email=email, address=address)
        raise LoginError(
            _l("Too many failed sign-in attempts. Try again in %(seconds)d seconds.", seconds=wait), retry_after=wait
        )
    user = find_by_email(email)
    if user is None:
        passwords.burn_verification_time(password)
        ok = False
    else:
        ok = passwords.verify_password(user.password_hash, password)
    if not ok or user is None or not user.is_active:
        throttle.record_failure(email, address)
        announce("user.login_failed", actor=None, target=user, email=email, address=address)
        if ok and user is not None:
            raise LoginError(_l("This account has been deactivated. Ask an administrator."))
        raise LoginError(_l("Wrong e-mail address or password."))
    throttle.forget_failures(email)
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    _signed_in(user)
    announce("user.login", actor=user, target=user, address=address)
    return user


def _signed_in(user: User) -> None:
    # Every way in (a password, an accepted invitation) counts for "Last sign-in".
    user.last_login_at = utcnow()
    db.session.flush()


def _active_admin_count() -> int:
    # Only admins who can sign in (User.is_active): an invited admin has no password yet.
    return db.session.scalar(
        select(func.count()).select_from(User).where(
            User.role == Role.ADMIN, User.active.is_(True), User.password_hash.is_not(None)
        )
    )


def _ensure_admin_remains(user: User) -> None:
    if user.role is Role.ADMIN and user.is_active and _active_admin_count() <= 1:
        raise AccountError(_l("%(email)s is the last active administrator; make someone else an administrator first.",
                              email=user.email))


def change_role(user: User, role: Role, *, actor: User | None) -> None:
    """Give ``user`` a new role; the last active admin cannot lose theirs."""
    if user.role is role:
        return
    if role is not Role.ADMIN:
        _ensure_admin_remains(user)
    previous = user.role
    user.role = role
    # New permissions take effect now, not at the next sign-in.
    user.session_nonce = new_session_nonce()
    db.session.flush()
    announce("user.role_changed", actor=actor, target=user, before=previous.value, after=role.value)


def deactivate(user: User, *, actor: User | None) -> None:
    """Stop ``user`` from signing in, end their sessions and revoke their API tokens."""
    if not user.active:
        return
    _ensure_admin_remains(user)
    user.active = False
    user.session_nonce = new_session_nonce()
    now = utcnow()
    for token in user.tokens:
        if token.revoked_at is None:
            token.revoked_at = now
    db.session.flush()
    announce("user.deactivated", actor=actor, target=user)


def reactivate(user: User, *, actor: User | None) -> None:
    """Let a deactivated user sign in again (their old API tokens stay revoked)."""
    if user.active:
        return
    user.active = True
    db.session.flush()
    announce("user.reactivated", actor=actor, target=user)


def update_profile(user: User, *, name: str, language: str) -> None:
    """Change the user's display name and interface language."""
    user.name = name.strip()
    user.language = _check_language(language)
    db.session.flush()


def change_password(user: User, current: str, new: str) -> None:
    """Replace the password after checking the current one; other sessions end."""
    if not passwords.verify_password(user.password_hash, current):
        raise AccountError(_l("The current password is wrong."))
    problem = passwords.password_problem(new, user.email)
    if problem:
        raise AccountError(problem)
    user.password_hash = passwords.hash_password(new)
    user.session_nonce = new_session_nonce()
    db.session.flush()
    announce("user.password_changed", actor=user, target=user)


def expire_invitations() -> int:
    """Void invitations whose time has passed; returns how many."""
    expired = db.session.scalars(
        select(User).where(User.invitation_hash.is_not(None), User.invitation_expires_at <= utcnow())
    ).all()
    for user in expired:
        user.invitation_hash = None
        announce("user.invitation_expired", actor=None, target=user)
    db.session.flush()
    return len(expired)


def load_user(user_id: str) -> User | None:
    """Flask-Login's loader: ``"<id>:<nonce>"`` → the active user whose nonce still matches."""
    raw_id, _sep, nonce = user_id.partition(":")
    if not raw_id.isdigit():
        return None
    user = db.session.get(User, int(raw_id))
    if user is None or not user.is_active or not secrets.compare_digest(user.session_nonce, nonce):
        return None
    return user


def ensure_first_admin(email: str) -> tuple[User, str] | None:
    """On an empty installation, create an admin with a random password and return both."""
    if db.session.scalar(select(func.count()).select_from(User)):
        return None
    password = secrets.token_urlsafe(12)
    user = create_user(email, Role.ADMIN, password=password, actor=None, name="Administrator")
    return user, password
