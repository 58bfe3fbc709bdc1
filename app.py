"""The Flask application factory: `flask --app app …` and the WSGI entry point `app:create_app()`."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import make_url

import config
from accounts import auth as accounts_auth
from accounts.api import bp as accounts_api
from accounts.cli import group as users_cli
from accounts.views import bp as accounts_views
from audience.api import bp as audience_api
from audience.cli import group as audience_cli
from audience.views import bp as audience_views
from campaigns import segment_edits
from campaigns.api import bp as campaigns_api
from campaigns.cli import group as campaigns_cli
from campaigns.feedback.webhook_views import bp as feedback_webhooks
from campaigns.subscribe_views import bp as subscribe_views
from campaigns.views import bp as campaigns_views
from compliance import audit
from compliance.api import bp as compliance_api
from compliance.cli import group as compliance_cli
from compliance.views import bp as compliance_views
from extensions import babel, csrf, db, migrate, redis_queues
from web import errors, metrics, security
from web.health import bp as health_views
from web.home import bp as web_views
from web.i18n import select_locale, template_globals
from web.labels import label, template_helpers

LOG_FORMAT = "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"


def _configure_logging(level: str) -> None:
    root = logging.getLogger()
    if not root.handlers:  # leave logging alone when a server (gunicorn) or pytest configured it
        logging.basicConfig(level=level, format=LOG_FORMAT)


def _tune_sqlite(dbapi_connection, _record) -> None:
    # The web app and the worker write to one file: WAL lets readers and a writer coexist, and the
    # busy timeout makes a writer wait for the lock instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build a configured app: settings from the environment, then ``overrides`` on top."""
    settings = config.load()
    settings.update(overrides or {})
    app = Flask(__name__, instance_path=settings["INSTANCE_PATH"], instance_relative_config=False)
    app.config.update(settings)
    _configure_logging(app.config["LOG_LEVEL"])

    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)

    db.init_app(app)
    if url.get_backend_name() == "sqlite":
        with app.app_context():
            event.listen(db.engine, "connect", _tune_sqlite)
    migrate.init_app(app, db, directory=str(config.PROJECT_ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    redis_queues.init_app(app)
    accounts_auth.init_app(app)
    audit.init_app(app)
    segment_edits.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    metrics.init_app(app)

    for blueprint in (
        web_views, health_views, accounts_views, accounts_api,
        compliance_views, compliance_api, audience_views, audience_api, campaigns_views, campaigns_api,
        feedback_webhooks, subscribe_views,
    ):
        app.register_blueprint(blueprint)
    app.context_processor(template_globals)
    app.context_processor(template_helpers)
    app.add_template_filter(label)
    app.cli.add_command(users_cli)
    app.cli.add_command(compliance_cli)
    app.cli.add_command(audience_cli)
    app.cli.add_command(campaigns_cli)
    return app
