"""The JSON body of an API request, read the same way by every endpoint of every package."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import BadRequest

from domain_errors import DomainError


class InvalidJSONError(DomainError):
    """The body is not a JSON object; a 400 of its own kind, never mistaken for wrong fields."""

    kind = "invalid-json"


def json_body() -> dict[str, Any]:
    """The request's JSON object, whatever its Content-Type says; ``{}`` for an empty body.

    Raises ``InvalidJSONError`` for a body that does not parse or is not an object.
    """
    if not request.get_data(cache=True).strip():
        return {}
    try:
        body = request.get_json(force=True)
    except BadRequest:
        raise InvalidJSONError(_l("The body is not valid JSON.")) from None
    if not isinstance(body, dict):
        raise InvalidJSONError(_l("The body must be a JSON object."))
    return body
