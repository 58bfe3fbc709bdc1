"""Campaigns through a bot (MAX, Telegram): the template rendered for the channel, the content hash covering it,
no provider approval needed, and the recipients materialised onto active addresses; SQLite and PostgreSQL."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import select, update

from audience import addresses
from campaigns import bot_rendering, template_approvals
from campaigns.bot_rendering import OPT_OUT_PAYLOAD, render_for
from campaigns.content import content_hash
from campaigns.materialise import BOT_EXCLUSION_REASONS, materialise
from campaigns.models import Message, MessageStatus, Sender, TemplateCategory, TemplateStatus
from channels.base import InlineButton
from compliance.models import SuppressionReason, SuppressionScope
from compliance.sending import SendingRules
from compliance.suppression import suppress
from dbtypes import utcnow
from extensions import db
from tests.bot_world import add_bot, messenger_only, start_bot
from tests.test_materialise import add_campaign, add_contact, add_template


def template(body: str = "Здравствуйте, {{1}}! Скидка в {{2}}.", *, header: str = "", footer: str = "",
             buttons: list | None = None, category: TemplateCategory = TemplateCategory.MARKETING,
             language: str = "ru") -> SimpleNamespace:
    return SimpleNamespace(header=header, body=body, footer=footer, buttons=buttons or [], language=language,
                           category=category, examples={"1": "Анна", "2": "Москве"})


# --- rendering -------------------------------------------------------------------------------------------

def test_header_body_and_footer_become_one_html_text_with_the_templates_formatting_and_values_escaped(app):
    message = render_for("max", template("*Скидка* _20%_ в {{2}} для {{1}} & ~всех~ ```КОД-1```",
                                         header="Привет, {{1}}", footer="Магазин <Ромашка>"),
                         {"1": "*Анна* <b>", "2": "_Москве_"})
    assert message.text == ("<b>Привет, *Анна* &lt;b&gt;</b>\n\n"
                            "<b>Скидка</b> <i>20%</i> в _Москве_ для *Анна* &lt;b&gt; &amp; <s>всех</s> "
                            "<code>КОД-1</code>\n\n<i>Магазин &lt;Ромашка&gt;</i>")
    assert message.text_format == "html" and message.length == len(message.text) and message.limit == 4000


def test_markers_inside_words_and_across_lines_stay_literal(app):
    plain = template("snake_case_name 2*3*4 and *not\nbold*", category=TemplateCategory.UTILITY)
    message = render_for("telegram", plain, {})
    assert message.text == "snake_case_name 2*3*4 and *not\nbold*"
    assert message.buttons == () and message.limit == 4096


def test_quick_replies_are_callbacks_links_are_links_and_the_opt_out_carries_the_standard_payload(app):
    buttons = [{"type": "quick_reply", "text": "Хочу"}, {"type": "url", "text": "Сайт", "url": "https://shop.ru"},
               {"type": "quick_reply", "text": "Отписаться"}, {"type": "phone", "text": "Позвонить",
                                                               "phone": "+74951234567"}]
    message = render_for("max", template("Скидка", buttons=buttons), {})
    assert message.buttons == (InlineButton("Хочу", payload="Хочу"), InlineButton("Сайт", url="https://shop.ru"),
                               InlineButton("Отписаться", payload=OPT_OUT_PAYLOAD))
    assert message.text == "Скидка\n\nПозвонить: +74951234567"  # bots have no call button


def test_a_marketing_template_without_an_opt_out_gets_one_in_its_language_and_a_utility_one_does_not(app):
    ru = render_for("telegram", template("Скидка", buttons=[{"type": "quick_reply", "text": "Хочу"}]), {})
    assert ru.buttons[-1] == InlineButton("Отписаться", payload=OPT_OUT_PAYLOAD)
    en = render_for("max", template("Sale", language="en"), {})
    assert en.buttons == (InlineButton("Stop promotions", payload=OPT_OUT_PAYLOAD),)
    utility = render_for("max", template("Заказ готов", category=TemplateCategory.UTILITY), {})
    assert utility.buttons == ()


def test_a_restricted_mention_in_a_value_is_marked_and_the_disclaimer_appended(app):
    message = render_for("max", template("Подпишитесь: {{1}}"), {"1": "Instagram"})
    assert message.text.startswith("Подпишитесь: Instagram*\n\n*Meta Platforms Inc.")


def test_the_length_is_measured_as_each_channel_counts_and_over_the_limit_is_a_preflight_sentence(app):
    emoji = "😀" * 2100  # 2,100 characters, 4,200 UTF-16 units
    on_max = render_for("max", template("{{1}}", category=TemplateCategory.UTILITY), {"1": emoji})
    on_telegram = render_for("telegram", template("{{1}}", category=TemplateCategory.UTILITY), {"1": emoji})
    assert (on_max.length, on_max.too_long) == (2100, False)
    assert (on_telegram.length, on_telegram.too_long) == (4200, True)
    assert bot_rendering.preflight_sentences(on_max) == []
    [sentence] = bot_rendering.preflight_sentences(on_telegram)
    assert "4200" in sentence and "4096" in sentence and sentence.code == "bot_text_too_long"
    long_max = render_for("max", template("&" * 1000, category=TemplateCategory.UTILITY), {})
    assert long_max.length == 5000 and long_max.too_long  # measured on the text sent: "&amp;" is five


# --- approval and hash -------------------------------------------------------------------------------------

def test_a_bot_needs_no_provider_approval_and_is_no_business_account(app):
    bot = add_bot("max")
    draft = add_template(status=TemplateStatus.DRAFT)
    assert template_approvals.approved_for(draft, bot)
    assert bot.id not in {account.sender.id for account in template_approvals.accounts()}


def test_the_content_hash_covers_the_bot_channel_and_its_rendering(app):
    bot = add_bot("max")
    campaign = add_campaign(sender=bot)
    on_max = content_hash(campaign)
    bot.channel = "telegram"
    db.session.commit()
    on_telegram = content_hash(campaign)
    assert on_telegram != on_max
    # The rendering changes with the template's buttons even where nothing else in the snapshot does: the opt-out
    # button a marketing template gets is part of what was approved.
    tmpl = db.session.get(type(add_template()), campaign.template_id)
    tmpl.category = TemplateCategory.UTILITY
    db.session.commit()
    assert content_hash(campaign) != on_telegram


def test_a_whatsapp_campaigns_hash_has_no_rendering(app):
    campaign = add_campaign()
    from campaigns.content import content_snapshot
    snapshot = content_snapshot(campaign)
    assert "rendering" not in snapshot and set(snapshot["sender"]) == {"id", "phone"}


# --- materialise ---------------------------------------------------------------------------------------------

def rows_of(campaign_id: int) -> dict[int, Message]:
    found = db.session.scalars(select(Message).where(Message.campaign_id == campaign_id))
    return {row.contact_id: row for row in found}


@pytest.mark.parametrize("channel", ["max", "telegram"])
def test_a_bot_campaign_reaches_active_addresses_only_and_counts_everybody_else(app, channel):
    bot, other_bot = add_bot(channel), add_bot(channel)
    with_phone = add_contact()
    start_bot(bot, with_phone, address="111")
    lone, lone_address = messenger_only(bot)
    add_contact()  # no address anywhere
    only_elsewhere = add_contact()
    start_bot(other_bot, only_elsewhere)
    stopper = add_contact()
    stopped = start_bot(bot, stopper)
    addresses.stop_address(bot.id, stopped.address, at=utcnow(), evidence="stop-1")
    unreachable = add_contact()
    gone = start_bot(bot, unreachable)
    addresses.mark_unreachable(bot.id, gone.address, at=utcnow(), evidence="404")
    opted_out = add_contact()
    start_bot(bot, opted_out)
    suppress(opted_out.phone, SuppressionReason.OPT_OUT, source="reply")
    # A messenger-only person who opted out on another bot: the refusal is the person's, on every channel.
    refuser, _row = messenger_only(bot)
    elsewhere = start_bot(other_bot, refuser)
    suppress(elsewhere.address_key, SuppressionReason.OPT_OUT, source="reply", scope=SuppressionScope.PERSON)
    _blocker, blocker_address = messenger_only(bot)
    suppress(blocker_address.address_key, SuppressionReason.BLOCK, source="reply", scope=SuppressionScope.PERSON)
    db.session.commit()

    campaign = add_campaign(sender=bot)
    result = materialise(campaign, utcnow(), SendingRules())
    db.session.commit()

    made = rows_of(campaign.id)
    # Unreachable is no address to write to, like none at all or one on another bot only.
    assert set(made) == {with_phone.id, lone.id}
    assert (made[with_phone.id].address, made[with_phone.id].phone) == ("111", with_phone.phone)
    assert (made[lone.id].address, made[lone.id].phone) == (lone_address.address, "")
    assert made[lone.id].status is MessageStatus.QUEUED
    assert result.recipients == 2
    assert result.exclusions == {"no_address": 3, "bot_stopped": 1, "blocked": 1, "opted_out": 2, "no_consent": 0,
                                 "frequency_cap": 0}
    assert tuple(result.exclusions) == BOT_EXCLUSION_REASONS
    # Again: nothing new, the same keys.
    assert materialise(campaign, utcnow(), SendingRules()).recipients == 2


def test_a_contact_with_two_active_addresses_on_the_bot_gets_one_row_to_the_oldest(app):
    bot = add_bot("telegram")
    contact = add_contact()
    first = start_bot(bot, contact, address="201")
    start_bot(bot, contact, address="202")
    campaign = add_campaign(sender=bot)
    result = materialise(campaign, utcnow(), SendingRules())
    db.session.commit()
    assert result.recipients == 1 and rows_of(campaign.id)[contact.id].address == first.address
    assert sum(result.exclusions.values()) == 0


def test_an_address_started_after_the_launch_moment_is_no_consent_yet(app):
    bot = add_bot("max")
    contact = add_contact()
    row = start_bot(bot, contact)
    db.session.execute(update(type(row)).where(type(row).id == row.id).values(consent_at=utcnow().replace(year=2100)))
    db.session.commit()
    campaign = add_campaign(sender=bot)
    result = materialise(campaign, utcnow(), SendingRules())
    assert result.recipients == 0 and result.exclusions["no_consent"] == 1
    assert db.session.get(Sender, bot.id).phone is None


# --- the review ----------------------------------------------------------------------------------------------

def test_the_review_page_shows_the_bot_rendering_as_sent_with_its_markup_escaped_and_its_buttons(app, make_user):
    from tests.campaign_world import add_template as add_named_template
    from tests.helpers import signed_in_client

    reviewer = make_user("reviewer")
    bot = add_bot("max")
    tmpl = add_named_template("bot_sale", body="*Скидка* для {{1}} <скоро>", header="Привет",
                        buttons=[{"type": "url", "text": "Сайт", "url": "https://shop.ru"}])
    campaign = add_campaign(sender=bot, template=tmpl)
    page = signed_in_client(app, reviewer.email).get(f"/reviews/{campaign.id}").get_data(as_text=True)
    section = page[page.index('id="bot-renderings"'):]
    # The exact text the bot sends, tags and all, shown as text: the template's own "<скоро>" stays escaped.
    assert "&lt;b&gt;Привет&lt;/b&gt;\n\n&lt;b&gt;Скидка&lt;/b&gt; для Анна &amp;lt;скоро&amp;gt;" in section
    assert "<b>" not in section[:section.index("</section>")]
    assert "Сайт" in section and "https://shop.ru" in section and "Отписаться" in section  # the opt-out it gets
