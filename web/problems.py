"""RFC 9457 problem details: the one shape of every error the JSON API returns.

``type`` is a relative URI naming the kind of problem, ``/problems/<kind>``, stable across releases;
``title`` is that kind's short name and ``detail`` the sentence about this occurrence, both in the
caller's language; ``errors`` (validation) lists ``{"field", "message"}`` — ``field`` is the input a
sentence is about, or null when it is about no one input.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Response, current_app
from flask_babel import lazy_gettext as _l
from werkzeug.http import HTTP_STATUS_CODES

from domain_errors import DomainError

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "/problems/"

TITLES = {
    "validation": _l("The request is not valid"),
    "invalid-json": _l("The body is not valid JSON"),
    "bad-request": _l("Bad request"),
    "unauthorized": _l("Authentication required"),
    "forbidden": _l("Forbidden"),
    "not-found": _l("Not found"),
    "method-not-allowed": _l("Method not allowed"),
    "conflict": _l("Conflict with the current state"),
    "too-large": _l("Request too large"),
    "blocked": _l("Blocked by the rules"),
    "too-many-requests": _l("Too many requests"),
    "server-error": _l("Internal server error"),
}
# The kind a status means when nothing more specific is known.
STATUS_KINDS = {
    400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found", 405: "method-not-allowed",
    409: "conflict", 413: "too-large", 422: "blocked", 429: "too-many-requests", 500: "server-error",
}


def problem(status: int, detail: Any, *, kind: str | None = None,
            errors: Iterable[tuple[str | None, Any]] | None = None, **members: Any) -> Response:
    """A problem details response; a status without a kind of ours is ``about:blank`` with the HTTP phrase."""
    kind = kind or STATUS_KINDS.get(status)
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + kind if kind else "about:blank",
        "title": str(TITLES[kind]) if kind else HTTP_STATUS_CODES.get(status, "Error"),
        "status": status,
        "detail": str(detail),
    }
    if errors is not None:
        body["errors"] = [{"field": field, "message": str(message)} for field, message in errors]
    body.update(members)
    response = current_app.json.response(body)
    response.status_code = status
    response.mimetype = MEDIA_TYPE
    return response


def domain_problem(error: DomainError) -> Response:
    """The problem a refusal means: its sentences, the fields they name, and its status."""
    kind = error.kind or ("validation" if error.status == 400 else None)
    listed = kind == "validation" or error.status == 422
    return problem(error.status, error, kind=kind, errors=error.field_errors if listed else None,
                   **error.problem_members())
