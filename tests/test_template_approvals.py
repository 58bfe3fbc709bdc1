"""Template approval per business account, against the real sandbox: a submission records the provider's
answer, the periodic sync picks up a delayed decision, an admin records a verdict with or without a
sender, and a campaign needs its template approved for its own sender."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import select

from campaigns import jobs, review, senders, template_approvals
from campaigns import message_templates as templates
from campaigns.models import ApprovalSource, Sender, TemplateApproval, TemplateStatus
from extensions import db
from periodic import PERIODIC_JOBS
from tests.campaign_world import make_world
from tests.helpers import assert_problem
from tests.records import audit_events
from tests.test_message_templates import make


def approvals(template) -> dict[str, TemplateApproval]:
    db.session.expire_all()
    return {item.account_id: item for item in db.session.scalars(
        select(TemplateApproval).where(TemplateApproval.template_id == template.id))}


def test_a_submission_records_the_sandboxs_immediate_approval(app, sandbox_sender, make_user):
    author = make_user("marketer")
    template = make()
    outcome = template_approvals.submit(template, actor=author)
    db.session.commit()
    assert outcome.failures == []
    [approval] = approvals(template).values()
    assert (approval.status, approval.source, approval.category) == (
        TemplateStatus.APPROVED, ApprovalSource.PROVIDER, "marketing")
    assert approval.provider_template_id and approval.submitted_at and approval.decided_at
    assert template.status is TemplateStatus.APPROVED
    assert template_approvals.approved_for(template, sandbox_sender)
    [submitted] = audit_events("template.submitted")
    assert submitted.actor_id == author.id and submitted.details["account"] == "200000000000001"
    decided = [e for e in audit_events("template.status_changed") if e.details["to"] == "approved"]
    assert [(e.actor_id, e.actor_label, e.details["source"]) for e in decided] == [(None, "channel:sandbox",
                                                                                      "provider")]


def test_a_rejection_keeps_the_providers_reason_and_an_edit_in_place_keeps_only_the_providers_id(app,
                                                                                                 sandbox_sender):
    template = make(body="Hi {{1}}, see instagram.com/shop for the sale on {{2}}. Bye!")
    template_approvals.submit(template)
    db.session.commit()
    [approval] = approvals(template).values()
    assert (approval.status, approval.reason) == (TemplateStatus.REJECTED, "ABUSIVE_CONTENT")
    assert template.status is TemplateStatus.REJECTED and template.rejection_reason == "ABUSIVE_CONTENT"
    assert template_approvals.reason_text(template.rejection_reason).startswith("The provider found the content")
    provider_id = approval.provider_template_id
    fixed = templates.update_template(template, {"body": "Hi {{1}}, the sale starts on {{2}}. See you!"})
    db.session.commit()
    [kept] = approvals(fixed).values()
    # The reason was about the old text; the provider's id stays, for the next submission to edit that template.
    assert (fixed.id, fixed.status, fixed.rejection_reason) == (template.id, TemplateStatus.DRAFT, None)
    assert (kept.status, kept.reason, kept.decided_at, kept.provider_template_id) == (
        TemplateStatus.DRAFT, None, None, provider_id)
    assert template_approvals.status_for(fixed, sandbox_sender) is TemplateStatus.DRAFT
    assert template_approvals.can_submit(fixed)


def test_the_sync_picks_up_a_delayed_decision_and_a_category_change(app, sandbox, sandbox_sender):
    sandbox.configure(template_delay_ms=600_000)  # the sandbox decides in ten minutes: the sync must ask again
    template = make()
    template_approvals.submit(template)
    db.session.commit()
    approval = approvals(template)["200000000000001"]
    assert approval.status is TemplateStatus.PENDING and template.status is TemplateStatus.PENDING
    assert jobs.sync_template_statuses() == 0  # still pending at the provider: nothing to record
    sandbox.force_template(approval.provider_template_id, "APPROVED", category="UTILITY")
    assert jobs.sync_template_statuses() == 1  # the job commits
    approval = approvals(template)["200000000000001"]
    assert (approval.status, approval.category, approval.decided_at is not None) == (
        TemplateStatus.APPROVED, "utility", True)
    db.session.refresh(template)
    assert template.status is TemplateStatus.APPROVED
    [decided] = [e for e in audit_events("template.status_changed") if e.details["to"] == "approved"]
    assert decided.actor_label == "channel:sandbox" and decided.details["category"] == "utility"
    assert jobs.sync_template_statuses() == 0  # nothing pending any more


def test_the_sync_reads_a_rejection_with_its_reason_and_raises_for_an_unreadable_account(app, sandbox,
                                                                                        sandbox_sender):
    sandbox.configure(template_delay_ms=600_000)
    template = make()
    template_approvals.submit(template)
    db.session.commit()
    provider_id = approvals(template)["200000000000001"].provider_template_id
    sandbox.force_template(provider_id, "REJECTED", reason="INCORRECT_CATEGORY")
    assert jobs.sync_template_statuses() == 1
    assert approvals(template)["200000000000001"].reason == "INCORRECT_CATEGORY"
    other = make(name="second_one")
    template_approvals.submit(other)
    db.session.commit()
    senders.update_sender(db.session.get(Sender, sandbox_sender.id), {"access_token": "wrong-token"})
    db.session.commit()
    with pytest.raises(RuntimeError, match="200000000000001"):
        jobs.sync_template_statuses()
    assert approvals(other)["200000000000001"].status is TemplateStatus.PENDING


def test_a_sender_whose_secret_cannot_be_decrypted_does_not_stop_the_sync_of_the_other_accounts(
        app, sandbox, sandbox_sender):
    sandbox.add_number("100000000000777", waba_id="200000000000777", display_phone_number="+7 495 765-43-21")
    senders.create_sender("Lost key", "+74957654321", channel="sandbox", phone_number_id="100000000000777",
                          waba_id="200000000000777", base_url=sandbox.url)
    db.session.commit()
    sandbox.configure(template_delay_ms=600_000)
    template = make()
    template_approvals.submit(template)
    db.session.commit()
    pending = approvals(template)
    assert {key: item.status for key, item in pending.items()} == {
        "200000000000001": TemplateStatus.PENDING, "200000000000777": TemplateStatus.PENDING}
    # The first account's sender was saved with a key that is no longer in VESTNIK_SECRETS_KEY.
    db.session.get(Sender, sandbox_sender.id).access_token_encrypted = "gAAAAABnot-a-token-of-ours"
    db.session.commit()
    sandbox.force_template(pending["200000000000777"].provider_template_id, "APPROVED", waba_id="200000000000777")
    with pytest.raises(RuntimeError, match="200000000000001"):
        jobs.sync_template_statuses()
    after = approvals(template)
    assert after["200000000000777"].status is TemplateStatus.APPROVED
    assert after["200000000000001"].status is TemplateStatus.PENDING


def test_a_sender_whose_secret_cannot_be_decrypted_is_one_failed_account_of_a_submission(
        app, sandbox, sandbox_sender):
    sandbox.add_number("100000000000777", waba_id="200000000000777", display_phone_number="+7 495 765-43-21")
    lost = senders.create_sender("Lost key", "+74957654321", channel="sandbox", phone_number_id="100000000000777",
                                 waba_id="200000000000777", base_url=sandbox.url)
    db.session.commit()
    # Its sender was saved with a key that is no longer in VESTNIK_SECRETS_KEY.
    db.session.get(Sender, lost.id).access_token_encrypted = "gAAAAABnot-a-token-of-ours"
    db.session.commit()
    template = make()
    outcome = template_approvals.submit(template)
    db.session.commit()
    assert {key: item.status for key, item in approvals(template).items()} == {
        "200000000000001": TemplateStatus.APPROVED}
    [(account, sentence)] = outcome.failures
    assert account.account_id == "200000000000777" and "“Lost key”" in sentence
    # Submitted to that sender's account alone, the submission is refused with the same sentence.
    with pytest.raises(templates.TemplateError, match="secret of the sender “Lost key” cannot be decrypted"):
        template_approvals.submit(make(name="second_one"), sender=lost)


def test_the_sync_is_a_periodic_job_every_minute():
    [periodic] = [job for job in PERIODIC_JOBS if job.enqueue is jobs.enqueue_sync_template_statuses]
    assert periodic.every.total_seconds() == 60


def two_accounts() -> tuple[Sender, Sender]:
    main = senders.create_sender("Main", "+74951234567")
    other = senders.create_sender("Other", "+74957654321", channel="whatsapp_cloud", phone_number_id="5",
                                  waba_id="777", access_token="EAAG-other-0000")
    db.session.commit()
    return main, other


def cli(app, *args):
    return app.test_cli_runner().invoke(args=["campaigns", "template", *args])


def test_set_status_for_every_senders_account_or_for_one(app):
    _main, other = two_accounts()
    template = make()
    result = cli(app, "set-status", "autumn_sale", "approved")
    assert result.exit_code == 0 and result.output.endswith("is now approved for every sender.\n")
    assert {account: a.status for account, a in approvals(template).items()} == {
        "200000000000001": TemplateStatus.APPROVED, "777": TemplateStatus.APPROVED}
    result = cli(app, "set-status", "autumn_sale", "paused", "--sender", "Other", "--reason", "Quality dropped.")
    assert result.exit_code == 0 and result.output.endswith("is now paused for the sender “Other”.\n")
    found = approvals(template)
    assert (found["777"].status, found["777"].reason, found["777"].source) == (
        TemplateStatus.PAUSED, "Quality dropped.", ApprovalSource.ADMIN)
    assert found["200000000000001"].status is TemplateStatus.APPROVED
    db.session.refresh(template)
    assert template.status is TemplateStatus.APPROVED  # approved in one account at least
    assert template_approvals.status_for(template, other) is TemplateStatus.PAUSED
    events = audit_events("template.status_changed")
    assert [(e.details["account"], e.details["to"]) for e in events] == [
        ("200000000000001", "approved"), ("777", "approved"), ("777", "paused")]
    assert all(e.actor_label.startswith("cli:") for e in events)
    refused = cli(app, "set-status", "autumn_sale", "rejected", "--sender", "Other")
    assert refused.exit_code == 1 and "Reason: say why" in refused.output
    unknown = cli(app, "set-status", "autumn_sale", "approved", "--sender", "Nobody")
    assert unknown.exit_code == 1 and "There is no sender “Nobody”" in unknown.output


def test_the_sum_is_pending_while_any_account_is_deciding(app):
    main, other = two_accounts()
    template = make()
    template_approvals.set_status(template, "rejected", "Spam.", sender=main)
    assert template.status is TemplateStatus.REJECTED and template.rejection_reason == "Spam."
    template_approvals.set_status(template, "pending", sender=other)
    assert template.status is TemplateStatus.PENDING
    template_approvals.set_status(template, "approved", sender=other)
    assert template.status is TemplateStatus.APPROVED and template.rejection_reason is None


def test_submit_to_one_sender_goes_to_that_account_only(app, sandbox, sandbox_sender):
    senders.create_sender("Other", "+74957654321", channel="whatsapp_cloud", phone_number_id="5", waba_id="777",
                          base_url=sandbox.url, access_token="wrong-token")
    db.session.commit()
    template = make()
    outcome = template_approvals.submit(template, sender=sandbox_sender)
    db.session.commit()
    assert list(approvals(template)) == ["200000000000001"] and outcome.failures == []
    # To every account: the one it is approved in is skipped; the other's provider refuses, and says why.
    template = make(name="second_one")
    outcome = template_approvals.submit(template)
    db.session.commit()
    assert list(approvals(template)) == ["200000000000001"]
    [(account, sentence)] = outcome.failures
    assert (account.account_id, sentence) == ("777", "The provider refused the sender's access token: it is invalid, "
                                                     "expired or revoked. Save a new token on the sender's page.")


def closed_port() -> int:
    """A loopback port nothing listens on once the probe is closed."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_submission_the_provider_cannot_take_says_why_and_promises_nothing(app, sandbox, sandbox_sender):
    sandbox.configure(faults={"http_500": 1.0})
    with pytest.raises(template_approvals.TemplateError) as down:
        template_approvals.submit(make())
    assert (down.value.status, down.value.errors) == (502, ["The provider had an internal error."])
    sandbox.configure(faults={"http_500": 0.0})
    senders.update_sender(sandbox_sender, {"base_url": f"http://127.0.0.1:{closed_port()}"})
    db.session.commit()
    with pytest.raises(template_approvals.TemplateError) as unreachable:
        template_approvals.submit(make(name="second_one"))
    assert unreachable.value.errors == ["The provider could not be reached."]


