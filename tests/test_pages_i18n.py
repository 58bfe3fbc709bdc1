"""Every page, in Russian and in English, speaks the reader's language: no stored code (a status, a
reason, an audit action, a suppression source) shows as it is stored, no English label or sentence
shows in the Russian interface, no page fails, and no page repeats an element id.

The walk is driven by the app's URL map, so a page added later is walked too; its ids are filled
from a world with data in every state.
"""

from __future__ import annotations

import html
import itertools
import re
from collections import Counter
from datetime import timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import select, update

from accounts import users
from accounts.events import ACTOR_LABELS
from accounts.models import Role, User
from accounts.roles import ROLE_LABELS
from accounts.tokens import create_token
from audience import import_records
from audience.models import Contact, Import, ImportStatus, IssueKind, Segment
from audience.status import STATUS_LABELS as CONTACT_STATUS_LABELS
from audience.status import ContactStatus
from campaigns import entry_points, jobs, lifecycle, review, senders, template_approvals
from campaigns.campaign_forms import SOURCE_LABELS as VARIABLE_SOURCE_LABELS
from campaigns.entry_point_models import EntryPoint
from campaigns.entry_points import Changes as EntryChanges
from campaigns.feedback.free_text import OWN_CODES, WINDOW_CLOSED, OutboundStatus
from campaigns.feedback.inbox import KIND_LABELS
from campaigns.feedback.models import (
    Conversation,
    ConversationMessage,
    Direction,
    Notification,
    NotificationKind,
)
from campaigns.lifecycle import TRANSITIONS
from campaigns.materialise import EXCLUSION_REASONS
from campaigns.message_templates import CATEGORY_LABELS
from campaigns.message_templates import STATUS_LABELS as TEMPLATE_STATUS_LABELS
from campaigns.models import (
    ApprovalSource,
    Campaign,
    CampaignStatus,
    Message,
    MessageStatus,
    ReviewDecision,
    Sender,
    SenderChannel,
    Template,
    TemplateCategory,
    TemplateStatus,
)
from campaigns.preflight import DEFERRAL_LABELS, EXCLUSION_LABELS
from compliance import audit, suppression
from compliance.audit import AuditEvent
from compliance.keywords import Intent
from compliance.models import Suppression, SuppressionReason
from compliance.sending import TIER_LIMITS
from compliance.suppression import REASON_LABELS as SUPPRESSION_REASON_LABELS
from compliance.suppression_files import import_csv
from compliance.verdict import OUTCOME_LABELS, Outcome
from dbtypes import utcnow
from extensions import db
from tests import audience_files as files
from tests.campaign_world import ACKNOWLEDGEMENT, add_contact, add_template, make_world
from tests.helpers import signed_in_client
from web.labels import LABELS

ENUMS = (Role, ImportStatus, IssueKind, ContactStatus, TemplateCategory, TemplateStatus, CampaignStatus,
         ReviewDecision, MessageStatus, SuppressionReason, Outcome, SenderChannel, ApprovalSource, Intent,
         OutboundStatus)
# The suppression sources the code writes (compliance.suppression.suppress(source=…)).
SUPPRESSION_SOURCES = ("ui", "cli", "api", "import", "keyword", "reply", "decision")
LABEL_TABLES = (
    ROLE_LABELS,
    CONTACT_STATUS_LABELS,
    import_records.STATUS_LABELS,
    CATEGORY_LABELS,
    TEMPLATE_STATUS_LABELS,
    lifecycle.STATUS_LABELS,
    EXCLUSION_LABELS,
    DEFERRAL_LABELS,
    SUPPRESSION_REASON_LABELS,
    OUTCOME_LABELS,
    VARIABLE_SOURCE_LABELS,
    review.REJECTION_REASONS,
)
# Never links to follow: they end the session or answer with a file, not a page.
SKIPPED_ENDPOINTS = {"static", "accounts.logout"}
# English words that are the same in the Russian interface: names of things, formats, the brand.
ENGLISH_IN_RUSSIAN = {"Vestnik", "WhatsApp", "CSV", "UTC", "SHA-256", "API", "JSON", "RU", "EN", "Bearer",
                      "Authorization", "START", "STOP", "MAX", "SMS", "Telegram", "E.164", "URL", "XLSX", "v1", "v2",
                      "Excel", "IANA", "FAS", "ID"}
