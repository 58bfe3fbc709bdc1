"""Submitting a template the provider already knows by its name, end to end against the real sandbox: a
rejected template edited and submitted again, and a new version of an approved one, edit the provider's
template (``POST /{template_id}``) instead of creating a second one; an account that never saw the template
gets it created."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from audience import segments
from campaigns import campaign_specs, preflight, senders, template_approvals
from campaigns import message_templates as templates
from campaigns.models import Template, TemplateApproval, TemplateStatus
from extensions import db
from tests.channels.sandbox_calls import call
from tests.records import audit_events
from tests.sandbox_provider import WABA_ID
from tests.test_message_templates import make

OTHER_WABA = "200000000000002"
BODY = "Hi {{1}}, the autumn sale starts on {{2}}. See you!"


def approval(template: Template, account: str = WABA_ID) -> TemplateApproval:
    db.session.expire_all()
    return db.session.scalar(select(TemplateApproval).where(TemplateApproval.template_id == template.id,
                                                             TemplateApproval.account_id == account))


def provider_templates(sandbox, account: str = WABA_ID) -> list[dict]:
    """The account's templates as the sandbox has them."""
    url = sandbox.graph_url(account, "message_templates") + "?fields=id,name,language,status,components"
    return call("GET", url).json["data"]


def template_calls(sandbox) -> list[tuple[str, str]]:
    """The templates' POSTs the sandbox received, by their path after the API version (sends left out)."""
    return [(r["method"], r["path"].split("?")[0].split("/", 2)[2]) for r in sandbox.ledger()["requests"]
            if r["method"] == "POST" and "/messages" not in r["path"]]


def body_of(row: dict) -> str:
    return next(c["text"] for c in row["components"] if c["type"] == "BODY")


def test_a_rejected_template_edited_and_submitted_again_edits_the_providers_template(app, sandbox, sandbox_sender,
                                                                                    make_user):
    author = make_user("marketer")
    template = make(body="Hi {{1}}, see instagram.com/shop for the sale on {{2}}. Bye!")
    template_approvals.submit(template, actor=author)
    db.session.commit()
    provider_id = approval(template).provider_template_id
    assert approval(template).status is TemplateStatus.REJECTED
    fixed = templates.update_template(template, {"body": BODY})
    db.session.commit()
    outcome = template_approvals.submit(fixed, actor=author)
    db.session.commit()
    assert outcome.failures == []
    row = approval(fixed)
    assert (row.status, row.reason, row.provider_template_id) == (TemplateStatus.APPROVED, None, provider_id)
    assert fixed.status is TemplateStatus.APPROVED and template_approvals.approved_for(fixed, sandbox_sender)
    # One template at the provider, with the new text: edited, not created twice (which the provider refuses).
    [held] = provider_templates(sandbox)
    assert (held["id"], held["status"], body_of(held)) == (provider_id, "APPROVED", BODY)
    assert template_calls(sandbox) == [("POST", f"{WABA_ID}/message_templates"),
                                       ("POST", provider_id)]
    [submitted] = audit_events("template.submitted")
    [edited] = audit_events("template.edited_at_provider")
    assert (edited.actor_id, edited.details["provider_template_id"], edited.details["account"]) == (
        author.id, provider_id, WABA_ID)
    assert submitted.id < edited.id
    steps = [(e.details["from"], e.details["to"], e.actor_id, e.actor_label)
             for e in audit_events("template.status_changed")]
    assert steps[-2:] == [("draft", "pending", author.id, author.email),
                          ("pending", "approved", None, "channel:sandbox")]


