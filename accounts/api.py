"""JSON API for accounts under /api/v1; authenticated by personal token only."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask_login import current_user
from sqlalchemy import select

from accounts.models import Role, User
from accounts.roles import role_required
from extensions import csrf, db

bp = Blueprint("accounts_api", __name__, url_prefix="/api/v1")
# Token-authenticated requests carry no cookie a third-party site could ride on, so no CSRF token.
csrf.exempt(bp)


def user_json(user: User) -> dict:
    """The public fields of a user."""
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "role": user.role.value,
        "language": user.language,
        "active": user.active,
        "invited": user.is_invited,
        "created_at": user.created_at.isoformat(),
        "last_login_at": user.last_login_at.isoformat() if user.last_login_at else None,
    }


@bp.get("/me")
@role_required()
def me():
    return jsonify(user_json(current_user))


@bp.get("/users")
@role_required(Role.ADMIN)
def users():
    people = db.session.scalars(select(User).order_by(User.email)).all()
    return jsonify(users=[user_json(person) for person in people])
