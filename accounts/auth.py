"""How a request is tied to a user: session cookie for pages, Bearer token for the JSON API."""

from __future__ import annotations

from flask import Flask, abort, redirect, request, url_for

from accounts import tokens, users
from extensions import db, login_manager

API_PREFIX = "/api/"


def is_api_request() -> bool:
    """True for requests to the JSON API, which authenticate by token only."""
    return request.path.startswith(API_PREFIX)


def _load_from_session(user_id: str):
    # The API ignores session cookies: a token is the only credential it accepts, so a page
    # open in the browser cannot be used to drive the API from another site.
    if is_api_request():
        return None
    return users.load_user(user_id)


def _load_from_bearer(req):
    if not is_api_request():
        return None
    scheme, _sep, credential = req.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credential:
        return None
    user = tokens.user_for_token(credential.strip())
    if user is not None and db.session.dirty:
        db.session.commit()  # last_used_at
    return user


def _unauthorized():
    if is_api_request():
        abort(401)  # web.errors answers with the problem that asks for a Bearer token
    return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))


def init_app(app: Flask) -> None:
    """Bind the login manager and its loaders to ``app``."""
    login_manager.init_app(app)
    login_manager.session_protection = "basic"
    login_manager.user_loader(_load_from_session)
    login_manager.request_loader(_load_from_bearer)
    login_manager.unauthorized_handler(_unauthorized)
