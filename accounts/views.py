"""Sign-in, profile, API tokens and user administration pages."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select

from accounts import tokens, users
from accounts.events import announce
from accounts.forms import (
    ChangePasswordForm,
    EmptyForm,
    InviteForm,
    LoginForm,
    ProfileForm,
    RoleForm,
    SetPasswordForm,
    TokenForm,
)
from accounts.models import Role, User
from accounts.roles import role_required
from extensions import db

bp = Blueprint("accounts", __name__, template_folder="templates")

USER_STATES = {
    "active": _l("active"),
    "invited": _l("invited"),
    "invitation_expired": _l("invitation expired"),
    "deactivated": _l("deactivated"),
}


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths; anything else could send the user to a phishing page."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("web.home")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("web.home"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = users.authenticate(form.email.data, form.password.data, request.remote_addr or "unknown")
        except users.LoginError as error:
            db.session.commit()  # keep the audit record of the refusal
            flash(str(error), "error")
            status = 429 if error.retry_after else 401
        else:
            login_user(user, remember=form.remember.data)
            db.session.commit()
            return redirect(_safe_next(request.args.get("next")))
    elif form.errors:
        status = 400
    return render_template("accounts/login.html", form=form), status


@bp.post("/logout")
@role_required()
def logout():
    announce("user.logout", actor=current_user._get_current_object(), target=current_user._get_current_object())
    db.session.commit()
    logout_user()
    flash(_("You have signed out."), "info")
    return redirect(url_for("accounts.login"))


@bp.route("/invitation/<token>", methods=["GET", "POST"])
def accept_invitation(token: str):
    invited = users.find_invitation(token)
    if invited is None:
        return render_template("accounts/invitation_invalid.html"), 404
    form = SetPasswordForm()
    if form.validate_on_submit():
        try:
            user = users.accept_invitation(token, form.password.data)
        except users.AccountError as error:
            form.password.errors.append(str(error))
        else:
            db.session.commit()
            login_user(user)
            flash(_("Welcome to Vestnik!"), "info")
            return redirect(url_for("web.home"))
    return render_template("accounts/invitation.html", form=form, invited=invited)


@bp.route("/profile", methods=["GET", "POST"])
@role_required()
def profile():
    form = ProfileForm(obj=current_user)
    if form.validate_on_submit():
        users.update_profile(current_user, name=form.name.data or "", language=form.language.data)
        db.session.commit()
        flash(_("Your profile has been saved."), "info")
        return redirect(url_for("accounts.profile"))
    return render_template("accounts/profile.html", form=form, password_form=ChangePasswordForm())


@bp.post("/profile/password")
@role_required()
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            users.change_password(current_user, form.current.data, form.password.data)
        except users.AccountError as error:
            form.current.errors.append(str(error))
        else:
            db.session.commit()
            login_user(current_user._get_current_object())  # the nonce changed; keep this session
            flash(_("Your password has been changed; your other sessions have been signed out."), "info")
            return redirect(url_for("accounts.profile"))
    return render_template("accounts/profile.html", form=ProfileForm(obj=current_user), password_form=form), 400


@bp.route("/tokens", methods=["GET", "POST"])
@role_required()
def api_tokens():
    form = TokenForm()
    new_token = None
    if form.validate_on_submit():
        try:
            _row, new_token = tokens.create_token(
                current_user, form.name.data, expires_in_days=form.expires_in_days.data
            )
        except users.AccountError as error:
            form.name.errors.append(str(error))
        else:
            db.session.commit()
            form = TokenForm(formdata=None)
    return render_template(
        "accounts/tokens.html", form=form, new_token=new_token, tokens=current_user.tokens, revoke_form=EmptyForm()
    )


@bp.post("/tokens/<int:token_id>/revoke")
@role_required()
def revoke_api_token(token_id: int):
    try:
        token = tokens.revoke_token(current_user, token_id)
    except users.AccountError:
        abort(404)
    db.session.commit()
    flash(_("The token “%(name)s” has been revoked.", name=token.name), "info")
    return redirect(url_for("accounts.api_tokens"))


@bp.route("/users", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def user_list():
    form = InviteForm()
    invitation_link = None
    if form.validate_on_submit():
        try:
            invited, token = users.invite_user(
                form.email.data,
                Role(form.role.data),
                actor=current_user._get_current_object(),
                name=form.name.data or "",
                language=form.language.data,
            )
        except users.AccountError as error:
            form.email.errors.append(str(error))
        else:
            db.session.commit()
            invitation_link = url_for("accounts.accept_invitation", token=token, _external=True)
            flash(
                _("%(email)s has been invited. Send them the link below; it is shown only once.", email=invited.email),
                "info",
            )
            form = InviteForm(formdata=None)
    people = db.session.scalars(select(User).order_by(User.email)).all()
    return render_template(
        "accounts/users.html", form=form, people=people, invitation_link=invitation_link,
        role_form=RoleForm(), button_form=EmptyForm(), user_states=USER_STATES,
    )


def _managed_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user


def _after_admin_change(action):
    try:
        action()
    except users.AccountError as error:
        db.session.rollback()
        flash(str(error), "error")
    else:
        db.session.commit()
        flash(_("Saved."), "info")
    return redirect(url_for("accounts.user_list"))


@bp.post("/users/<int:user_id>/role")
@role_required(Role.ADMIN)
def set_role(user_id: int):
    user = _managed_user(user_id)
    form = RoleForm()
    if not form.validate_on_submit():
        abort(400)
    return _after_admin_change(
        lambda: users.change_role(user, Role(form.role.data), actor=current_user._get_current_object())
    )


@bp.post("/users/<int:user_id>/deactivate")
@role_required(Role.ADMIN)
def deactivate(user_id: int):
    user = _managed_user(user_id)
    return _after_admin_change(lambda: users.deactivate(user, actor=current_user._get_current_object()))


@bp.post("/users/<int:user_id>/reactivate")
@role_required(Role.ADMIN)
def reactivate(user_id: int):
    user = _managed_user(user_id)
    return _after_admin_change(lambda: users.reactivate(user, actor=current_user._get_current_object()))
