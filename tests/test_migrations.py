"""Alembic: one head, upgrade from an empty database, and models that match the migrations."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from extensions import db

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
TABLES = {"users", "api_tokens", "audit_events"}


def _config() -> Config:
    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def test_there_is_exactly_one_head():
    assert len(ScriptDirectory.from_config(_config()).get_heads()) == 1


def test_upgrade_from_empty_reaches_head_with_every_table(app):
    # The `app` fixture's database was built by `upgrade()` from empty on this backend.
    inspector = inspect(db.engine)
    assert set(inspector.get_table_names()) >= TABLES
    with db.engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_heads()
    assert set(current) == set(ScriptDirectory.from_config(_config()).get_heads())


def test_models_and_migrations_describe_the_same_schema(app):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_downgrade_to_empty_and_upgrade_again(app):
    downgrade(directory=str(MIGRATIONS), revision="base")
    assert not TABLES & set(inspect(db.engine).get_table_names())
    upgrade(directory=str(MIGRATIONS))
    assert set(inspect(db.engine).get_table_names()) >= TABLES
