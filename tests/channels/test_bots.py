"""What the MAX and Telegram bots share (channels/bots.py), each against the real sandbox process: no provider
templates, and no subscription check."""

from __future__ import annotations

import pytest

from channels.base import ChannelError, TemplateSubmission
from channels.registry import channel_for
from tests.channels import bot_calls

BOTS = ["max", "telegram"]


@pytest.mark.parametrize("channel", BOTS)
def test_template_calls_say_the_bot_has_no_templates(sandbox, channel):
    submission = TemplateSubmission("order_ready", "ru", "utility", body="Заказ {{1}} готов")
    for call in (lambda bot: bot.submit_template(submission), lambda bot: bot.template_states(),
                 lambda bot: bot.edit_template("1", submission)):
        with pytest.raises(ChannelError) as refused:
            bot_calls.with_bot(channel, sandbox, call)
        assert refused.value.code == "no_templates" and "template" in str(refused.value.sentence)
        assert not refused.value.retryable
    assert sandbox.ledger(summary=True)["counts"]["requests"] == 0  # refused before any request


@pytest.mark.parametrize("channel", BOTS)
def test_a_bot_answers_no_subscription_check(sandbox, channel):
    bot = channel_for(bot_calls.settings(channel, sandbox), session=None)
    assert bot.handshake({"hub.mode": "subscribe", "hub.challenge": "x", "hub.verify_token": "x"}) is None
