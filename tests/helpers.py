"""Helpers that drive the app the way a browser would."""

from __future__ import annotations

import contextvars
import re

from flask.testing import FlaskClient

PASSWORD = "correct horse battery staple"


def csrf_token(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html
    )
    assert match, "the page has no CSRF token"
    return match.group(1)


def post_form(client, url: str, data: dict, page: str | None = None, **kwargs):
    """Submit a form the way a browser would: fetch the page for its CSRF token, then post."""
    html = client.get(page or url).get_data(as_text=True)
    return client.post(url, data={"csrf_token": csrf_token(html), **data}, **kwargs)


def sign_in(client, email: str, password: str = PASSWORD):
    return post_form(client, "/login", {"email": email, "password": password})


class IsolatedClient(FlaskClient):
    """A test client whose every request runs in a context of its own, as it does in production.

    The ``app`` fixture keeps an application context pushed for the whole test; a plain test client
    would reuse it, so ``g`` (with Flask-Login's cached user and the CSRF token) and the database
    session would leak from one request, or one client, to the next. Here each request gets a fresh
    application context, ``g`` and database session, and only what it commits is seen afterwards.
    """

    def open(self, *args, **kwargs):
        return contextvars.Context().run(super().open, *args, **kwargs)


def isolated_client(app):
    """A fresh ``IsolatedClient`` (its own cookie jar: one browser) for ``app``."""
    return app.test_client()


def signed_in_client(app, email: str, password: str = PASSWORD):
    """A new browser (an ``IsolatedClient``) signed in as ``email``."""
    browser = isolated_client(app)
    assert sign_in(browser, email, password).status_code == 302
    return browser


# The kind of problem each status means when the API knows nothing more specific (web/problems.py).
PROBLEM_KINDS = {400: "validation", 401: "unauthorized", 403: "forbidden", 404: "not-found", 405: "method-not-allowed",
                 409: "conflict", 413: "too-large", 422: "blocked", 429: "too-many-requests", 500: "server-error"}


def assert_problem(response, status: int, kind: str | None = None, *, detail: str | None = None,
                   field: str | None = None) -> dict:
    """Assert that ``response`` is an RFC 9457 problem of ``status`` and return its body.

    ``kind`` is the last part of its type (by default the one ``status`` means); ``detail`` a text the
    detail contains; ``field`` an input that one of its validation ``errors`` names.
    """
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.content_type == "application/problem+json"
    body = response.get_json()
    kind = kind or PROBLEM_KINDS[status]
    assert body["type"] == f"/problems/{kind}" and body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    if kind == "validation":
        assert body["errors"]
        assert all(set(error) == {"field", "message"} and error["message"] for error in body["errors"])
        assert body["detail"] == " ".join(error["message"] for error in body["errors"])
    else:
        assert "errors" not in body or status == 422
    if detail is not None:
        assert detail in body["detail"], body["detail"]
    if field is not None:
        assert field in [error["field"] for error in body["errors"]], body["errors"]
    return body


def problem_messages(response) -> list[str]:
    """The sentences of a validation problem, in order."""
    return [error["message"] for error in response.get_json()["errors"]]
