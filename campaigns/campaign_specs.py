"""Campaigns: create from a JSON-able spec, update, cancel, and the content hash (senders: ``campaigns.senders``).

A campaign spec is what the wizard, the API and ``flask campaigns create --file`` all hand in::

    {"name": "Autumn sale", "sender": "Main" | 1, "template": 7 | {"name": "promo", "language": "ru"},
     "segment": "Moscow VIP" | 3, "variables": {"1": {"source": "field", "value": "name", "fallback": "друг"}},
     "send_at": "2026-12-01T09:00:00+03:00" | null, "send_window": {"start": "10:00", "end": "20:00"} | null,
     "messages_per_second": 20,
     "cascade": ["MAX bot", {"sender": "Telegram bot"}, {"sender": "Main", "wait_seconds": 600}, "SMS"] | null}

A ``cascade`` (``campaigns.cascade``) tries each recipient on its senders in order; its first step's sender is the
campaign's ``sender``, which may then be left out (given, it must be that first step). ``"cascade": null`` or
``[]`` on an update sends on the campaign's sender alone again.

Every mistake is a sentence naming the field, and all of them are collected before anything is
refused. The content hash covers everything that decides what is sent to whom (template version and
text, variables, segment definition, sender, schedule, window, rate); an approval binds to it, so an
edit that changes it voids the approval (the campaign becomes a draft again, through the lifecycle).
Functions add and flush; the caller commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select, update

from audience.models import Contact, Segment
from audience.segments import find_segment
from campaigns import launch, lifecycle, rendering
from campaigns.cascade import CascadeError, parse_cascade
from campaigns.content import content_hash
from campaigns.feedback import notices
from campaigns.message_templates import STATUS_LABELS as TEMPLATE_STATUS_LABELS
from campaigns.models import Campaign, CampaignStatus, Sender, Template, TemplateApproval, TemplateStatus
from campaigns.senders import find_sender
from campaigns.step_rendering import needs_provider_template
from campaigns.template_approvals import status_for
from campaigns.variables import CONTACT_FIELDS, SOURCES
from compliance import audit
from compliance.sending import parse_time
from dbtypes import utcnow
from domain_errors import DomainError, FieldErrors
from extensions import db

MAX_NAME = 200
DEFAULT_RATE = 20
# send_at a little in the past is a form submitted a few seconds after "now" was typed, not a mistake.
PAST_TOLERANCE = timedelta(minutes=1)
SPEC_KEYS = ("name", "sender", "template", "segment", "variables", "send_at", "send_window", "messages_per_second",
             "cascade")
# A campaign is written with a template approved in its sender's business account, or pending there:
# WhatsApp decides within minutes to a day, and the marketer prepares the campaign meanwhile (the
# preflight refuses to submit it until the template is approved). A rejected, paused or disabled
# template cannot be sent, and one never submitted to the sender's account is not known there.
USABLE_TEMPLATES = frozenset({TemplateStatus.APPROVED, TemplateStatus.PENDING})


class CampaignError(DomainError):
    """A campaign cannot be saved; ``errors`` are sentences for the person who asked."""


# --- reading a spec ------------------------------------------------------------------------------------

def template_variables(template: Template) -> list[str]:
    """The variables of the template's header and body, in order."""
    return rendering.variables(template)


def find_template(ref: Any) -> Template | None:
    """A template by id, or by ``{"name", "language"}`` (its current version)."""
    if isinstance(ref, int) and not isinstance(ref, bool):
        return db.session.get(Template, ref)
    if isinstance(ref, str) and ref.strip().isascii() and ref.strip().isdigit() and len(ref.strip()) < 18:
        return db.session.get(Template, int(ref.strip()))
    if isinstance(ref, Mapping) and isinstance(ref.get("name"), str) and isinstance(ref.get("language"), str):
        return db.session.scalar(select(Template).where(
            Template.name == ref["name"].strip(), Template.language == ref["language"].strip(),
            Template.is_current.is_(True)).order_by(Template.version.desc()).limit(1))
    return None


