"""Error pages and API problems (RFC 9457) that say what went wrong without leaking how."""

from __future__ import annotations

import logging

from flask import Flask, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from accounts.auth import is_api_request
from campaigns.feedback.webhook_views import URL_PREFIX as WEBHOOKS_PREFIX
from domain_errors import DomainError
from extensions import db
from web.problems import domain_problem, problem

log = logging.getLogger(__name__)

MESSAGES = {
    400: _l("The request could not be understood. Go back, reload the page and try again."),
    401: _l("Please sign in to continue."),
    403: _l("Your role does not allow this. Ask an administrator if you need access."),
    404: _l("There is nothing at this address."),
    405: _l("This action is not available here."),
    413: _l("The upload is too large. Split the file or ask an administrator to raise the limit."),
    429: _l("Too many requests. Wait a moment and try again."),
    500: _l("Something went wrong on our side. The error has been logged; please try again."),
}
# The API has no page to go back to and no sign-in form: it asks for the one credential it accepts.
API_MESSAGES = {
    400: _l("The request could not be understood."),
    401: _l("Send a valid API token as “Authorization: Bearer …”."),
}
CSRF_MESSAGE = _l("This form has expired or was sent from another site. Reload the page and try again.")


def _speaks_problems() -> bool:
    # The API, and the providers' webhooks: machines read these answers, never a page.
    return is_api_request() or request.path.startswith(WEBHOOKS_PREFIX + "/")


def _render(code: int, message) -> tuple:
    if _speaks_problems():
        return problem(code, message), code
    return render_template("errors/error.html", code=code, message=message), code


def _message(code: int):
    messages = {**MESSAGES, **API_MESSAGES} if _speaks_problems() else MESSAGES
    return messages.get(code, messages[400] if code < 500 else messages[500])


def _http_error(error: HTTPException):
    code = error.code or 500
    body, code = _render(code, _message(code))
    if _speaks_problems():
        # Allow (405), Retry-After (429) and the like belong to the answer; only the body is ours.
        body.headers.extend((name, value) for name, value in error.get_headers() if name.lower() != "content-type")
        if code == 401:
            body.headers["WWW-Authenticate"] = 'Bearer realm="vestnik"'
    return body, code


def _domain_error(error: DomainError):
    # A refusal no view caught (the API lets them all come here): its sentences, with its status.
    db.session.rollback()
    if _speaks_problems():
        return domain_problem(error)
    return render_template("errors/error.html", code=error.status, message=str(error)), error.status


def _csrf_error(_error: CSRFError):
    return _render(400, CSRF_MESSAGE)


def _server_error(error: Exception):
    # The traceback goes to the log only; the visitor sees a plain sentence.
    db.session.rollback()
    original = getattr(error, "original_exception", None) or error
    log.error("event=unhandled_error error=%r", original, exc_info=original)
    return _render(500, MESSAGES[500])


def init_app(app: Flask) -> None:
    """Register the handlers for every HTTP error, CSRF failures and uncaught exceptions."""
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(DomainError, _domain_error)
    app.register_error_handler(InternalServerError, _server_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _server_error)
