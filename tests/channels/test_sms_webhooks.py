"""SMSC status callbacks → events (from channels/sms/smsc/testdata), and the callback URL's secret that proves
them (pure: no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from channels.base import DeliveryStatus, SenderSettings, StatusEvent, WebhookError
from channels.registry import channel_for

TESTDATA = Path(__file__).resolve().parents[2] / "channels/sms/smsc/testdata"


def gateway(secret: str = "s3cret-value"):
    return channel_for(SenderSettings(channel="smsc", base_url="https://smsc.ru", app_secret=secret), None)


def body(name: str) -> bytes:
    return (TESTDATA / name).read_bytes()


@pytest.mark.parametrize(("name", "expected"), [
    ("status_sent.form", StatusEvent("41-7", DeliveryStatus.SENT, datetime.fromtimestamp(1767261592, UTC),
                                     "+79161234501", key="41-7")),
    ("status_delivered.form", StatusEvent("41-7", DeliveryStatus.DELIVERED,
                                          datetime.fromtimestamp(1767261600, UTC), "+79161234501", key="41-7")),
    ("status_expired.form", StatusEvent("41-8", DeliveryStatus.FAILED, datetime.fromtimestamp(1767348000, UTC),
                                        "+79161234587", key="41-8", error_code="status_3", error_title="err 6")),
    ("status_undeliverable.form", StatusEvent("41-9", DeliveryStatus.FAILED,
                                              datetime.fromtimestamp(1767261620, UTC), "+79161234588", key="41-9",
                                              error_code="status_20", error_title="err 1")),
])
def test_each_status_parses(name, expected):
    assert gateway().parse_webhook(body(name)) == [expected]


def test_a_queued_status_says_nothing_new():
    assert gateway().parse_webhook(body("status_queued_ignored.form")) == []


@pytest.mark.parametrize("raw", [b"", b"\xff\xfe", b"id=1&phone=7916", b"id=1&phone=7916&status=99&time=1",
                                 b"id=1&phone=7916&status=1&time=yesterday", b"{\"id\": 1}"])
def test_a_malformed_body_is_refused(raw):
    with pytest.raises(WebhookError):
        gateway().parse_webhook(raw)


@pytest.mark.parametrize(("query", "secret", "verified"), [
    ({"secret": "s3cret-value"}, "s3cret-value", True),
    ({"secret": "s3cret-valuX"}, "s3cret-value", False),
    ({"secret": ""}, "s3cret-value", False),
    ({}, "s3cret-value", False),
    ({"secret": "anything"}, "", False),  # a sender without a secret accepts nothing
])
def test_the_callback_urls_secret_verifies_it(query, secret, verified):
    assert gateway(secret).verify_callback({}, body("status_delivered.form"), query) is verified
    assert gateway(secret).verify_webhook({"secret": secret}, body("status_delivered.form")) is False  # no header way
