"""A template as an SMS (``campaigns.sms_rendering``): plain text — header, body with its disclaimer, footer, the
buttons that mean something without a tap — its parts, the limit as a preflight sentence, and the content hash of
an SMS campaign covering the channel and the text."""

from __future__ import annotations

from audience.models import Segment
from campaigns import content, sms_rendering
from campaigns.models import Campaign, CampaignStatus, TemplateCategory
from campaigns.sms_rendering import render_for
from channels.sms import segments
from extensions import db
from tests.campaign_world import add_template
from tests.test_bot_campaigns import template


def test_the_parts_become_lines_of_plain_text_and_whatsapps_formatting_is_dropped(app):
    message = render_for(template("Здравствуйте, *{{1}}*! Скидка _20%_ в {{2}}.", header="Осень", footer="Магазин",
                                  buttons=[{"type": "quick_reply", "text": "Хочу"},
                                           {"type": "quick_reply", "text": "Отписаться"},
                                           {"type": "url", "text": "Каталог", "url": "https://shop.example/a"},
                                           {"type": "phone", "text": "Позвонить", "phone": "+74951234567"}]),
                         {"1": "*Анна*", "2": "Москве"})
    # A value is sent as given; a quick reply other than the opt-out cannot be tapped in an SMS.
    assert message.text == ("Осень\nЗдравствуйте, *Анна*! Скидка 20% в Москве.\nМагазин\nОтписаться: ответьте СТОП\n"
                            "Каталог: https://shop.example/a\nПозвонить: +74951234567")
    assert message.segments == segments.count(message.text) and message.segments.encoding == segments.UCS2
    assert (message.segments.characters, message.parts) == (138, 3)  # 67 + 67 + 4


def test_the_opt_out_instruction_is_in_the_templates_language_and_only_where_the_template_has_one(app):
    english = render_for(template("Sale today", language="en_US",
                                  buttons=[{"type": "quick_reply", "text": "Stop promotions"}]), {})
    assert (english.text, english.segments.encoding, english.parts) == (
        "Sale today\nStop promotions: reply STOP", segments.GSM7, 1)
    assert render_for(template("Заказ готов", category=TemplateCategory.UTILITY), {}).text == "Заказ готов"


def test_a_restricted_mention_is_marked_and_its_disclaimer_sent(app):
    message = render_for(template("Подпишитесь: {{1}}"), {"1": "Instagram"})
    assert message.text.startswith("Подпишитесь: Instagram*\n\n*Meta Platforms Inc.")


def test_a_text_over_the_gateways_limit_is_a_preflight_sentence(app):
    fits = render_for(template("{{1}}", category=TemplateCategory.UTILITY), {"1": "а" * 1000})
    assert not fits.too_long and sms_rendering.preflight_sentences(fits) == []
    over = render_for(template("{{1}}!", category=TemplateCategory.UTILITY), {"1": "а" * 1000})
    [sentence] = sms_rendering.preflight_sentences(over)
    assert over.too_long and sentence.code == "sms_text_too_long" and "1001" in sentence and "1000" in sentence


def test_the_content_hash_of_an_sms_campaign_covers_its_channel_and_text(app):
    from campaigns import senders

    sms = senders.add_sender({"name": "SMS", "channel": "smsc", "login": "shop", "access_token": "pw",
                              "alpha_name": "Shop24"})
    chosen = add_template("sms_hash")
    segment = Segment(name="SMS hash", definition={"countries": ["RU"]})
    db.session.add(segment)
    db.session.flush()
    campaign = Campaign(name="SMS", sender_id=sms.id, template_id=chosen.id, segment_id=segment.id, variables={},
                        status=CampaignStatus.DRAFT)
    db.session.add(campaign)
    db.session.commit()
    snapshot = content.content_snapshot(campaign)
    assert snapshot["sender"]["channel"] == "smsc"
    assert snapshot["rendering"]["text"] == "Здравствуйте, Анна! Скидка 20% в Москве."
    before = content.content_hash(campaign)
    chosen.footer = "Магазин"
    db.session.commit()
    assert content.content_hash(campaign) != before
