"""Which language a request is answered in."""

from __future__ import annotations

from flask import current_app, has_request_context, request, session
from flask_babel import get_locale
from flask_login import current_user

from accounts.models import Role
from accounts.roles import role_label

SESSION_KEY = "language"


def select_locale() -> str:
    """The user's saved choice, else the choice made on this session, else the browser's."""
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():
        # The CLI and jobs have no visitor (and no session) to ask: they speak the default language.
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    if current_user and current_user.is_authenticated and current_user.language in languages:
        return current_user.language
    chosen = session.get(SESSION_KEY)
    if chosen in languages:
        return chosen
    return request.accept_languages.best_match(languages) or current_app.config["BABEL_DEFAULT_LOCALE"]


def template_globals() -> dict:
    """Names every template may use: the language, roles and their labels."""
    return {"current_language": lambda: str(get_locale()), "Role": Role, "role_label": role_label}
