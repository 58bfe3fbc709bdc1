"""The webhook receiver (``python webhooks.py``) as a real process: the same refusals as the Flask route, every
body committed to ``webhook_events`` before its 200 (many concurrent POSTs in a group commit), duplicates stored
once, its metrics in the multiprocess folder, and a clean exit on SIGTERM."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import create_engine, func, select

from campaigns.feedback.jobs import PROCESS_JOB_ID
from campaigns.feedback.models import WebhookEvent
from campaigns.models import MessageStatus
from extensions import redis_queues
from tests.conftest import build_app
from tests.feedback.conftest import add_message, campaign_of, fresh, stored, url_of
from tests.feedback.payloads import APP_SECRET, VERIFY_TOKEN, body, signed
from tests.feedback.receiver_process import EdgeProcess
from tests.processes import wait_for
from tests.test_metrics import samples, value
from tests.test_worker import start_worker  # noqa: F401  (a fixture)

pytestmark = pytest.mark.slow


def call(edge: EdgeProcess, path: str, raw: bytes | None = None, headers: dict | None = None,
         query: dict | None = None) -> tuple[int, str, bytes]:
    """(status, content type, body) of a GET (``raw`` None) or a POST to the receiver."""
    url = edge.url + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
    request = urllib.request.Request(url, data=raw, headers=headers or {}, method="GET" if raw is None else "POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers.get_content_type(), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get_content_type(), error.read()


def post(edge: EdgeProcess, sender, raw: bytes, secret: str = APP_SECRET, headers: dict | None = None):
    return call(edge, url_of(sender), raw, signed(raw, secret) if headers is None else headers)


def problem(answer: tuple[int, str, bytes], status: int) -> dict:
    code, kind, raw = answer
    assert (code, kind) == (status, "application/problem+json"), raw
    document = json.loads(raw)
    assert document["status"] == status and document["detail"]
    return document


def test_the_receiver_answers_the_handshake_and_refuses_what_the_route_refuses(start_receiver, cloud_sender):
    edge = start_receiver(WEBHOOK_MAX_BYTES="2000")
    challenge = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
    assert call(edge, url_of(cloud_sender), query=challenge) == (200, "text/plain", b"1158201444")
    problem(call(edge, url_of(cloud_sender), query={**challenge, "hub.verify_token": "wrong"}), 403)
    problem(call(edge, url_of(cloud_sender.id + 1), query=challenge), 404)

    raw = body("status_delivered")
    problem(post(edge, cloud_sender, raw, secret="another-apps-secret"), 403)
    problem(post(edge, cloud_sender, raw, headers={"Content-Type": "application/json"}), 403)  # no signature
    problem(post(edge, cloud_sender.id + 1, raw), 404)
    problem(post(edge, cloud_sender, b"{not json"), 400)
    too_large = raw + b" " * 2000
    assert problem(post(edge, cloud_sender, too_large), 413)["type"] == "/problems/too-large"
    russian = call(edge, url_of(cloud_sender), raw, {**signed(raw, "wrong"), "Accept-Language": "ru"})
    assert "подпис" in problem(russian, 403)["detail"].lower()  # the app's own sentence, in the caller's language
    assert stored() == [] and redis_queues.queue("webhooks").job_ids == []


def test_a_body_is_committed_before_its_200_and_a_repeat_is_stored_once(start_receiver, cloud_sender):
    edge = start_receiver()
    raw = body("status_delivered")
    assert post(edge, cloud_sender, raw)[0] == 200
    [event] = stored()  # read by another connection right after the answer: committed
    assert (event.sender_id, event.channel, event.body, event.processed_at) == (cloud_sender.id, "whatsapp", raw, None)
    wait_for(lambda: redis_queues.queue("webhooks").job_ids == [PROCESS_JOB_ID], "the workers to be woken after it")
    assert post(edge, cloud_sender, raw)[0] == 200  # Meta's retry of a body it thinks was lost
    assert [item.id for item in stored()] == [event.id]


def test_concurrent_callbacks_are_each_acknowledged_after_a_commit_that_holds_them(start_receiver, cloud_sender,
                                                                                 database_url):
    edge = start_receiver(WEBHOOK_RECEIVER_BATCH="16")  # 200 bodies take several group commits
    raws = [body("status_delivered", timestamp=1764658800 + n) for n in range(200)]
    engine = create_engine(database_url)  # another connection, as a crash-surviving reader would see the table
    sender_id = cloud_sender.id  # the threads have no app context to load it

    def stored_when_acknowledged(raw: bytes) -> bool:
        if post(edge, sender_id, raw)[0] != 200:
            return False
        with engine.connect() as connection:
            return connection.scalar(select(func.count()).where(WebhookEvent.body == raw)) == 1

    try:
        with ThreadPoolExecutor(32) as pool:
            assert all(pool.map(stored_when_acknowledged, raws + raws[:50]))  # 50 repeats among them
    finally:
        engine.dispose()
    assert sorted(event.body for event in stored()) == sorted(raws)


def test_the_receivers_metrics_are_summed_by_the_web_apps_metrics(start_receiver, cloud_sender, database_url,
                                                                   redis_url, tmp_path):
    folder = tmp_path / "metrics"
    folder.mkdir()
    edge = start_receiver(PROMETHEUS_MULTIPROC_DIR=str(folder))
    assert post(edge, cloud_sender, body("statuses_read_delivered_sent"))[0] == 200
    assert post(edge, cloud_sender, body("status_read"), secret="wrong")[0] == 403
    scraper = build_app(database_url, redis_url, METRICS_MULTIPROC_DIR=str(folder)).test_client()
    found = wait_for(lambda: (lambda f: f if value(f, "vestnik_webhook_requests_total", edge="receiver",
                                                   outcome="stored") == 1 else None)(samples(scraper)),
                     "the receiver's counts in /metrics")
    assert value(found, "vestnik_webhook_rejections_total", edge="receiver", reason="signature") == 1
    assert value(found, "vestnik_webhook_events_received_total", kind="status_event") == 3
    assert value(found, "vestnik_webhook_ack_seconds_count", edge="receiver") == 2
    assert value(found, "vestnik_webhook_bodies_stored_total", result="new") == 1


def test_a_worker_applies_what_the_receiver_stored_and_sigterm_ends_it_cleanly(start_receiver, start_worker,
                                                                               cloud_sender):
    edge = start_receiver()
    message = add_message(campaign_of(cloud_sender))
    raw = body("status_read", wamid=message.provider_message_id, key=message.idempotency_key)
    assert post(edge, cloud_sender, raw)[0] == 200
    worker = start_worker()
    wait_for(lambda: fresh(message).status is MessageStatus.READ, f"the worker to apply it:\n{worker.output()}")
    assert edge.stop() == 0
