"""The one decorator that guards every view and API endpoint by role."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TypeVar

from flask import abort
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from accounts.models import Role
from extensions import login_manager

F = TypeVar("F", bound=Callable)

ROLE_LABELS = {
    Role.MARKETER: _l("Marketer"),
    Role.REVIEWER: _l("Compliance reviewer"),
    Role.ADMIN: _l("Administrator"),
}


def role_label(role: Role) -> str:
    """The role's name in the interface language."""
    return str(ROLE_LABELS[role])


def role_required(*roles: Role) -> Callable[[F], F]:
    """Require a signed-in user holding one of ``roles`` (any role when none are given).

    Anonymous visitors are sent to sign in (or get 401 from the API); signed-in users without the
    role get 403. Admins pass every check.
    """

    def decorator(view: F) -> F:
        @wraps(view)
        def guarded(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if roles and not current_user.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        return guarded  # type: ignore[return-value]

    return decorator
