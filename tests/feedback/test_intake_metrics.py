"""The webhook intake's Prometheus metrics as /metrics shows them: a signed callback counted by edge, kind and
latency, a refused one by its reason, the bodies stored (new and duplicate), and the workers' applies with
their lag."""

from __future__ import annotations

from campaigns.feedback import processing
from campaigns.models import MessageStatus
from tests.feedback.conftest import add_message, campaign_of, fresh, post
from tests.feedback.payloads import body
from tests.test_metrics import samples, value


def grew(before: dict, after: dict, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def test_metrics_show_a_stored_callback_and_a_refused_one_by_reason(client, cloud_sender):
    message = add_message(campaign_of(cloud_sender))
    raw = body("statuses_read_delivered_sent", wamid=message.provider_message_id, key=message.idempotency_key)
    before = samples(client)

    assert post(client, cloud_sender, raw).status_code == 200
    assert post(client, cloud_sender, raw).status_code == 200  # Meta's retry: acknowledged, stored once
    assert post(client, cloud_sender, raw, secret="not-the-apps-secret").status_code == 403
    assert post(client, cloud_sender, b"{not json").status_code == 400
    assert post(client, cloud_sender.id + 1, raw).status_code == 404
    after = samples(client)

    assert grew(before, after, "vestnik_webhook_requests_total", edge="flask", outcome="stored") == 2
    assert grew(before, after, "vestnik_webhook_requests_total", edge="flask", outcome="refused") == 3
    assert grew(before, after, "vestnik_webhook_events_received_total", kind="status_event") == 6  # 3 a body
    for reason in ("signature", "malformed", "unknown_sender"):
        assert grew(before, after, "vestnik_webhook_rejections_total", edge="flask", reason=reason) == 1, reason
    assert grew(before, after, "vestnik_webhook_rejections_total", edge="flask", reason="too_large") == 0
    assert grew(before, after, "vestnik_webhook_ack_seconds_count", edge="flask") == 5
    assert grew(before, after, "vestnik_webhook_ack_seconds_bucket", edge="flask", le="+Inf") == 5
    assert grew(before, after, "vestnik_webhook_bodies_stored_total", result="new") == 1
    assert grew(before, after, "vestnik_webhook_bodies_stored_total", result="duplicate") == 1

    processing.drain()
    applied = samples(client)
    assert fresh(message).status is MessageStatus.READ
    assert grew(after, applied, "vestnik_webhook_events_applied_total", kind="status_event") == 3
    assert grew(after, applied, "vestnik_webhook_processing_lag_seconds_count", channel="whatsapp") == 1
    assert value(applied, "vestnik_webhook_processing_lag_seconds_sum", channel="whatsapp") > 0


def test_a_body_over_the_limit_is_counted_as_too_large(app, client, cloud_sender):
    raw = body("status_delivered")
    app.config["WEBHOOK_MAX_BYTES"] = len(raw) - 1
    before = samples(client)
    assert post(client, cloud_sender, raw).status_code == 413
    after = samples(client)
    assert grew(before, after, "vestnik_webhook_rejections_total", edge="flask", reason="too_large") == 1
    assert grew(before, after, "vestnik_webhook_requests_total", edge="flask", outcome="stored") == 0
