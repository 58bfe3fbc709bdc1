"""Accounts as JSON: one shape wherever an account is shown as data."""

from __future__ import annotations

from accounts.models import User


def user_json(user: User) -> dict:
    """The public fields of a user."""
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "role": user.role.value,
        "language": user.language,
        "active": user.active,
        "invited": user.is_invited,
        "created_at": user.created_at.isoformat(),
        "last_login_at": user.last_login_at.isoformat() if user.last_login_at else None,
    }
