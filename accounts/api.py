"""JSON API for accounts under /api/v1; authenticated by personal token only."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask_login import current_user
from sqlalchemy import select

from accounts.models import Role, User
from accounts.roles import role_required
from accounts.serialisers import user_json
from extensions import csrf, db

bp = Blueprint("accounts_api", __name__, url_prefix="/api/v1")
# Token-authenticated requests carry no cookie a third-party site could ride on, so no CSRF token.
csrf.exempt(bp)


@bp.get("/me")
@role_required()
def me():
    return jsonify(user_json(current_user))


@bp.get("/users")
@role_required(Role.ADMIN)
def users():
    people = db.session.scalars(select(User).order_by(User.email)).all()
    return jsonify(users=[user_json(person) for person in people])