def usable_templates(keep: int | None = None, sender: Sender | None = None) -> list[Template]:
    """The current, unarchived templates a campaign may be written with — approved or pending in
    ``sender``'s business account (None: in any sender's) — by name and language, and the template
    ``keep`` (a campaign's own) whatever its status now."""
    approvals = select(TemplateApproval.template_id).where(TemplateApproval.status.in_(USABLE_TEMPLATES))
    if sender is not None:
        approvals = approvals.where(TemplateApproval.account_id == sender.waba_id,
                                    TemplateApproval.base_url == sender.base_url)
    usable = Template.is_current.is_(True) & Template.archived_at.is_(None) & Template.id.in_(approvals)
    query = select(Template).where(usable | (Template.id == keep) if keep else usable)
    return list(db.session.scalars(query.order_by(Template.name, Template.language, Template.id)))


def _find_segment(ref: Any) -> Segment | None:
    if isinstance(ref, bool) or not isinstance(ref, (int, str)):
        return None
    return find_segment(ref)


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def parse_send_at(value: Any) -> datetime | None:
    """An ISO 8601 moment as an aware UTC datetime (naive means UTC); ``ValueError`` if it is not one."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value.strip():
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    else:
        raise ValueError(value)
    if moment.utcoffset() is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _check_variables(value: Any, template: Template | None, errors: list[str]) -> dict[str, dict[str, str]]:
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        errors.append(_("Variables must map each template variable to its source."))
        return {}
    checked: dict[str, dict[str, str]] = {}
    for name, mapping in value.items():
        if not isinstance(mapping, Mapping):
            errors.append(
                _("Variable {{%(name)s}}: give a source (field, attribute or constant) and a value.", name=name)
            )
            continue
        source, raw, fallback = mapping.get("source"), mapping.get("value"), mapping.get("fallback", "")
        if source not in SOURCES:
            errors.append(
                _("Variable {{%(name)s}}: the source must be a contact field, an attribute or a constant.", name=name)
            )
            continue
        if not isinstance(raw, str) or not isinstance(fallback, (str, type(None))):
            errors.append(_("Variable {{%(name)s}}: the value and the fallback must be text.", name=name))
            continue
        raw, fallback = raw.strip(), (fallback or "").strip()
        if source == "field" and raw not in CONTACT_FIELDS:
            errors.append(_("Variable {{%(name)s}}: “%(field)s” is not a contact field; use one of %(fields)s.",
                            name=name, field=raw, fields=", ".join(CONTACT_FIELDS)))
            continue
        if source == "attribute" and not raw:
            errors.append(_("Variable {{%(name)s}}: name the contact attribute it is filled from.", name=name))
            continue
        if source == "constant" and not raw:
            errors.append(_("Variable {{%(name)s}}: the constant is empty.", name=name))
            continue
        checked[str(name)] = {"source": source, "value": raw, "fallback": fallback}
    if template is not None:
        wanted = template_variables(template)
        missing = [name for name in wanted if name not in checked]
        if missing:
            errors.append(_("Variables: map every template variable to a source; missing: %(names)s.",
                            names=", ".join(f"{{{{{name}}}}}" for name in missing)))
        extra = [name for name in checked if name not in wanted]
        if extra:
            errors.append(_("Variables: the template has no variable %(names)s.",
                            names=", ".join(f"{{{{{name}}}}}" for name in extra)))
    return checked


def _check_window(value: Any, errors: list[str]) -> dict[str, str] | None:
    if value is None or value == {}:
        return None
    if not isinstance(value, Mapping) or set(value) != {"start", "end"}:
        errors.append(
            _("Send window: give a start and an end time, such as 10:00 and 20:00, or leave it empty for the default.")
        )
        return None
    start, end = (value[part].strip() if isinstance(value[part], str) else None for part in ("start", "end"))
    start_time, end_time = parse_time(start), parse_time(end)
    if start_time is None or end_time is None:
        errors.append(_("Send window: write the times as HH:MM, for example 09:00."))
        return None
    if not start_time < end_time:
        errors.append(_("Send window: it must start before it ends."))
        return None
    return {"start": start, "end": end}


def _apply(campaign: Campaign, spec: Mapping[str, Any], *, creating: bool,
           now: datetime) -> list[tuple[str | None, str]]:
    """Check the given parts of ``spec`` and set them on ``campaign``; what is wrong, by field."""
    errors = FieldErrors()
    unknown = sorted(set(spec) - set(SPEC_KEYS))
    if unknown:
        errors.append(_("Unknown campaign field: %(names)s.", names=", ".join(map(str, unknown))))
    if creating or "name" in spec:
        errors.field = "name"
        name = spec.get("name")
        name = name.strip() if isinstance(name, str) else ""
        if not name:
            errors.append(_("Name: give the campaign a name."))
        elif len(name) > MAX_NAME:
            errors.append(_("Name: it is longer than %(limit)s characters.", limit=MAX_NAME))
        else:
            campaign.name = name
    sender = db.session.get(Sender, campaign.sender_id) if campaign.sender_id else None
    cascade = _apply_cascade(campaign, spec, errors)
    if cascade:
        sender = db.session.get(Sender, cascade[0]["sender_id"])
    if creating or "sender" in spec:
        errors.field = "sender"
        given = find_sender(spec.get("sender")) if spec.get("sender") not in (None, "") else None
        if cascade and spec.get("sender") not in (None, "") and (given is None or given.id != sender.id):
            errors.append(_("Sender: a cascade sends first through its first step's sender (“%(name)s”); leave the "
                            "sender out, or make it the first step.", name=sender.name))
        elif cascade:
            pass  # the first step's sender, set with the cascade
        elif given is None:
            errors.append(_("Sender: choose one of the senders (by name or id)."))
        elif campaign.cascade and "cascade" not in spec and given.id != campaign.sender_id:
            errors.append(_("Sender: this campaign sends through a cascade, whose first step is its sender; change "
                            "the cascade, or give an empty cascade to send on one sender."))
        else:
            sender = given
            campaign.sender_id = given.id
    template = db.session.get(Template, campaign.template_id) if campaign.template_id else None
    if creating or "template" in spec:
        errors.field = "template"
        template = find_template(spec.get("template"))
        if template is None:
            errors.append(_("Template: there is no such template; give its id, or its name and language."))
        elif template.archived_at is not None:
            errors.append(_("Template: “%(name)s” is archived; choose another one.", name=template.name))
            template = None
        elif template.id != campaign.template_id and (unusable := _unusable_for(template, campaign, sender)):
            # A campaign keeps the template it has (the launch checks it again); it cannot take a new unusable one.
            for status, whose in unusable:
                errors.append(_("Template: “%(name)s” (%(language)s) is “%(status)s” at WhatsApp for the sender "
                                "“%(sender)s”; choose a template approved for this sender, or one WhatsApp is "
                                "still reviewing.", name=template.name, language=template.language,
                                status=TEMPLATE_STATUS_LABELS[status], sender=whose.name))
            template = None
        else:
            campaign.template_id = template.id
    if creating or "segment" in spec:
        errors.field = "segment"
        segment = _find_segment(spec.get("segment"))
        if segment is None:
            errors.append(_("Segment: there is no such segment; give its name or id."))
        else:
            campaign.segment_id = segment.id
    if creating or "variables" in spec or "template" in spec:
        errors.field = "variables"
        campaign.variables = _check_variables(
            spec.get("variables", None if creating else campaign.variables), template, errors
        )
    if creating or "send_at" in spec:
        errors.field = "send_at"
        raw = spec.get("send_at")
        if raw in (None, ""):
            campaign.send_at = None
        else:
            try:
                moment = parse_send_at(raw)
            except (ValueError, TypeError):
                errors.append(
                    _(
                        "Send time: write it as an ISO date and time, such as 2026-12-01T10:00:00+03:00, "
                        "or leave it empty to send when approved."
                    )
                )
            else:
                if moment < now - PAST_TOLERANCE:
                    errors.append(
                        _("Send time: it is in the past; choose a later time or leave it empty to send when approved.")
                    )
                else:
                    campaign.send_at = moment
    if creating or "send_window" in spec:
        errors.field = "send_window"
        campaign.send_window = _check_window(spec.get("send_window"), errors)
    if creating or "messages_per_second" in spec or "sender" in spec or "cascade" in spec:
        errors.field = "messages_per_second"
        rate = spec.get("messages_per_second")
        # The campaign's rate caps all its steps together, and each step's batches are paced by their own sender
        # too: a rate above the fastest sender of the cascade could never be reached.
        bounding = _step_senders(campaign) if campaign.cascade else [sender] if sender is not None else []
        fastest = max(bounding, key=lambda one: one.messages_per_second, default=None)
        if rate is None:
            rate = (
                campaign.messages_per_second
                if not creating
                else min(DEFAULT_RATE, fastest.messages_per_second if fastest else DEFAULT_RATE)
            )
        if not _positive_int(rate):
            errors.append(_("Rate: give a whole number of messages per second, at least 1."))
        elif fastest is not None and rate > fastest.messages_per_second:
            errors.append(
                _(
                    "Rate: %(rate)s messages per second is more than the sender “%(sender)s” allows (%(limit)s).",
                    rate=rate,
                    sender=fastest.name,
                    limit=fastest.messages_per_second,
                )
            )
        else:
            campaign.messages_per_second = rate
    return errors


def _apply_cascade(campaign: Campaign, spec: Mapping[str, Any], errors: FieldErrors) -> list[dict[str, Any]] | None:
    """Set the spec's cascade on ``campaign`` (and its first step's sender as the campaign's); the cascade set, or
    None when the spec gives none (an empty one sends on one sender again)."""
    if "cascade" not in spec:
        return None
    errors.field = "cascade"
    try:
        parsed = parse_cascade(spec.get("cascade"), find_sender)
    except CascadeError as error:
        for sentence in error.errors:
            errors.append(sentence)
        return None
    campaign.cascade = parsed
    if parsed:
        campaign.sender_id = parsed[0]["sender_id"]
    return parsed


def _step_senders(campaign: Campaign) -> list[Sender]:
    return [found for step in campaign.cascade or [] if (found := db.session.get(Sender, step["sender_id"]))]


def _unusable_for(template: Template, campaign: Campaign, sender: Sender | None) -> list[tuple[TemplateStatus, Sender]]:
    """The WhatsApp senders of the campaign (every step's, on a cascade) for which ``template`` is neither approved
    nor being reviewed, with its status there; a bot or SMS step sends our own rendering of any template."""
    whose = _step_senders(campaign) if campaign.cascade else [sender] if sender is not None else []
    return [(status, one) for one in whose if needs_provider_template(one) and
            (status := status_for(template, one)) not in USABLE_TEMPLATES]


# --- campaigns -------------------------------------------------------------------------------------------

def create_campaign(spec: Mapping[str, Any], actor: Any = None, *, now: datetime | None = None) -> Campaign:
    """A new draft from ``spec``; ``CampaignError`` lists every mistake, each naming its field."""
    if not isinstance(spec, Mapping):
        raise CampaignError([_("The campaign must be given as a set of named fields.")])
    campaign = Campaign(status=CampaignStatus.DRAFT, variables={})
    errors = _apply(campaign, spec, creating=True, now=now or utcnow())
    if errors:
        raise CampaignError(errors=errors)
    actor_id = getattr(actor, "id", None)
    campaign.created_by_id = campaign.updated_by_id = actor_id
    campaign.content_hash = content_hash(campaign)
    db.session.add(campaign)
    db.session.flush()
    audit.record(
        "campaign.created",
        actor=actor,
        target=campaign,
        details={"name": campaign.name, "content_hash": campaign.content_hash},
    )
    return campaign


def update_campaign(
    campaign: Campaign, spec: Mapping[str, Any], actor: Any = None, *, now: datetime | None = None
) -> Campaign:
    """Change the parts given in ``spec``; an edit that changes the content voids a review or approval.

    A campaign in review, approved or scheduled whose content hash changes goes back to draft (and
    loses its approval); a rejected one becomes a draft with any edit ("revise").
    """
    if not isinstance(spec, Mapping):
        raise CampaignError([_("The campaign must be given as a set of named fields.")])
    if campaign.status not in lifecycle.EDITABLE:
        raise CampaignError([_("A campaign that is “%(status)s” can no longer be edited.",
                               status=lifecycle.STATUS_LABELS[campaign.status])], status=409)
    before_hash, before_name = campaign.content_hash, campaign.name
    errors = _apply(campaign, spec, creating=False, now=now or utcnow())
    if errors:
        db.session.expire(campaign)  # drop the half-applied edit from this session
        raise CampaignError(errors=errors)
    new_hash = content_hash(campaign)
    if new_hash == before_hash and campaign.name == before_name:
        return campaign
    campaign.content_hash = new_hash
    campaign.updated_by_id, campaign.updated_at = getattr(actor, "id", None), utcnow()
    db.session.flush()
    # The edit holds only for the status it was made in: had a submission or an approval slipped in
    # since this campaign was read, the edit could otherwise ride into review without a preflight.
    # The row is locked by the flush above, so this check stands until the caller commits.
    still = db.session.execute(update(Campaign).where(Campaign.id == campaign.id, Campaign.status == campaign.status)
                               .values(updated_at=campaign.updated_at).execution_options(synchronize_session=False)).rowcount
    if still != 1:
        raise CampaignError([_("Someone else changed this campaign a moment ago; reload it and try again.")],
                            status=409)
    audit.record("campaign.updated", actor=actor, target=campaign,
                 details={"content_changed": new_hash != before_hash, "content_hash": new_hash})
    if campaign.status is CampaignStatus.REJECTED:
        lifecycle.transition(campaign, CampaignStatus.DRAFT, actor=actor, reason="edited after rejection")
    elif new_hash != before_hash and campaign.status in (
        CampaignStatus.IN_REVIEW,
        CampaignStatus.APPROVED,
        CampaignStatus.SCHEDULED,
    ):
        launch.return_to_draft(campaign, actor=actor, reason="content edited")
    return campaign


def cancel_campaign(campaign: Campaign, actor: Any = None, reason: str = "") -> Campaign:
    """Cancel a campaign that has not finished (and its scheduled launch job, once the caller
    commits); ``lifecycle.TransitionError`` if it cannot be. A cancelled campaign's notifications about
    its pause are settled by the cancel (nobody will resume it)."""
    launch.cancel_launch(campaign, actor=actor, reason=reason)
    notices.resolve_campaign(campaign, actor)
    return campaign


def list_campaigns(status: CampaignStatus | None = None, limit: int = 200) -> list[Campaign]:
    """The newest campaigns first, optionally only those in ``status``."""
    query = select(Campaign).order_by(Campaign.id.desc()).limit(limit)
    if status is not None:
        query = query.where(Campaign.status == status)
    return list(db.session.scalars(query))


def variable_values(variables: Mapping[str, Mapping[str, str]], contact: Contact | None) -> dict[str, str]:
    """The value of each variable for ``contact`` (None: the fallbacks and constants only)."""
    values: dict[str, str] = {}
    for name, mapping in variables.items():
        source, key, fallback = mapping.get("source"), mapping.get("value", ""), mapping.get("fallback", "")
        if source == "constant":
            value = key
        elif contact is None:
            value = ""
        elif source == "field":
            value = getattr(contact, key, None) if key in CONTACT_FIELDS else None
        else:
            value = (contact.attributes or {}).get(key)
        values[name] = str(value).strip() if value not in (None, "") and str(value).strip() else fallback
    return values
