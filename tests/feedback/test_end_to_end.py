"""End to end with real processes: the sandbox posts its signed statuses over HTTP to the app's route or to the
webhook receiver process (pointed at it as `make run` points it), a real worker sends the campaign and applies
them; and a callback acknowledged while Redis is down and no worker runs is
applied later by the sweep — nothing acknowledged is lost."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import func, select

from campaigns import sandbox_callbacks
from campaigns.feedback.models import WebhookEvent
from campaigns.models import MessageStatus
from extensions import db
from tests.channels.sandbox_calls import QUIET
from tests.conftest import build_app
from tests.feedback.conftest import add_message, campaign_of, fresh, pending, post, stored
from tests.feedback.live_server import LiveServer
from tests.feedback.payloads import body
from tests.processes import wait_for
from tests.test_dispatch import fast_sender, people, rows, sandbox_template, sending_campaign  # noqa: F401
from tests.test_worker import start_worker  # noqa: F401  (a fixture)

S = MessageStatus


@contextmanager
def edge_for(kind: str, app, sandbox, sender, start_receiver):
    """The Flask route served live, pointed at by the sandbox's global callback URL; or the receiver process, to
    which the sandbox is pointed as `make run`'s ensure-sandbox points it (the sender's number, its app secret)."""
    if kind == "flask":
        with LiveServer(app) as live:
            sandbox.configure(callback_url=f"{live.url}/webhooks/whatsapp/{sender.id}")
            yield
        return
    receiver = start_receiver()
    app.config["WEBHOOK_RECEIVER_URL"] = receiver.url
    assert sandbox_callbacks.point(sender) == f"{receiver.url}/webhooks/whatsapp/{sender.id}"
    [number] = [n for n in sandbox.control("GET", "/_sandbox/numbers")
                if n["phone_number_id"] == sender.phone_number_id]
    assert number["callback_url"].startswith(receiver.url)
    yield


@pytest.mark.slow
@pytest.mark.parametrize("edge", ["flask", "receiver"])
def test_a_real_worker_applies_the_statuses_the_sandbox_posts_to_the_live_endpoint(app, sandbox, fast_sender,
                                                                                   start_worker, start_receiver,
                                                                                   edge):
    template = sandbox_template(fast_sender)
    people(6)
    with edge_for(edge, app, sandbox, fast_sender, start_receiver):
        sandbox.configure(callback_delays_ms=[20, 60], status_shares={**QUIET, "read": 1})
        campaign = sending_campaign(fast_sender, template)
        worker = start_worker()

        def all_read() -> bool:
            found = rows(campaign.id)
            return len(found) == 6 and all(row.status is S.READ for row in found)

        wait_for(all_read, f"the statuses to be applied:\n{worker.output()}")

        def delivered() -> int:
            return sandbox.ledger(summary=True)["counts"].get("webhooks_delivered", 0)

        wait_for(lambda: delivered() >= 18, "the sandbox to count its webhooks")  # sent, delivered, read each
        # A read may overtake its delivered on the wire (the sandbox posts from many tasks): wait for the last too.
        wait_for(lambda: pending() == 0, f"every stored body to be applied:\n{worker.output()}")
    for row in rows(campaign.id):
        # The provider's times are whole seconds; ours (the send's answer) are finer.
        assert row.sent_at.replace(microsecond=0) <= row.delivered_at <= row.read_at
        assert (row.billable, row.price_category, row.cost_minor) == (True, "marketing", 8)  # RU, shipped card
    db.session.rollback()
    events = db.session.scalar(select(func.count()).select_from(WebhookEvent))
    assert events == delivered() and pending() == 0  # every acknowledged body stored once, and applied
    assert "Traceback" not in worker.output(), worker.output()


@pytest.mark.slow
def test_a_callback_acknowledged_while_redis_is_down_is_applied_by_the_sweep_of_a_later_worker(
        app, database_url, cloud_sender, tmp_path, start_worker):
    messages = [add_message(campaign_of(cloud_sender), S.SENT) for _ in range(3)]
    down = build_app(database_url, f"unix://{tmp_path}/redis-is-down.sock")  # no Redis, and no worker running
    client = down.test_client()
    for message in messages:
        raw = body("status_read", wamid=message.provider_message_id, key=message.idempotency_key)
        assert post(client, cloud_sender, raw).status_code == 200
    with down.app_context():
        db.engine.dispose()
    assert len(stored()) == 3 and pending() == 3  # durable: only the wake-ups were lost

    worker = start_worker(WEBHOOK_SWEEP_SECONDS="1")
    wait_for(lambda: all(fresh(message).status is S.READ for message in messages),
             f"the sweep to apply the bodies:\n{worker.output()}")
    assert pending() == 0
    assert "event=webhooks_swept pending=3" in worker.output()