def test_a_new_version_of_an_approved_template_is_approved_for_its_sender_and_passes_the_preflight(
        app, sandbox, sandbox_sender, make_user):
    marketer = make_user("marketer")
    first = make()
    template_approvals.submit(first)
    db.session.commit()
    provider_id = approval(first).provider_template_id
    second = templates.update_template(first, {"body": BODY.replace("See you!", "Welcome!")})
    db.session.commit()
    assert (second.version, second.status) == (2, TemplateStatus.DRAFT)
    assert template_approvals.status_for(second, sandbox_sender) is TemplateStatus.DRAFT
    assert template_approvals.can_submit(second)
    template_approvals.submit(second)
    db.session.commit()
    new, old = approval(second), approval(first)
    assert (new.status, new.provider_template_id) == (TemplateStatus.APPROVED, provider_id)
    # The provider sends v2's text by this name now: v1 can no longer go out from this account.
    assert (old.status, old.reason, old.provider_template_id) == (TemplateStatus.DISABLED, "SUPERSEDED", provider_id)
    assert not template_approvals.approved_for(first, sandbox_sender)
    [held] = provider_templates(sandbox)
    assert body_of(held).endswith("Welcome!")
    assert [e.details["version"] for e in audit_events("template.edited_at_provider")] == [2]
    segments.create_segment("Promo", {"tags": ["promo"]})
    db.session.commit()
    campaign = campaign_specs.create_campaign({
        "name": "Autumn", "sender": sandbox_sender.name, "segment": "Promo",
        "template": {"name": second.name, "language": second.language},
        "variables": {"1": {"source": "field", "value": "name", "fallback": "friend"},
                      "2": {"source": "constant", "value": "Monday"}}}, marketer)
    db.session.commit()
    report = preflight.run(campaign)
    assert report["template"]["version"] == 2
    assert (report["template"]["status"], report["template"]["approved"]) == ("approved", True)
    assert not any("is not approved by WhatsApp" in sentence for sentence in report["blocking"])


def test_an_account_that_never_saw_the_template_gets_it_created_while_the_other_edits(app, sandbox,
                                                                                     sandbox_sender):
    sandbox.add_number("100000000000002", waba_id=OTHER_WABA)
    senders.create_sender("Second", "+74950000002", channel="sandbox", base_url=sandbox.url,
                          phone_number_id="100000000000002", waba_id=OTHER_WABA)
    db.session.commit()
    first = make()
    template_approvals.submit(first, sender=sandbox_sender)  # only the first account has it
    db.session.commit()
    provider_id = approval(first).provider_template_id
    second = templates.update_template(first, {"body": BODY.replace("See you!", "Welcome!")})
    db.session.commit()
    outcome = template_approvals.submit(second)
    db.session.commit()
    assert outcome.failures == []
    assert approval(second).provider_template_id == provider_id
    created = approval(second, OTHER_WABA)
    assert created.status is TemplateStatus.APPROVED and created.provider_template_id not in (None, provider_id)
    assert template_calls(sandbox)[1:] == [("POST", provider_id),
                                           ("POST", f"{OTHER_WABA}/message_templates")]
    assert [e.details["account"] for e in audit_events("template.edited_at_provider")] == [WABA_ID]
    assert [e.details["account"] for e in audit_events("template.submitted")] == [WABA_ID, OTHER_WABA]


def test_a_refused_edit_is_reported_and_recorded_nowhere(app, sandbox, sandbox_sender):
    first = make()
    template_approvals.submit(first)
    db.session.commit()
    second = templates.update_template(first, {"body": BODY.replace("See you!", "Welcome!")})
    db.session.commit()
    template_approvals.submit(second)  # the approved template's one edit of the day
    db.session.commit()
    third = templates.update_template(second, {"body": BODY.replace("See you!", "Bye!")})
    db.session.commit()
    with pytest.raises(templates.TemplateError) as refused:
        template_approvals.submit(third)  # the provider allows one edit of an approved template a day
    assert refused.value.status == 502
    assert refused.value.errors[0].startswith("The provider refused to edit the template.")
    db.session.rollback()
    assert approval(third) is None and template_approvals.status_for(third, sandbox_sender) is TemplateStatus.DRAFT
