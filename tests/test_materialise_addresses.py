"""WhatsApp materialisation and messenger addresses: a contact without a number gets no WhatsApp row, and an
opt-out the person gave in a bot (on their address key) keeps WhatsApp from them too; a stopped bot does not."""

from __future__ import annotations

from datetime import timedelta

from audience import addresses
from audience.models import Contact
from compliance import suppression
from compliance.models import SuppressionReason
from dbtypes import utcnow
from extensions import db
from tests.bot_world import a_bot
from tests.test_materialise import add_campaign, add_contact, rows_of, run


def test_whatsapp_skips_contacts_without_a_number_and_people_who_opted_out_in_a_bot(app):
    bot = a_bot()
    at = utcnow() - timedelta(days=1)
    plain = add_contact()
    messenger_only, _ = addresses.link_address(sender_id=bot.id, channel="max", address="501", at=at,
                                               consent_source="qr:spring", event_id="ev.1")
    messenger_only_contact = db.session.get(Contact, messenger_only.contact_id)
    messenger_only_contact.country = "RU"
    opted_out_in_bot = add_contact()
    addresses.link_address(sender_id=bot.id, channel="max", address="502", at=at, consent_source="personal:1",
                           event_id="ev.2", contact_id=opted_out_in_bot.id)
    suppression.suppress("max:502", SuppressionReason.OPT_OUT, source="bot_reply", evidence="mid.1")
    blocked_in_bot = add_contact()
    addresses.link_address(sender_id=bot.id, channel="max", address="504", at=at, consent_source="personal:1",
                           event_id="ev.4", contact_id=blocked_in_bot.id)
    suppression.suppress("max:504", SuppressionReason.SPAM_REPORT, source="bot_reply")
    stopped_bot = add_contact()
    addresses.link_address(sender_id=bot.id, channel="max", address="503", at=at, consent_source="personal:1",
                           event_id="ev.3", contact_id=stopped_bot.id)
    addresses.stop_address(bot.id, "503", at=at + timedelta(hours=1), evidence="ev.stop")
    db.session.commit()

    campaign = add_campaign()
    result = run(campaign)
    assert set(rows_of(campaign)) == {plain.id, stopped_bot.id}  # a stopped bot closes that bot only
    assert result.exclusions["invalid_number"] == 1  # the contact without a number
    assert (result.exclusions["opted_out"], result.exclusions["blocked"]) == (1, 1)
