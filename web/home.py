"""The signed-in home page and the language switch."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, send_from_directory, session, url_for
from flask_login import current_user

from accounts import users
from accounts.roles import role_required
from campaigns.analytics_text import dashboard
from extensions import db
from web.i18n import SESSION_KEY

bp = Blueprint("web", __name__)


@bp.get("/")
@role_required()
def home():
    return render_template("web/home.html", dashboard=dashboard())


@bp.get("/favicon.ico")
def favicon():
    # Browsers ask for /favicon.ico whatever the page links to; answer instead of logging a 404 each time.
    return send_from_directory(current_app.static_folder, "favicon.ico", mimetype="image/vnd.microsoft.icon",
                               max_age=7 * 24 * 3600)


@bp.post("/language")
def switch_language():
    language = request.form.get("language", "")
    if language in current_app.config["LANGUAGES"]:
        session[SESSION_KEY] = language
        if current_user.is_authenticated:
            users.update_profile(current_user, name=current_user.name, language=language)
            db.session.commit()
    referrer = request.referrer or ""
    # Back to the page the switch was clicked on, but only on our own site.
    if referrer.startswith(request.host_url):
        return redirect(referrer)
    return redirect(url_for("web.home"))