def test_a_campaign_is_refused_review_when_its_template_is_not_approved_for_its_sender(app, make_user):
    world = make_world(make_user)
    campaign = world.campaign()
    other = senders.create_sender("Other", "+74957654321", channel="whatsapp_cloud", phone_number_id="5",
                                  waba_id="777", access_token="EAAG-other-0000")
    db.session.commit()
    template_approvals.set_status(world.template, "approved", sender=other)  # approved there, not in Main's account
    template_approvals.set_status(world.template, "paused", "Quality.", sender=world.sender)
    db.session.commit()
    with pytest.raises(review.ReviewError) as refused:
        review.submit(campaign, world.marketer)
    assert refused.value.errors[0] == (
        "The template “autumn_sale” (ru, version 1) is not approved by WhatsApp for the sender “Main” (it is "
        "“Paused” in its business account); only approved templates can be sent.")


def test_submit_with_a_chosen_sender_from_the_cli_and_the_api(app, sandbox, sandbox_sender, call_as):
    senders.create_sender("Other", "+74957654321", channel="whatsapp_cloud", phone_number_id="5", waba_id="777",
                          base_url=sandbox.url, access_token="EAAG-other-0000")
    db.session.commit()
    template = make()
    result = cli(app, "submit", "autumn_sale", "--sender", "Sandbox")
    assert result.exit_code == 0 and result.output == (
        "Submitted “autumn_sale” (en) to account 200000000000001: approved.\n")
    assert list(approvals(template)) == ["200000000000001"]
    other = make(name="second_one")
    submitted = call_as("POST", f"/templates/{other.id}/submit", json={"sender": "Sandbox"})
    assert submitted.status_code == 200
    assert {a["sender"]: a["status"] for a in submitted.json["approvals"]} == {"Sandbox": "approved",
                                                                             "Other": "draft"}
    assert_problem(call_as("POST", f"/templates/{other.id}/submit", json={"sender": "Nobody"}), 400, field="sender")
