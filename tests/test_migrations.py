"""Alembic: one head, upgrade from an empty database, and models that match the migrations."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError

from audience import search
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
        context = MigrationContext.configure(connection, opts={"compare_type": True,
                                                               "include_object": search.include_object})
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_downgrade_to_empty_and_upgrade_again(app):
    downgrade(directory=str(MIGRATIONS), revision="base")
    assert not TABLES & set(inspect(db.engine).get_table_names())
    upgrade(directory=str(MIGRATIONS))
    assert set(inspect(db.engine).get_table_names()) >= TABLES


def test_0006_gives_old_senders_the_sandboxs_account_and_keeps_template_statuses(app):
    from sqlalchemy import text

    downgrade(directory=str(MIGRATIONS), revision="0005_import_merges")
    with db.engine.begin() as connection:
        connection.execute(text("INSERT INTO senders (name, phone, tier, messages_per_second, channel, created_at) "
                                "VALUES ('Old', '+74950000009', 'TIER_250', 80, 'sandbox', '2026-11-01 10:00:00')"))
        for name, status in (("approved_one", "approved"), ("draft_one", "draft"), ("rejected_one", "rejected")):
            connection.execute(text(
                "INSERT INTO templates (name, language, version, is_current, category, header, body, footer, buttons,"
                " examples, status, rejection_reason, tags, created_at, updated_at) VALUES (:name, 'ru', 1, :yes,"
                " 'marketing', '', 'Текст', '', '[]', '{}', :status, :reason, '', '2026-11-01 10:00:00',"
                " '2026-11-02 10:00:00')"),
                {"name": name, "status": status, "yes": True, "reason": "Спам" if status == "rejected" else None})
    upgrade(directory=str(MIGRATIONS))
    with db.engine.connect() as connection:
        sender = connection.execute(text("SELECT phone_number_id, waba_id, base_url, api_version, updated_at "
                                         "FROM senders")).one()
        approvals = connection.execute(text(
            "SELECT t.name, a.account_id, a.base_url, a.status, a.reason, a.source FROM template_approvals a "
            "JOIN templates t ON t.id = a.template_id ORDER BY t.name")).all()
    assert tuple(sender[:4]) == ("100000000000001", "200000000000001", "http://127.0.0.1:8025", "v23.0")
    assert sender[4] is not None
    assert [tuple(row) for row in approvals] == [
        ("approved_one", "200000000000001", "http://127.0.0.1:8025", "approved", None, "admin"),
        ("rejected_one", "200000000000001", "http://127.0.0.1:8025", "rejected", "Спам", "admin")]


def test_0007_keeps_existing_messages_with_no_send_time_and_no_attempts(app, make_user):
    from sqlalchemy import text

    from campaigns.models import Message, MessageStatus
    from tests.campaign_world import add_contact, make_world

    world = make_world(make_user)
    campaign = world.campaign(name="Old")
    contacts = [add_contact(), add_contact()]
    for contact, status in zip(contacts, (MessageStatus.QUEUED, MessageStatus.DELIVERED), strict=True):
        db.session.add(Message(campaign_id=campaign.id, contact_id=contact.id, phone=contact.phone,
                               variables={"1": contact.phone}, idempotency_key=f"key-{contact.id}", status=status))
    db.session.commit()
    expected = [(contact.phone, status, f"key-{contact.id}", 0, None, None, None, None)
                for contact, status in zip(contacts, ("queued", "delivered"), strict=True)]
    db.session.remove()
    downgrade(directory=str(MIGRATIONS), revision="0006_sender_channels")
    assert "sent_at" not in {column["name"] for column in inspect(db.engine).get_columns("messages")}
    upgrade(directory=str(MIGRATIONS))
    with db.engine.connect() as connection:
        rows = connection.execute(text(
            "SELECT phone, status, idempotency_key, attempts, sent_at, not_before, lease_owner, provider_message_id "
            "FROM messages ORDER BY id")).all()
    assert [tuple(row) for row in rows] == expected


def test_0010_rebuilds_contacts_and_senders_keeping_their_rows_references_and_indexes(app, make_user):
    from sqlalchemy import text

    from campaigns.models import Message
    from tests.campaign_world import add_contact, make_world

    world = make_world(make_user)
    campaign = world.campaign(name="Old")
    contact = add_contact()
    db.session.add(Message(campaign_id=campaign.id, contact_id=contact.id, phone=contact.phone,
                           idempotency_key="key-old"))
    db.session.commit()
    phone = contact.phone
    db.session.remove()
    downgrade(directory=str(MIGRATIONS), revision="0009_inbox")
    upgrade(directory=str(MIGRATIONS))

    with db.engine.begin() as connection:
        # Read from the catalogue: SQLAlchemy's inspector skips expression indexes on SQLite.
        indexes = set(connection.execute(text(
            "SELECT name FROM sqlite_master WHERE type = 'index'" if connection.dialect.name == "sqlite"
            else "SELECT indexname FROM pg_indexes")).scalars())
        assert {"ix_contacts_city_match", "uq_suppressions_open", "uq_suppressions_open_address"} <= indexes
        # The campaign's message still points at its contact, and the sender at its campaign.
        assert connection.execute(text(
            "SELECT m.phone FROM messages m JOIN contacts c ON c.id = m.contact_id "
            "JOIN campaigns k ON k.id = m.campaign_id JOIN senders s ON s.id = k.sender_id")).scalar() == phone
        # Numbers are optional now: a bot and a person who came in through it.
        connection.execute(text(
            "INSERT INTO contacts (phone, tags, attributes, consent_source, consent_at, created_at, updated_at) "
            "VALUES (NULL, '', '{}', 'qr:test', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
    with db.engine.connect() as connection:
        if connection.dialect.name == "sqlite":  # the rebuild turned enforcement back on
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        with pytest.raises(IntegrityError):
            connection.execute(text("DELETE FROM contacts WHERE phone = :phone"), {"phone": phone})