VISIBLE_ATTRIBUTES = re.compile(r'\s(?:title|placeholder|aria-label|alt)="([^"]*)"')


def codes() -> set[str]:
    """Every code the database stores for a person to read: enum values, actions, reasons, sources."""
    found = {member.value for enum in ENUMS for member in enum}
    found |= {f"campaign.{action}" for action in TRANSITIONS.values()}
    found |= set(EXCLUSION_REASONS) | set(EXCLUSION_LABELS) | set(DEFERRAL_LABELS) | set(SUPPRESSION_SOURCES)
    found |= set(import_records.REASONS) | set(review.REJECTION_REASONS) | set(VARIABLE_SOURCE_LABELS)
    found |= set(template_approvals.REJECTION_LABELS)
    found |= set(OWN_CODES) | set(KIND_LABELS)  # the inbox's own failure codes, the kinds of message people send
    found |= set(TIER_LIMITS) | set(senders.QUALITY_LABELS)  # a sender's messaging tier and quality rating
    found |= set(db.session.scalars(select(AuditEvent.action).distinct())) | set(ACTOR_LABELS)
    found |= set(db.session.scalars(select(Suppression.source).distinct()))
    # The rate card's own keyword, which a person types into the card: the page must show it as it is.
    return found - {"other"}


def english_labels() -> set[str]:
    """The English labels of every stored code that Russian says differently."""
    tables = [*LABEL_TABLES, *LABELS.values()]
    with force_locale("en"):
        english = [str(label) for table in tables for label in table.values()]
    with force_locale("ru"):
        russian = [str(label) for table in tables for label in table.values()]
    return {word for word, translated in zip(english, russian, strict=True) if word != translated}


# --- reading a page the way a person does ------------------------------------------------------------

def visible_text(page: str) -> str:
    """What a reader sees: the text outside tags, scripts and styles, and the attributes read aloud or shown."""
    # A script is code and a text area holds data being edited (the registry, the rate card), not the interface.
    page = re.sub(r"<(script|style|textarea)\b.*?</\1>", " ", page, flags=re.DOTALL | re.IGNORECASE)
    shown = " ".join(VISIBLE_ATTRIBUTES.findall(page))
    page = re.sub(r"<option\b[^>]*>", " ", page)  # an option's label is text; its value is not
    return html.unescape(re.sub(r"<[^>]+>", " ", page) + " " + shown)


def tokens(text: str) -> list[str]:
    # "queued: 8", "role=reviewer", "(ui)", "«draft»": a code is a word between spaces, = and punctuation.
    return [token.strip(".,:;()[]{}«»“”\"'!?—–-/") for token in re.split(r"[\s=]+", text) if token]


def raw_keys(text: str, known: set[str], language: str) -> list[str]:
    if language == "en":
        # Many codes are English words ("draft", "sent", "import"); in English only those that cannot be read
        # as prose count: codes with "_" or ".", and the suppression sources.
        known = {code for code in known if "_" in code or "." in code or code in ("ui", "cli", "api", "keyword")}
    return sorted({token for token in tokens(text) if token in known})


def english_in_russian(text: str, labels: set[str]) -> list[str]:
    found = {label for label in labels if re.search(rf"(?<![\w-]){re.escape(label)}(?![\w-])", text)}
    # Three English words in a row are an English sentence (a stored one, or one left untranslated).
    # (Words, not a list of codes or language tags: one of them has five letters or more.)
    for run in re.finditer(r"[A-Za-z][A-Za-z'’]+(?: [A-Za-z][A-Za-z'’]+){2,}", text):
        words = [word for word in run.group().split(" ") if word not in ENGLISH_IN_RUSSIAN]
        if len(words) >= 3 and any(len(word) >= 5 for word in words):
            found.add(run.group())
    return sorted(found)


