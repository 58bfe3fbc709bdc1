"""Materialising a campaign's recipients: one INSERT … SELECT over a real audience, the exclusions
by reason, variables rendered in SQL, deterministic idempotency keys; SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from itertools import count as counter

import pytest
from sqlalchemy import event, select

from audience.models import Contact, Segment
from campaigns.campaign_specs import variable_values
from campaigns.content import content_hash
from campaigns.materialise import EXCLUSION_REASONS, MaterialiseError, materialise
from campaigns.models import (
    Campaign,
    CampaignStatus,
    Message,
    MessageStatus,
    Sender,
    Template,
    TemplateCategory,
    TemplateStatus,
)
from campaigns.variables import CONTACT_FIELDS
from compliance import suppression
from compliance.models import SuppressionReason
from compliance.sending import SendingRules
from dbtypes import utcnow
from extensions import db
from tests.campaign_world import provider_status_everywhere
from tests.records import suppress

_numbers = counter(1000)
_names = counter(1)
VARIABLES = {
    "1": {"source": "field", "value": "name", "fallback": "клиент"},
    "2": {"source": "attribute", "value": "Уровень", "fallback": "basic"},
    "3": {"source": "constant", "value": "ОСЕНЬ-25"},
    "4": {"source": "field", "value": "city", "fallback": ""},
}


# --- rows the campaigns service would create (built directly: that service is another issue's part) ---

def add_contact(phone: str | None = None, **fields) -> Contact:
    values = {"country": "RU", "consent_source": "форма на сайте", "consent_at": utcnow() - timedelta(days=30),
              "tags": "", "attributes": {}, **fields}
    contact = Contact(phone=phone or f"+7903{next(_numbers):07d}", **values)
    db.session.add(contact)
    db.session.flush()
    return contact


def add_template(category: TemplateCategory = TemplateCategory.MARKETING,
                 status: TemplateStatus = TemplateStatus.APPROVED) -> Template:
    template = Template(name=f"autumn_{next(_names)}", language="ru", category=category,
                        body="Здравствуйте, {{1}}! Ваш уровень {{2}}, код {{3}}.", status=status)
    db.session.add(template)
    db.session.flush()
    return template


APPROVED_AS_IT_IS = "approved as it is"


def add_campaign(*, definition: dict | None = None, variables: dict | None = None, template: Template | None = None,
                 status: CampaignStatus = CampaignStatus.APPROVED, send_at=None,
                 approved_hash: str | None = APPROVED_AS_IT_IS, sender: Sender | None = None) -> Campaign:
    """An approved campaign over a segment (Russian contacts by default), committed; its approval
    covers its content as it is unless ``approved_hash`` says otherwise. Its sender is a new one that
    reaches no provider, unless ``sender`` is given."""
    number = next(_names)
    sender = sender or Sender(name=f"Магазин {number}", phone=f"+7495{number:07d}", tier="TIER_UNLIMITED")
    segment = Segment(name=f"Сегмент {number}", definition=definition or {"countries": ["RU"]})
    template = template or add_template()
    db.session.add_all([sender, segment])
    db.session.flush()
    provider_status_everywhere(template)
    campaign = Campaign(name=f"Осень {number}", sender_id=sender.id, template_id=template.id, segment_id=segment.id,
                        variables=VARIABLES if variables is None else variables, send_at=send_at, status=status)
    db.session.add(campaign)
    db.session.flush()
    campaign.content_hash = content_hash(campaign)
    campaign.approved_hash = campaign.content_hash if approved_hash is APPROVED_AS_IT_IS else approved_hash
    db.session.commit()
    return campaign


def add_sent(contact: Contact, *, hours_ago: float | None, category: TemplateCategory = TemplateCategory.MARKETING,
             status: MessageStatus = MessageStatus.DELIVERED, created_hours_ago: float = 24 * 30) -> Message:
    """A message of an earlier campaign that went out to ``contact`` ``hours_ago`` (None: not sent);
    its row was made by a launch long before (``created_hours_ago``), which the caps must not count."""
    earlier = add_campaign(template=add_template(category), status=CampaignStatus.COMPLETED)
    message = Message(campaign_id=earlier.id, contact_id=contact.id, phone=contact.phone, variables={},
                      idempotency_key=f"{earlier.id}-{contact.id}", status=status,
                      created_at=utcnow() - timedelta(hours=created_hours_ago),
                      sent_at=None if hours_ago is None else utcnow() - timedelta(hours=hours_ago))
    db.session.add(message)
    db.session.commit()
    return message


def rows_of(campaign: Campaign) -> dict[int, Message]:
    db.session.expire_all()
    return {m.contact_id: m for m in db.session.scalars(select(Message).where(Message.campaign_id == campaign.id))}


def run(campaign: Campaign, rules: SendingRules | None = None):
    result = materialise(campaign, utcnow(), rules or SendingRules())
    db.session.commit()
    return result


@pytest.fixture
def audience(app):
    """A real audience: who may get the campaign, and one contact for every reason to leave someone out."""
    people = {name: add_contact(name=name.title()) for name in ("anna", "boris", "vera", "lifted", "utility_today")}
    people["kazakh"] = add_contact("+77011234567", country="KZ")  # outside the segment
    people["opted_out"] = add_contact()
    people["blocked"] = add_contact()
    people["reported"] = add_contact()
    people["manual"] = add_contact()
    people["opted_out_and_blocked"] = add_contact()
    people["no_source"] = add_contact(consent_source=" ")
    # Blank to the preflight and the send-time gate (Python's idea of whitespace), so blank here too.
    people["no_break_space_source"] = add_contact(consent_source="\u00a0\t")
    people["future_consent"] = add_contact(consent_at=utcnow() + timedelta(days=2))
    people["bad_number"] = add_contact("79031234567")  # no "+": not E.164
    people["letters"] = add_contact("+7903ABC4567")
    people["arabic_digits"] = add_contact("+7٩٠٣١٢٣٤٥٦٧")  # digits to Python's \d, not to E.164
    people["opted_out_bad_number"] = add_contact("+0123")
    people["daily_cap"] = add_contact()
    people["weekly_cap"] = add_contact()
    people["two_days_ago"] = add_contact()
    db.session.commit()
    suppress(people["opted_out"].phone, SuppressionReason.OPT_OUT)
    suppress(people["blocked"].phone, SuppressionReason.BLOCK)
    suppress(people["reported"].phone, SuppressionReason.SPAM_REPORT)
    suppress(people["manual"].phone, SuppressionReason.MANUAL, note="asked by phone")
    suppress(people["opted_out_and_blocked"].phone, SuppressionReason.OPT_OUT)
    suppress(people["opted_out_and_blocked"].phone, SuppressionReason.BLOCK)
    suppress(people["opted_out_bad_number"].phone, SuppressionReason.OPT_OUT)
    suppress(people["lifted"].phone, SuppressionReason.OPT_OUT)
    suppression.lift_opt_out(people["lifted"].phone, evidence="START")
    db.session.commit()
    add_sent(people["daily_cap"], hours_ago=2)  # 1 marketing message in 24 h: at the daily cap of 1
    for hours in (30, 50, 100):  # 3 in 7 days: at the weekly cap of 3
        add_sent(people["weekly_cap"], hours_ago=hours)
    add_sent(people["two_days_ago"], hours_ago=48)  # 1 this week: under both caps
    add_sent(people["utility_today"], hours_ago=1, category=TemplateCategory.UTILITY)  # utility is not capped
    add_sent(people["vera"], hours_ago=3, status=MessageStatus.FAILED)  # never arrived: does not count
    return people


ELIGIBLE = ("anna", "boris", "vera", "lifted", "utility_today", "two_days_ago")


def test_one_row_per_eligible_contact_and_the_rest_counted_by_reason(audience):
    campaign = add_campaign()
    result = run(campaign)

    rows = rows_of(campaign)
    assert set(rows) == {audience[name].id for name in ELIGIBLE}
    assert result.recipients == len(ELIGIBLE)
    assert result.exclusions == {"invalid_number": 4, "blocked": 4, "opted_out": 1, "no_consent": 3, "frequency_cap": 2}
    assert list(result.exclusions) == list(EXCLUSION_REASONS)
    # Everyone in the segment is either a row or one exclusion; the Kazakh number is not in the segment.
    in_segment = len(audience) - 1
    assert result.recipients + sum(result.exclusions.values()) == in_segment
    assert {row.status for row in rows.values()} == {MessageStatus.QUEUED}
    assert {row.phone for row in rows.values()} == {audience[name].phone for name in ELIGIBLE}
    assert all(row.created_at is not None for row in rows.values())
    # Nothing tried or sent yet: the launch makes rows, dispatch sends them.
    fresh = {(row.attempts, row.sent_at, row.lease_owner, row.not_before) for row in rows.values()}
    assert fresh == {(0, None, None, None)}


def test_caps_follow_the_sending_rules(audience):
    no_caps = run(add_campaign(), SendingRules(cap_per_day=None, cap_per_week=None))
    assert no_caps.exclusions["frequency_cap"] == 0
    assert no_caps.recipients == len(ELIGIBLE) + 2

    weekly_only = run(add_campaign(), SendingRules(cap_per_day=None, cap_per_week=3))
    assert weekly_only.exclusions["frequency_cap"] == 1

    looser = run(add_campaign(), SendingRules(cap_per_day=2, cap_per_week=4))
    assert looser.exclusions["frequency_cap"] == 0


def test_a_utility_campaign_is_not_capped(audience):
    campaign = add_campaign(template=add_template(TemplateCategory.UTILITY))
    result = run(campaign)
    assert result.exclusions["frequency_cap"] == 0
    assert {audience["daily_cap"].id, audience["weekly_cap"].id} <= set(rows_of(campaign))
    assert result.recipients == len(ELIGIBLE) + 2


def test_the_cap_counts_when_a_message_was_sent_not_when_its_row_was_made(app):
    """The daily cap of 1 by ``sent_at``: the launch that made a row (``created_at``) is no send."""
    people = {name: add_contact(name=name.title()) for name in (
        "made_long_ago_sent_an_hour_ago", "maybe_sent_an_hour_ago", "made_an_hour_ago_never_sent",
        "being_sent", "sent_two_days_ago_made_an_hour_ago")}
    add_sent(people["made_long_ago_sent_an_hour_ago"], hours_ago=1)
    # Sent or not, we cannot tell: it counts, so the person cannot get a second one for our doubt.
    add_sent(people["maybe_sent_an_hour_ago"], hours_ago=1, status=MessageStatus.UNKNOWN)
    add_sent(people["made_an_hour_ago_never_sent"], hours_ago=None, status=MessageStatus.QUEUED, created_hours_ago=1)
    # In flight (passed the re-check an hour ago, no answer recorded yet): it counts as sent.
    add_sent(people["being_sent"], hours_ago=1, status=MessageStatus.SENDING, created_hours_ago=1)
    add_sent(people["sent_two_days_ago_made_an_hour_ago"], hours_ago=48, created_hours_ago=1)
    campaign = add_campaign()
    result = run(campaign, SendingRules(cap_per_day=1, cap_per_week=None))
    assert result.exclusions["frequency_cap"] == 3
    assert set(rows_of(campaign)) == {people[name].id for name in (
        "made_an_hour_ago_never_sent", "sent_two_days_ago_made_an_hour_ago")}


def test_variables_are_rendered_in_sql_from_fields_attributes_and_constants_with_fallbacks(app):
    full = add_contact(name="Анна", city="Казань", attributes={"Уровень": "gold", "Покупок": "12"})
    blank = add_contact(name="   ", city=None, attributes={"Уровень": ""})
    bare = add_contact(name=None, attributes={})
    variables = {**VARIABLES, "5": {"source": "attribute", "value": "Покупок", "fallback": "0"},
                 "6": {"source": "field", "value": "phone"},
                 "7": {"source": "constant", "value": "кавычки \" и \\ слэш"}}
    campaign = add_campaign(variables=variables)
    run(campaign)

    rows = rows_of(campaign)
    assert rows[full.id].variables == {"1": "Анна", "2": "gold", "3": "ОСЕНЬ-25", "4": "Казань", "5": "12",
                                       "6": full.phone, "7": "кавычки \" и \\ слэш"}
    assert rows[blank.id].variables == {"1": "клиент", "2": "basic", "3": "ОСЕНЬ-25", "4": "", "5": "0",
                                        "6": blank.phone, "7": "кавычки \" и \\ слэш"}
    assert rows[bare.id].variables == {"1": "клиент", "2": "basic", "3": "ОСЕНЬ-25", "4": "", "5": "0",
                                       "6": bare.phone, "7": "кавычки \" и \\ слэш"}


def test_every_contact_field_fills_a_variable_in_sql_as_the_preview_fills_it(app):
    contact = add_contact(name="Петрова Анна Сергеевна", first_name="Анна", patronymic="Сергеевна", last_name="Петрова",
                          region="Татарстан", city="Казань", timezone="Europe/Moscow", language="ru")
    variables = {str(number): {"source": "field", "value": field, "fallback": "—"}
                 for number, field in enumerate(CONTACT_FIELDS, 1)}
    campaign = add_campaign(variables=variables)
    run(campaign)
    filled = rows_of(campaign)[contact.id].variables
    assert filled == variable_values(variables, contact)
    assert "—" not in filled.values()


def test_a_formal_address_renders_first_name_and_patronymic_and_falls_back_without_the_patronymic(app):
    anna = add_contact(name="Петрова Анна Сергеевна", first_name=" Анна ", patronymic="Сергеевна", last_name="Петрова")
    oleg = add_contact(name="Кузнецов Олег", first_name="Олег", patronymic=None, last_name="Кузнецов")
    blank = add_contact(name="Иванова", first_name="", patronymic="  ", last_name="Иванова")
    nobody = add_contact(name=None)
    variables = {"1": {"source": "field", "value": "first_and_patronymic", "fallback": "уважаемый клиент"},
                 "2": {"source": "field", "value": "first_name", "fallback": "друг"},
                 "3": {"source": "field", "value": "last_name", "fallback": ""}}
    campaign = add_campaign(variables=variables)
    run(campaign)

    rows = rows_of(campaign)
    assert rows[anna.id].variables == {"1": "Анна Сергеевна", "2": "Анна", "3": "Петрова"}
    assert rows[oleg.id].variables == {"1": "уважаемый клиент", "2": "Олег", "3": "Кузнецов"}
    assert rows[blank.id].variables == {"1": "уважаемый клиент", "2": "друг", "3": "Иванова"}
    assert rows[nobody.id].variables == {"1": "уважаемый клиент", "2": "друг", "3": ""}
    # The campaign's preview renders each in Python as the launch does in SQL.
    for contact in (anna, oleg, blank, nobody):
        assert rows[contact.id].variables == variable_values(variables, contact)


def test_a_campaign_without_variables_gets_empty_objects(app):
    add_contact()
    campaign = add_campaign(variables={})
    run(campaign)
    assert [row.variables for row in rows_of(campaign).values()] == [{}]


def test_an_unknown_field_is_refused(app):
    add_contact()
    campaign = add_campaign(variables={"1": {"source": "field", "value": "password_hash"}})
    with pytest.raises(MaterialiseError):
        materialise(campaign, utcnow(), SendingRules())


def test_idempotency_keys_are_unique_deterministic_and_a_second_run_adds_nothing(audience):
    campaign = add_campaign()
    first = run(campaign)
    keys = {contact_id: row.idempotency_key for contact_id, row in rows_of(campaign).items()}
    assert keys == {contact_id: f"{campaign.id}-{contact_id}" for contact_id in keys}
    assert len(set(keys.values())) == len(keys)

    again = run(campaign)
    assert again.recipients == first.recipients
    assert {contact_id: row.idempotency_key for contact_id, row in rows_of(campaign).items()} == keys

    other = add_campaign()
    run(other)
    other_keys = {row.idempotency_key for row in rows_of(other).values()}
    assert not other_keys & set(keys.values())


def test_the_segment_definition_decides_who_is_in(app):
    moscow = add_contact(tags="|vip|")
    add_contact(tags="|new|")
    campaign = add_campaign(definition={"countries": ["RU"], "tags": ["vip"]})
    result = run(campaign)
    assert set(rows_of(campaign)) == {moscow.id}
    assert result.exclusions == dict.fromkeys(EXCLUSION_REASONS, 0)


def test_materialising_is_two_statements_plus_a_count_however_many_contacts(app):
    db.session.add_all(Contact(phone=f"+7904{index:07d}", country="RU", consent_source="form", consent_at=utcnow(),
                               tags="", attributes={"Уровень": "gold"}) for index in range(500))
    db.session.commit()
    campaign = add_campaign()
    statements = []
    engine = db.engine

    def seen(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        result = materialise(campaign, utcnow(), SendingRules())
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    db.session.commit()
    assert result.recipients == 500
    writes = [s for s in statements if s.lstrip().upper().startswith("INSERT")]
    assert len(writes) == 1 and "SELECT" in writes[0].upper()
    assert len([s for s in statements if "FROM contacts" in s]) == 2  # the insert and the count by reason


def test_the_launch_excludes_whom_the_preflight_excluded_for_the_same_reasons(audience):
    """The preflight (judged in Python by compliance.send_verdicts) and the launch (in SQL) agree."""
    from campaigns import preflight

    campaign = add_campaign()
    foreseen = preflight.run(campaign)["audience"]
    result = run(campaign)
    assert result.exclusions == {reason: foreseen["excluded"][reason] for reason in EXCLUSION_REASONS}
    # The send window is dispatch's to judge per row; the launch queues whom it would hold back.
    assert result.recipients == foreseen["eligible"] + foreseen["excluded"].get("time_zone", 0)


def test_rows_carry_the_values_the_campaign_preview_renders_in_python(app):
    from campaigns.campaign_specs import variable_values

    contacts = [add_contact(name="  Анна ", city="Казань", attributes={"Уровень": "gold"}),
                add_contact(name="", attributes={"Уровень": "  "}), add_contact(name=None)]
    variables = {**VARIABLES, "5": {"source": "constant", "value": "  ", "fallback": "скидка"}}
    campaign = add_campaign(variables=variables)
    run(campaign)
    rows = rows_of(campaign)
    for contact in contacts:
        assert rows[contact.id].variables == variable_values(variables, contact)
