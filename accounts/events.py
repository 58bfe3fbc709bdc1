"""The one signal through which accounts reports what happened.

Accounts sits at the bottom of the dependency order and must not import the audit log
(``compliance.audit``); the audit log subscribes to this signal instead. Receivers run inside the
same transaction as the change, so an audited change and its audit entry commit together.
"""

from __future__ import annotations

from typing import Any

from blinker import Namespace
from flask import g, has_app_context, has_request_context
from flask_babel import lazy_gettext as _l

_signals = Namespace()

#: Sent with ``action`` (e.g. ``"user.role_changed"``), ``actor`` (a User or None for the system or
#: an anonymous visitor), ``target`` (the object acted on, or None) and ``details`` (a JSON-able dict).
account_event = _signals.signal("account-event")

# The actions accounts announces, as the audit log names them to a reader.
ACTION_LABELS = {
    "user.created": _l("Account created"),
    "user.invited": _l("Invited"),
    "user.invitation_accepted": _l("Invitation accepted"),
    "user.invitation_expired": _l("Invitation expired"),
    "user.login": _l("Signed in"),
    "user.login_failed": _l("Sign-in failed"),
    "user.login_throttled": _l("Sign-in slowed down after failures"),
    "user.logout": _l("Signed out"),
    "user.role_changed": _l("Role changed"),
    "user.deactivated": _l("Account deactivated"),
    "user.reactivated": _l("Account reactivated"),
    "user.password_changed": _l("Password changed"),
    "api_token.created": _l("API token created"),
    "api_token.revoked": _l("API token revoked"),
}


# The names ``actor_label`` gives an actor that is not a user; the audit log stores them as written.
ACTOR_LABELS = {"system": _l("system"), "anonymous": _l("anonymous visitor")}


def announce(action: str, *, actor: Any, target: Any = None, **details: Any) -> None:
    """Tell subscribers (the audit log) that ``actor`` did ``action`` to ``target``."""
    account_event.send(action, actor=actor, target=target, details=details)


def set_actor_label(label: str) -> None:
    """Name the non-user actor (``cli:alice``, ``job:…``) for events sent without a user."""
    g.audit_actor_label = label


def actor_label(actor: Any) -> str:
    """How the audit log names ``actor``: their e-mail, or the label of the CLI, job or visitor."""
    if actor is not None:
        return actor.email
    if not has_app_context():
        return "system"
    return g.get("audit_actor_label") or ("anonymous" if has_request_context() else "system")