def duplicate_ids(page: str) -> list[str]:
    return sorted(name for name, count in Counter(re.findall(r'\sid="([^"]+)"', page)).items() if count > 1)


# --- a world with something in every state --------------------------------------------------------------

def build_world(make_user) -> dict[str, list]:
    """Users of every role and an invitation; contacts, an import with issues, suppressions from every
    source; templates in every status; campaigns in every state up to sending, with message rows."""
    world = make_world(make_user)
    admin = db.session.scalar(select(User).where(User.email == "boss@example.com"))
    users.invite_user("new.reviewer@example.com", Role.REVIEWER, actor=admin)
    create_token(world.marketer, "ночной скрипт")
    db.session.commit()

    for index in range(8):
        add_contact(f"+7903555000{index}", name=f"Ольга {index}")
    add_contact("+79035550009", consent_source="")  # excluded for want of consent
    add_contact("+7903", name="Неверный номер")  # an invalid number: excluded at launch
    files.import_content(files.csv_bytes([
        ["+79035550101", "Иван", "Москва", "да"],
        ["12", "Пётр", "Москва", "да"],
        ["+79035550103", "Анна", "Неизвестноград", "да"],
        ["+79035550104", "Мария", "Москва", "нет"],
    ], ["Телефон", "Имя", "Город", "Согласие"]), actor=world.marketer)
    import_records.create_import("ждёт.csv", files.csv_bytes([["+79035550201"]], ["Телефон"]), actor=world.marketer)
    db.session.commit()

    suppression.suppress("+79035550001", SuppressionReason.OPT_OUT, source="keyword", evidence="wamid.1", note="СТОП")
    suppression.suppress("+79035550002", SuppressionReason.MANUAL, source="ui", actor=admin, note="жалоба по телефону")
    suppression.suppress("+79035550003", SuppressionReason.BLOCK, source="api", actor=world.marketer)
    suppression.suppress("+79035550301", SuppressionReason.SPAM_REPORT, source="cli")
    suppression.suppress("+79035550302", SuppressionReason.BLOCK, source="ui", actor=admin)
    suppression.lift("+79035550302", reason_text="письменное согласие", actor=admin)
    import_csv(b"phone\n+79035550303\n", filename="стоп.csv", actor=admin,
               default_reason=SuppressionReason.OPT_OUT, default_region="RU")
    db.session.commit()

    for status in TemplateStatus:
        if status is not TemplateStatus.APPROVED:
            add_template(f"shablon_{status.value}_x", status=status, category=TemplateCategory.UTILITY,
                         rejection_reason="Текст вводит в заблуждение" if status is TemplateStatus.REJECTED else None)
    code_template = add_template("kod_vhoda", category=TemplateCategory.AUTHENTICATION, body="Ваш код: {{1}}",
                                 examples={"1": "1234"})
    # Senders in every state of their check, and a template's verdicts differing between their accounts.
    cloud = senders.create_sender("Облако", "+74957770000", channel="whatsapp_cloud", phone_number_id="123",
                                  waba_id="456", access_token="EAAG-token-1234", app_secret="secret-5678", actor=admin)
    cloud.checked_at, cloud.check_error_code, cloud.check_error_params = utcnow(), "190", {}
    world.sender.checked_at, world.sender.quality_rating, world.sender.provider_tier = utcnow(), "GREEN", "TIER_1K"
    audit.record("sender.checked", actor=admin, target=cloud, details={"ok": False, "code": "190"})
    audit.record("sender.checked", actor=admin, target=world.sender,
                 details={"ok": True, "quality": "GREEN", "tier": "TIER_250", "provider_tier": "TIER_1K",
                          "messages_per_second": 80})
    template_approvals.record(code_template, "456", "https://graph.facebook.com", TemplateStatus.REJECTED,
                              reason="INVALID_FORMAT", category="AUTHENTICATION", provider_template_id="9")
    template_approvals.set_status(code_template, "paused", "Низкое качество", actor=admin, sender=world.sender)
    audit.record("template.test_sent", actor=world.marketer, target=code_template,
                 details={"name": "kod_vhoda", "language": "ru", "version": 1, "sender": "Main",
                          "phone": "+79035550000", "outcome": "failed", "code": "131026", "key": "test-1"})
    db.session.commit()

    campaigns = {"draft": world.campaign(name="Черновик")}
    for name in ("На проверке", "Отклонённая", "Одобренная", "Запланированная", "Идёт рассылка"):
        campaign = world.campaign(name=name)
        review.submit(campaign, world.marketer)
        db.session.commit()
        campaigns[name] = campaign
    review.reject(campaigns["Отклонённая"], world.reviewer, "timing", "Слишком рано")
    review.approve(campaigns["Одобренная"], world.reviewer, schedule=False, acknowledgement=ACKNOWLEDGEMENT)
    review.approve(campaigns["Запланированная"], world.reviewer, note="Хорошо", acknowledgement=ACKNOWLEDGEMENT)
    review.approve(campaigns["Идёт рассылка"], world.reviewer, acknowledgement=ACKNOWLEDGEMENT)
    db.session.commit()
    jobs.launch_campaign(campaigns["Идёт рассылка"].id)
    sending = campaigns["Идёт рассылка"].id
    rows = list(db.session.scalars(select(Message.id).where(Message.campaign_id == sending).order_by(Message.id)))
    # Failed and skipped rows (first, so that there are some) carry their reasons, which the progress section words.
    reasons = {MessageStatus.FAILED: "131049", MessageStatus.SKIPPED: "frequency_cap"}
    states = sorted(MessageStatus, key=lambda status: status not in reasons)
    for message_id, status in zip(rows, itertools.cycle(states)):
        db.session.execute(update(Message).where(Message.id == message_id)
                           .values(status=status, error_code=reasons.get(status)))
    db.session.commit()
    assert len(rows) >= 3 and db.session.get(Campaign, sending).status is CampaignStatus.SENDING
    assert db.session.get(Campaign, sending).exclusions
    add_conversations(world, db.session.get(Message, rows[0]), db.session.get(Campaign, sending))
    entry_codes = add_entry_points(world)

    return {
        "campaign_id": list(db.session.scalars(select(Campaign.id))),
        "template_id": list(db.session.scalars(select(Template.id))),
        "sender_id": list(db.session.scalars(select(Sender.id))),
        "contact_id": list(db.session.scalars(select(Contact.id))),
        "import_id": list(db.session.scalars(select(Import.id))),
        "segment_id": list(db.session.scalars(select(Segment.id))),
        "user_id": list(db.session.scalars(select(User.id))),
        "phone": list(dict.fromkeys(db.session.scalars(select(Suppression.phone)))),
        "token": ["not-a-real-invitation"],
        "conversation_id": list(db.session.scalars(select(Conversation.id).order_by(Conversation.id))),
        "entry_point_id": list(db.session.scalars(select(EntryPoint.id))),
        "code": [*entry_codes, "nosuchcode"],
        "kind": ["svg", "png"],
    }


