"""Send-time verdicts: every rule passing and failing, windows across zones and DST, tier order, preflight."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta, timezone

import pytest

from compliance.send_verdicts import PASSED, RecipientFacts, SendContext, evaluate, preflight
from compliance.sending import SendingRules, SendWindow
from compliance.verdict import Outcome

UTC = UTC
RU_ZONES = (
    "Europe/Kaliningrad", "Europe/Moscow", "Europe/Samara", "Asia/Yekaterinburg", "Asia/Omsk",
    "Asia/Krasnoyarsk", "Asia/Irkutsk", "Asia/Yakutsk", "Asia/Vladivostok", "Asia/Magadan", "Asia/Kamchatka",
)
# 12:00 UTC on a Tuesday: 15:00 in Moscow, inside the default window.
NOON = datetime(2025, 3, 11, 12, 0, tzinfo=UTC)


def facts(**overrides) -> RecipientFacts:
    values = {"phone": "+79161234567", "country": "RU", "time_zones": ("Europe/Moscow",), "has_consent": True}
    return RecipientFacts(**(values | overrides))


def decide(recipient: RecipientFacts, now: datetime = NOON, **context):
    return evaluate([recipient], SendContext(now, **context))[0]


def only_verdict(decision):
    assert len(decision.verdicts) == 1
    return decision.verdicts[0]


def test_a_recipient_who_passes_every_rule_gets_the_shared_pass():
    decision = decide(facts(sent_today=0, sent_this_week=2), tier_headroom=10)
    assert decision is PASSED
    assert decision.outcome is Outcome.PASS
    assert decision.verdicts == ()
    assert decision.until is None


def test_no_consent_blocks():
    decision = decide(facts(has_consent=False))
    verdict = only_verdict(decision)
    assert decision.outcome is Outcome.BLOCK
    assert (verdict.rule, verdict.outcome) == ("consent", Outcome.BLOCK)
    assert "consent" in verdict.reason


@pytest.mark.parametrize(
    ("reason", "sentence"),
    [
        ("opt_out", "The recipient opted out."),
        ("block", "The recipient blocked the business."),
        ("spam_report", "The recipient reported spam."),
        ("manual", "The recipient was suppressed manually."),
        ("bounced", "The recipient is on the suppression list."),
    ],
)
def test_any_active_suppression_blocks_and_names_its_reason(reason, sentence):
    decision = decide(facts(suppressed=(reason,)))
    verdict = only_verdict(decision)
    assert decision.outcome is Outcome.BLOCK
    assert (verdict.rule, verdict.reason) == ("suppressed", sentence)
    assert verdict.details == {"reasons": [reason]}


def test_several_suppressions_name_the_most_serious():
    verdict = only_verdict(decide(facts(suppressed=("manual", "opt_out", "spam_report"))))
    assert verdict.reason == "The recipient reported spam."
    assert verdict.details["reasons"] == ["manual", "opt_out", "spam_report"]


def test_suppression_takes_precedence_over_missing_consent():
    decision = decide(facts(has_consent=False, suppressed=("opt_out",)))
    assert [verdict.rule for verdict in decision.verdicts] == ["suppressed"]


def test_suppression_and_consent_hold_for_utility_messages_too():
    assert decide(facts(suppressed=("block",)), category="utility").outcome is Outcome.BLOCK
    assert decide(facts(has_consent=False), category="authentication").outcome is Outcome.BLOCK


def test_daily_cap_blocks_with_the_count_and_limit():
    decision = decide(facts(sent_today=1, sent_this_week=1))
    verdict = only_verdict(decision)
    assert decision.outcome is Outcome.BLOCK
    assert verdict.rule == "frequency_cap"
    assert "24 hours (1 sent, limit 1)" in verdict.reason
    assert verdict.details == {"period": "day", "sent": 1, "limit": 1}


def test_weekly_cap_blocks_with_the_count_and_limit():
    verdict = only_verdict(decide(facts(sent_today=0, sent_this_week=4)))
    assert verdict.rule == "frequency_cap"
    assert "7 days (4 sent, limit 3)" in verdict.reason
    assert verdict.details == {"period": "week", "sent": 4, "limit": 3}


def test_below_the_caps_passes_and_no_cap_means_no_limit():
    assert decide(facts(sent_today=0, sent_this_week=2)) is PASSED
    uncapped = SendingRules(cap_per_day=None, cap_per_week=None)
    assert decide(facts(sent_today=50, sent_this_week=500), rules=uncapped) is PASSED


def test_the_cap_is_checked_before_the_window():
    night = datetime(2025, 3, 11, 22, 0, tzinfo=UTC)  # 01:00 in Moscow
    assert only_verdict(decide(facts(sent_today=1), night)).rule == "frequency_cap"


@pytest.mark.parametrize("category", ["utility", "authentication"])
def test_utility_and_authentication_ignore_the_window_and_the_cap(category):
    night = datetime(2025, 3, 11, 0, 30, tzinfo=UTC)  # 03:30 in Moscow
    assert decide(facts(sent_today=9, sent_this_week=40), night, category=category) is PASSED
    assert decide(facts(time_zones=()), night, category=category) is PASSED


def test_windowed_and_capped_categories_are_configurable():
    night = datetime(2025, 3, 11, 0, 30, tzinfo=UTC)
    rules = SendingRules(windowed_categories=("marketing", "utility"), capped_categories=("utility",))
    assert decide(facts(), night, category="utility", rules=rules).outcome is Outcome.DEFER
    assert only_verdict(decide(facts(sent_today=1), NOON, category="utility", rules=rules)).rule == "frequency_cap"
    assert decide(facts(sent_today=1), NOON, category="marketing", rules=rules) is PASSED


@pytest.mark.parametrize(
    ("now", "until"),
    [
        # Moscow is UTC+3 all year: the window is 06:00-18:00 UTC.
        (datetime(2025, 3, 11, 6, 0, tzinfo=UTC), None),
        (datetime(2025, 3, 11, 17, 59, 59, tzinfo=UTC), None),
        (datetime(2025, 3, 11, 5, 59, 59, tzinfo=UTC), datetime(2025, 3, 11, 6, 0, tzinfo=UTC)),
        (datetime(2025, 3, 11, 18, 0, tzinfo=UTC), datetime(2025, 3, 12, 6, 0, tzinfo=UTC)),
    ],
)
def test_window_includes_nine_and_excludes_twenty_one_local(now, until):
    decision = decide(facts(), now)
    if until is None:
        assert decision is PASSED
    else:
        verdict = only_verdict(decision)
        assert (decision.outcome, verdict.rule, decision.until) == (Outcome.DEFER, "send_window", until)
        assert verdict.details == {"until": until.isoformat(), "start": "09:00", "end": "21:00"}


def test_a_deferred_verdict_is_json_ready():
    decision = decide(facts(), datetime(2025, 3, 11, 20, 0, tzinfo=UTC))
    data = json.loads(json.dumps(only_verdict(decision).as_dict()))
    assert data["outcome"] == "defer"
    assert datetime.fromisoformat(data["details"]["until"]) == decision.until


def test_eleven_russian_zones_share_only_seven_to_nine_utc():
    recipient = facts(time_zones=RU_ZONES)
    start = datetime(2025, 3, 11, 0, 0, tzinfo=UTC)
    open_minutes = [
        minute for minute in range(24 * 60)
        if decide(recipient, start + timedelta(minutes=minute)) is PASSED
    ]
    assert open_minutes == list(range(7 * 60, 9 * 60))


@pytest.mark.parametrize(
    ("now", "until"),
    [
        (datetime(2025, 3, 11, 6, 59, tzinfo=UTC), datetime(2025, 3, 11, 7, 0, tzinfo=UTC)),
        (datetime(2025, 3, 11, 9, 0, tzinfo=UTC), datetime(2025, 3, 12, 7, 0, tzinfo=UTC)),
        (datetime(2025, 3, 11, 23, 30, tzinfo=UTC), datetime(2025, 3, 12, 7, 0, tzinfo=UTC)),
    ],
)
def test_eleven_russian_zones_defer_to_the_next_common_window(now, until):
    decision = decide(facts(time_zones=RU_ZONES), now)
    assert (decision.outcome, decision.until) == (Outcome.DEFER, until)


def test_us_recipients_get_the_tcpa_window_from_eight():
    # 2025-01-14: New York is on EST (UTC-5), so 08:00 local is 13:00 UTC and 09:00 is 14:00 UTC.
    new_york = facts(country="US", time_zones=("America/New_York",))
    toronto = facts(country="CA", time_zones=("America/Toronto",))
    early = datetime(2025, 1, 14, 13, 30, tzinfo=UTC)
    assert decide(new_york, early) is PASSED
    assert decide(toronto, early).until == datetime(2025, 1, 14, 14, 0, tzinfo=UTC)
    assert decide(new_york, datetime(2025, 1, 14, 12, 59, tzinfo=UTC)).until == datetime(2025, 1, 14, 13, 0, tzinfo=UTC)
    assert only_verdict(decide(new_york, datetime(2025, 1, 14, 12, 0, tzinfo=UTC))).details["start"] == "08:00"


@pytest.mark.parametrize(
    ("now", "until"),
    [
        # 21:00 EST on Saturday 8 March; clocks spring forward overnight, so 08:00 EDT is 12:00 UTC.
        (datetime(2025, 3, 9, 2, 0, tzinfo=UTC), datetime(2025, 3, 9, 12, 0, tzinfo=UTC)),
        # 00:00 EDT on Sunday 2 November; clocks fall back overnight, so 08:00 EST is 13:00 UTC.
        (datetime(2025, 11, 2, 4, 0, tzinfo=UTC), datetime(2025, 11, 2, 13, 0, tzinfo=UTC)),
    ],
)
def test_the_window_follows_new_york_across_dst_changes(now, until):
    decision = decide(facts(country="US", time_zones=("America/New_York",)), now)
    assert (decision.outcome, decision.until) == (Outcome.DEFER, until)
    assert decide(facts(country="US", time_zones=("America/New_York",)), until) is PASSED
    assert (
        decide(facts(country="US", time_zones=("America/New_York",)), until - timedelta(seconds=1)).outcome
        is Outcome.DEFER
    )


def test_zones_exactly_twelve_hours_apart_share_no_moment_of_a_twelve_hour_window():
    verdict = only_verdict(decide(facts(country="", time_zones=("Etc/UTC", "Etc/GMT-12"))))
    assert (verdict.rule, verdict.outcome) == ("send_window", Outcome.BLOCK)
    assert "share no hour inside the send window; add the recipient's city" in verdict.reason


def test_a_narrow_window_over_eleven_zones_blocks():
    rules = SendingRules(window=SendWindow(time(10), time(12)))
    decision = decide(facts(time_zones=RU_ZONES), rules=rules)
    assert decision.outcome is Outcome.BLOCK
    assert only_verdict(decision).details == {"time_zones": list(RU_ZONES)}


@pytest.mark.parametrize(
    "zones", [(), ("Etc/Unknown",), ("America",), ("../etc/passwd",), ("Europe/Moscow", "Mars/Olympus_Mons")]
)
def test_an_unknown_time_zone_blocks_marketing(zones):
    verdict = only_verdict(decide(facts(time_zones=zones)))
    assert (verdict.rule, verdict.outcome) == ("send_window", Outcome.BLOCK)
    assert "time zone is unknown" in verdict.reason


def test_tier_headroom_is_taken_in_order_and_recent_contacts_take_none():
    recipients = [
        facts(phone="+1"),
        facts(phone="+2", contacted_last_24h=True),
        facts(phone="+3"),
        facts(phone="+4"),
        facts(phone="+5", contacted_last_24h=True),
    ]
    decisions = evaluate(recipients, SendContext(NOON, tier_headroom=2))
    assert [decision.outcome for decision in decisions] == [
        Outcome.PASS, Outcome.PASS, Outcome.PASS, Outcome.DEFER, Outcome.PASS,
    ]
    verdict = only_verdict(decisions[3])
    assert verdict.rule == "tier"
    assert "messaging limit" in verdict.reason
    assert decisions[3].until is None


def test_no_headroom_defers_every_new_recipient_and_none_means_unlimited():
    recipients = [facts(phone=f"+{n}") for n in range(3)]
    assert {d.outcome for d in evaluate(recipients, SendContext(NOON, tier_headroom=0))} == {Outcome.DEFER}
    assert evaluate(recipients, SendContext(NOON, tier_headroom=None)) == [PASSED] * 3


def test_blocked_and_window_deferred_recipients_take_no_headroom():
    recipients = [
        facts(phone="+1", has_consent=False),
        facts(phone="+2", time_zones=("America/Los_Angeles",), country="US"),  # 05:00 there: deferred
        facts(phone="+3"),
        facts(phone="+4"),
    ]
    decisions = evaluate(recipients, SendContext(NOON, tier_headroom=1))
    assert [only_verdict(d).rule for d in decisions[:2]] == ["consent", "send_window"]
    assert decisions[2] is PASSED
    assert only_verdict(decisions[3]).rule == "tier"


def test_headroom_is_per_call():
    context = SendContext(NOON, tier_headroom=1)
    assert evaluate([facts()], context) == [PASSED]
    assert evaluate([facts()], context) == [PASSED]


def test_recipients_of_one_kind_share_one_decision():
    decisions = evaluate(
        [
            facts(suppressed=("opt_out",)),
            facts(suppressed=("opt_out",)),
            facts(time_zones=RU_ZONES),
            facts(time_zones=RU_ZONES),
        ],
        SendContext(datetime(2025, 3, 11, 12, 0, tzinfo=UTC)),
    )
    assert decisions[0] is decisions[1]
    assert decisions[2] is decisions[3]
    assert decisions[0] is not decisions[2]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"now": datetime(2025, 3, 11, 12, 0)}, "timezone-aware"),
        ({"now": NOON, "category": "promo"}, "Unknown message category"),
        ({"now": NOON, "tier_headroom": -1}, "cannot be negative"),
    ],
)
def test_send_context_refuses_bad_inputs(arguments, message):
    with pytest.raises(ValueError, match=message):
        SendContext(**arguments)


def test_send_context_keeps_now_in_utc():
    moscow = timezone(timedelta(hours=3))
    context = SendContext(datetime(2025, 3, 11, 15, 0, tzinfo=moscow))
    assert context.now == NOON and context.now.tzinfo is UTC


def test_preflight_counts_each_recipient_once_by_its_first_deciding_rule():
    recipients = (
        [facts()] * 5
        + [facts(contacted_last_24h=True)] * 2
        + [facts(suppressed=("opt_out",), has_consent=False)] * 3
        + [facts(has_consent=False)] * 2
        + [facts(sent_today=1)] * 4
        + [facts(time_zones=())] * 1
        + [facts(time_zones=("America/Los_Angeles",), country="US")] * 6
    )
    report = preflight(recipients, SendContext(NOON, tier_headroom=3))
    assert report.total == 23
    assert report.eligible == 3 + 2
    assert report.excluded == {"suppressed": 3, "consent": 2, "frequency_cap": 4, "send_window": 1}
    assert report.deferred_by == {"send_window": 6, "tier": 2}
    assert report.deferred == 8
    assert report.eligible + report.deferred + sum(report.excluded.values()) == report.total
    assert json.loads(json.dumps(report.as_dict())) == {
        "total": 23,
        "eligible": 5,
        "deferred": 8,
        "excluded": {"suppressed": 3, "consent": 2, "frequency_cap": 4, "send_window": 1},
        "deferred_by": {"send_window": 6, "tier": 2},
    }


def test_preflight_of_nobody_is_empty():
    report = preflight([], SendContext(NOON))
    assert (report.total, report.eligible, report.deferred, report.excluded, report.deferred_by) == (0, 0, 0, {}, {})


@pytest.mark.parametrize("headroom", [None, 0, 3, 5, 100])
def test_counted_groups_decide_as_their_copies_one_by_one(headroom):
    """``evaluate_counted`` over (facts, n) gives what ``evaluate`` gives n copies in a row, tier order kept."""
    from collections import Counter

    from compliance.send_verdicts import evaluate_counted

    kinds = [facts(), facts(contacted_last_24h=True), facts(has_consent=False), facts(time_zones=("Asia/Tokyo",)),
             facts(country="US", time_zones=("America/New_York",)), facts(sent_today=1), facts(phone="+79160000000")]
    groups = [(kinds[i % len(kinds)], 1 + i % 4) for i in range(12)]
    context = SendContext(NOON, tier_headroom=headroom)
    one_by_one = evaluate([recipient for recipient, n in groups for _ in range(n)], context)
    counted = evaluate_counted(groups, context)
    def kind(decision):  # decisions of two calls are two instances: compare what they say
        return decision.outcome, tuple(json.dumps(v.as_dict(), sort_keys=True) for v in decision.verdicts)

    assert [Counter({kind(d): n for d, n in decided}) for decided in counted] == [
        Counter(map(kind, one_by_one[start:start + n])) for start, n in zip(
            [sum(n for _f, n in groups[:i]) for i in range(len(groups))], [n for _f, n in groups], strict=True)]
    assert all(n > 0 for decided in counted for _d, n in decided)
