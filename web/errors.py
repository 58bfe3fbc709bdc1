"""Error pages and JSON errors that say what went wrong without leaking how."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from accounts.auth import is_api_request
from extensions import db

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
CSRF_MESSAGE = _l("This form has expired or was sent from another site. Reload the page and try again.")


def _render(code: int, message) -> tuple:
    if is_api_request():
        return jsonify(error=code, message=str(message)), code
    return render_template("errors/error.html", code=code, message=message), code


def _http_error(error: HTTPException):
    code = error.code or 500
    return _render(code, MESSAGES.get(code, MESSAGES[400] if code < 500 else MESSAGES[500]))


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
    app.register_error_handler(InternalServerError, _server_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _server_error)