def add_entry_points(world) -> list[str]:
    """A live entry point offering the WhatsApp number, with a personal token and counts; an archived one (its
    page and QR codes answer politely). (No bot sender: the channel walk would ask for its adapter.)"""
    live = entry_points.create_entry_point(EntryChanges(name="Плакат у кассы", sender_ids=(world.sender.id,),
                                                        source_label="касса"))
    archived = entry_points.create_entry_point(EntryChanges(name="Снятый плакат", sender_ids=(world.sender.id,)))
    entry_points.set_archived(archived, True)
    entry_points.mint_token(live, db.session.scalar(select(Contact).order_by(Contact.id)))
    entry_points.count_starts({live.id: (3, 2)})
    db.session.commit()
    return [live.code, archived.code]


def add_conversations(world, answered: Message, campaign: Campaign) -> None:
    """Conversations in every state: replies of every intent and kind, one answering a campaign message, our
    messages in every status (failed with the provider's code and with ours), a reply waiting for a decision
    with its notification, and a window long closed."""
    now = utcnow()
    flagged = Conversation(sender_id=world.sender.id, phone=answered.phone, contact_id=answered.contact_id,
                           profile_name="Оля", last_inbound_at=now - timedelta(hours=1), unread=2, needs_decision=True)
    closed = Conversation(sender_id=world.sender.id, phone="+79035559999", profile_name="",
                          last_inbound_at=now - timedelta(days=3), last_message_at=now - timedelta(days=3))
    db.session.add_all([flagged, closed])
    db.session.flush()
    inbound = [("Стоп, а сколько стоит доставка?", Intent.NONE, "text"), ("СТОП", Intent.OPT_OUT, "text"),
               ("СТАРТ", Intent.OPT_IN, "text"), ("Помощь", Intent.HELP, "text"), ("Не надо", Intent.UNSURE, "text"),
               ("Отписаться", Intent.OPT_OUT, "button"), ("", Intent.NONE, "image"), ("", Intent.NONE, "sticker")]
    for index, (text, intent, kind) in enumerate(inbound):
        db.session.add(ConversationMessage(
            conversation_id=flagged.id, direction=Direction.INBOUND, provider_message_id=f"wamid.world{index}",
            kind=kind, text=text, button_payload="STOP_PROMO" if kind == "button" else None, intent=intent.value,
            message_id=answered.id, campaign_id=campaign.id, at=now - timedelta(minutes=60 - index)))
    codes = {"failed": "131047", "unknown": "timeout"}
    for index, status in enumerate(OutboundStatus):
        db.session.add(ConversationMessage(
            conversation_id=flagged.id, direction=Direction.OUTBOUND, idempotency_key=f"reply-world-{index}",
            text="Здравствуйте! Доставка бесплатная.", status=status.value, error_code=codes.get(status.value),
            sent_by_id=world.marketer.id if index % 2 else None, at=now - timedelta(minutes=30 - index)))
    db.session.add(ConversationMessage(conversation_id=closed.id, direction=Direction.OUTBOUND,
                                       idempotency_key="confirm-wamid.world", text="Вы отписались.", status="failed",
                                       error_code=WINDOW_CLOSED, at=now - timedelta(days=3)))
    db.session.add(Notification(kind=NotificationKind.UNSURE_REPLY, sender_id=world.sender.id,
                                conversation_id=flagged.id, params={"phone": flagged.phone, "text": "Не надо"}))
    audit.record("conversation.replied", actor=world.marketer, target=flagged,
                 details={"phone": flagged.phone, "sender": world.sender.name, "result": "failed", "code": "131047",
                          "key": "reply-world-1"})
    db.session.commit()


