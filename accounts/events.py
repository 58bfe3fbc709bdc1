"""The one signal through which accounts reports what happened.

Accounts sits at the bottom of the dependency order and must not import the audit log
(``compliance.audit``); the audit log subscribes to this signal instead. Receivers run inside the
same transaction as the change, so an audited change and its audit entry commit together.
"""

from __future__ import annotations

from typing import Any

from blinker import Namespace
from flask import g, has_app_context, has_request_context

_signals = Namespace()

#: Sent with ``action`` (e.g. ``"user.role_changed"``), ``actor`` (a User or None for the system or
#: an anonymous visitor), ``target`` (the object acted on, or None) and ``details`` (a JSON-able dict).
account_event = _signals.signal("account-event")


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
