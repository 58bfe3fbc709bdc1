"""Sending rules: defaults, per-country windows, validation with named fields, round-trip, tiers."""

from __future__ import annotations

import json
from datetime import time

import pytest

from compliance.sending import TIER_LIMITS, SendingRules, SendWindow, tier_headroom, tier_limit


def test_defaults_are_nine_to_nine_with_the_us_tcpa_window():
    rules = SendingRules()
    assert rules.window == SendWindow(time(9), time(21))
    assert rules.window_for("US") == SendWindow(time(8), time(21))
    assert rules.window_for("us") == SendWindow(time(8), time(21))
    assert rules.window_for("RU") == rules.window
    assert rules.window_for("") == rules.window
    assert (rules.cap_per_day, rules.cap_per_week) == (1, 3)
    assert rules.capped_categories == ("marketing",)
    assert rules.windowed_categories == ("marketing",)


def test_window_includes_its_start_and_excludes_its_end():
    window = SendWindow(time(9), time(21))
    assert window.contains(time(9, 0))
    assert window.contains(time(20, 59, 59))
    assert not window.contains(time(21, 0))
    assert not window.contains(time(8, 59, 59))


def test_a_window_that_does_not_start_before_it_ends_is_refused():
    with pytest.raises(ValueError, match="must start before it ends"):
        SendWindow(time(21), time(9))
    with pytest.raises(ValueError, match="must start before it ends"):
        SendWindow(time(9), time(9))


def test_as_dict_is_json_ready_and_reads_back_unchanged():
    rules = SendingRules(
        window=SendWindow(time(10), time(20, 30)),
        country_windows={"US": SendWindow(time(8), time(20)), "DE": SendWindow(time(9), time(19))},
        cap_per_day=2,
        cap_per_week=None,
        capped_categories=("marketing", "utility"),
        windowed_categories=("marketing",),
    )
    data = json.loads(json.dumps(rules.as_dict()))
    assert data["window"] == {"start": "10:00", "end": "20:30"}
    assert data["country_windows"]["US"] == {"start": "08:00", "end": "20:00"}
    assert data["cap_per_week"] is None
    assert SendingRules.from_dict(data) == rules
    assert SendingRules.from_dict(SendingRules().as_dict()) == SendingRules()


def test_from_dict_fills_missing_settings_with_defaults_and_normalises_country_codes():
    rules = SendingRules.from_dict({"cap_per_day": 2, "country_windows": {"de": {"start": "10:00", "end": "18:00"}}})
    assert rules.cap_per_day == 2
    assert rules.cap_per_week == 3
    assert rules.window == SendWindow(time(9), time(21))
    assert rules.window_for("DE") == SendWindow(time(10), time(18))
    # Giving country_windows replaces the defaults, so the US falls back to the default window.
    assert rules.window_for("US") == rules.window


def test_from_dict_accepts_no_caps():
    rules = SendingRules.from_dict({"cap_per_day": None, "cap_per_week": None})
    assert rules.cap_per_day is None and rules.cap_per_week is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"country_windows": {"US": {"start": "21:00", "end": "08:00"}}},
            "The send window for US must start before it ends.",
        ),
        ({"window": {"start": "21:00", "end": "21:00"}}, "The default send window must start before it ends."),
        (
            {"window": {"start": "9:00", "end": "21:00"}},
            "The times of the default send window must be written as HH:MM",
        ),
        (
            {"window": {"start": "09:00", "end": "24:00"}},
            "The times of the default send window must be written as HH:MM",
        ),
        (
            {"country_windows": {"US": {"start": 8, "end": "21:00"}}},
            "The times of the send window for US must be written as HH:MM",
        ),
        ({"window": "09:00-21:00"}, "Give the default send window as a start and an end time."),
        ({"country_windows": {"US": {"start": "08:00"}}}, "Give the send window for US as a start and an end time."),
        ({"country_windows": {"USA": {"start": "08:00", "end": "21:00"}}}, "USA is not a two-letter country code"),
        ({"country_windows": [["US", "08:00", "21:00"]]}, "The country send windows must map"),
        ({"cap_per_day": 0}, "The daily cap must be a whole number of at least 1"),
        ({"cap_per_day": -1}, "The daily cap must be a whole number of at least 1"),
        ({"cap_per_day": "1"}, "The daily cap must be a whole number of at least 1"),
        ({"cap_per_day": True}, "The daily cap must be a whole number of at least 1"),
        ({"cap_per_week": 1.5}, "The weekly cap must be a whole number of at least 1"),
        ({"cap_per_day": 3, "cap_per_week": 2}, "The weekly cap cannot be lower than the daily cap."),
        ({"capped_categories": ["promo"]}, "The capped categories must be a list of message categories"),
        ({"windowed_categories": "marketing"}, "The categories with quiet hours must be a list"),
        ({"quiet_hours": True}, "Unknown sending rule setting: quiet_hours."),
        (["window"], "The sending rules must be a set of named settings."),
    ],
)
def test_from_dict_refuses_bad_values_with_a_sentence_naming_the_field(data, message):
    with pytest.raises(ValueError) as raised:
        SendingRules.from_dict(data)
    assert str(raised.value).startswith(message)


def test_tiers_match_whatsapp_messaging_limits():
    assert list(TIER_LIMITS.values()) == [50, 250, 1_000, 2_000, 10_000, 100_000, None]
    assert tier_limit("TIER_2K") == 2_000
    assert tier_limit("TIER_UNLIMITED") is None
    with pytest.raises(ValueError, match=r"Unknown WhatsApp messaging tier: TIER_1M\."):
        tier_limit("TIER_1M")


def test_tier_headroom_is_what_is_left_of_the_limit_and_never_negative():
    assert tier_headroom("TIER_250", 0) == 250
    assert tier_headroom("TIER_250", 240) == 10
    assert tier_headroom("TIER_250", 300) == 0
    assert tier_headroom("TIER_UNLIMITED", 10**9) is None