def page_urls(app, ids: dict[str, list]) -> list[str]:
    """Every GET page of the URL map, once for each combination of the world's ids."""
    urls = []
    adapter = app.url_map.bind("localhost")
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.rule.startswith("/api/") or rule.endpoint in SKIPPED_ENDPOINTS:
            continue
        names = sorted(rule.arguments)
        missing = [name for name in names if name not in ids]
        assert not missing, f"the walk cannot fill {missing} of {rule.rule}: add them to the world"
        for values in itertools.product(*(ids[name] for name in names)):
            urls.append(adapter.build(rule.endpoint, dict(zip(names, values, strict=True))))
    return urls


@pytest.fixture
def world_ids(app, make_user):
    make_user("admin", email="boss@example.com")
    return build_world(make_user)


@pytest.mark.parametrize("role", ["admin", "marketer", "reviewer"])
def test_every_page_speaks_the_readers_language(app, world_ids, role):
    email = {"admin": "boss@example.com"}.get(role) or db.session.scalar(
        select(User.email).where(User.role == Role(role), User.password_hash.is_not(None)).order_by(User.id))
    known, labels = codes(), english_labels()
    problems: list[str] = []
    for language in ("ru", "en"):
        browser = signed_in_client(app, email)
        users.update_profile(users.find_by_email(email), name="", language=language)
        db.session.commit()
        for url in page_urls(app, world_ids):
            # Buffered: a download streams inside its request's context, and read later, outside the client's
            # isolated context, that context could not end its transaction (holding up the next TRUNCATE).
            response = browser.get(url, buffered=True)
            body = response.get_data()
            if response.status_code >= 500:
                problems.append(f"{language} {url}: {response.status_code}")
                continue
            if response.status_code >= 300 or response.mimetype != "text/html":
                continue
            page = body.decode()
            text = visible_text(page)
            if found := raw_keys(text, known, language):
                problems.append(f"{language} {url}: raw keys {found}")
            if language == "ru" and (found := english_in_russian(text, labels)):
                problems.append(f"{language} {url}: English {found}")
            if found := duplicate_ids(page):
                problems.append(f"{language} {url}: duplicate ids {found}")
    assert problems == [], "\n".join(problems)


# --- the stored preflight report ---------------------------------------------------------------------------

def reviewer_page(app, world, campaign, language: str) -> str:
    users.update_profile(world.reviewer, name="", language=language)
    db.session.commit()
    return visible_text(
        signed_in_client(app, world.reviewer.email).get(f"/reviews/{campaign.id}").get_data(as_text=True)
    )


def test_the_stored_preflight_keeps_codes_and_is_worded_for_each_reader(app, make_user):
    world = make_world(make_user)
    add_contact(name="Анна")
    campaign = world.campaign()
    with force_locale("en"):  # submitted by someone reading English
        review.submit(campaign, world.marketer)
    db.session.commit()
    stored = db.session.get(Campaign, campaign.id).preflight
    spam = next(verdict for verdict in stored["lint"]["verdicts"] if verdict["rule"] == "spam_score")
    assert spam["reason"]["code"] == "spam_passes" and set(spam["reason"]["params"]) == {"score", "level"}

    assert "Спам-оценка 0 ниже порога предупреждения 3." in reviewer_page(app, world, campaign, "ru")
    english = reviewer_page(app, world, campaign, "en")
    assert "Spam score 0 is below the warning level of 3." in english and "Спам-оценка" not in english


def test_the_api_words_the_stored_preflight_in_the_callers_language(app, make_user, client):
    world = make_world(make_user)
    add_contact(name="Анна")
    campaign = world.campaign()
    with force_locale("en"):  # submitted by someone reading English
        review.submit(campaign, world.marketer)
    _token, plaintext = create_token(make_user("reviewer", language="ru"), "скрипт")
    db.session.commit()
    answer = client.get(f"/api/v1/campaigns/{campaign.id}", headers={"Authorization": f"Bearer {plaintext}"}).get_json()
    reasons = [verdict["reason"] for verdict in answer["preflight"]["lint"]["verdicts"]]
    assert "Спам-оценка 0 ниже порога предупреждения 3." in reasons


def test_a_report_stored_before_sentences_had_codes_is_still_shown(app, make_user):
    world = make_world(make_user)
    add_contact(name="Анна")
    campaign = world.campaign()
    review.submit(campaign, world.marketer)
    db.session.commit()
    old = dict(campaign.preflight)
    old["lint"] = {
        **old["lint"],
        "verdicts": [{"rule": "spam_score", "outcome": "pass", "reason": "Spam score 1 is low."}],
    }
    old["warnings"] = ["An old warning, stored as words."]
    db.session.execute(update(Campaign).where(Campaign.id == campaign.id).values(preflight=old))
    db.session.commit()
    page = reviewer_page(app, world, campaign, "ru")
    assert "Spam score 1 is low." in page and "An old warning, stored as words." in page
