"""The test send, against the real sandbox: from the shell (`flask campaigns send-test`, its JSON and its
exit status), from the template's and the campaign's pages, and over the API."""

from __future__ import annotations

import html
import json
import re

import pytest

from campaigns import senders, template_approvals, test_sends
from campaigns.models import Template
from channels.base import ResultKind, SendResult
from extensions import db
from tests.campaign_world import make_world, provider_status_everywhere
from tests.helpers import assert_problem, post_form, signed_in_client
from tests.records import audit_events
from tests.test_message_templates import make

TO = "+79031234567"


@pytest.fixture
def approved(app, sandbox_sender) -> Template:
    """A template the sandbox approved for the sandbox sender."""
    template = make()
    template_approvals.submit(template)
    db.session.commit()
    assert template_approvals.approved_for(template, sandbox_sender)
    return template


def send_test(app, *args):
    return app.test_cli_runner().invoke(args=["campaigns", "send-test", *args])


def test_the_cli_sends_one_message_and_exits_0_when_accepted(app, sandbox, approved):
    result = send_test(app, "--sender", "Sandbox", "--template", "autumn_sale", "--language", "en", "--to", TO,
                       "--var", "1=Анна", "--json")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert set(printed) == {"status", "provider_id", "code", "retry_after", "sentence"}
    assert printed["status"] == "accepted" and printed["provider_id"].startswith("wamid.")
    assert printed["code"] is None and printed["retry_after"] is None
    [message] = sandbox.ledger()["messages"]
    assert message["to"] == TO.lstrip("+") and message["key"].startswith("test-")
    again = send_test(app, "--sender", "Sandbox", "--template", "autumn_sale", "--to", TO, "--json")
    assert again.exit_code == 0
    keys = [m["key"] for m in sandbox.ledger()["messages"]]
    assert len(keys) == 2 and len(set(keys)) == 2  # each test send is a message of its own
    [first, _second] = audit_events("template.test_sent")
    assert (first.details["sender"], first.details["phone"], first.details["outcome"]) == ("Sandbox", TO, "accepted")
    plain = send_test(app, "--sender", "Sandbox", "--template", "autumn_sale", "--to", TO)
    assert plain.exit_code == 0 and plain.stdout.startswith("The provider accepted the test message (id wamid.")


def test_the_cli_exits_1_with_the_sentence_when_the_provider_refuses(app, sandbox, sandbox_sender):
    make(name="never_submitted")  # the provider has never seen it
    result = send_test(app, "--sender", "Sandbox", "--template", "never_submitted", "--to", TO, "--json")
    assert result.exit_code == 1
    printed = json.loads(result.stdout)
    # The reason only: what would become of a campaign on this template is not the test send's to say.
    assert (printed["status"], printed["code"], printed["sentence"]) == (
        "failed", "132001", "The provider has no approved template of this name in this language.")
    assert printed["provider_id"] is None
    plain = send_test(app, "--sender", "Sandbox", "--template", "never_submitted", "--to", TO)
    assert plain.exit_code == 1 and plain.stdout == ""
    assert plain.stderr.strip() == f"The provider refused the test message: {printed['sentence']}"


def test_a_throttled_test_send_says_why_and_when_to_try_again(app, sandbox, approved):
    sandbox.configure(faults={"code_130429": 1.0}, retry_after=7)
    result = send_test(app, "--sender", "Sandbox", "--template", "autumn_sale", "--to", TO, "--json")
    assert result.exit_code == 1
    printed = json.loads(result.stdout)
    assert (printed["status"], printed["code"], printed["retry_after"], printed["sentence"]) == (
        "retry", "130429", 7, "The number reached its sending speed limit at the provider.")
    plain = send_test(app, "--sender", "Sandbox", "--template", "autumn_sale", "--to", TO)
    assert plain.exit_code == 1 and plain.stderr.strip() == (
        "The provider could not take the test message now: The number reached its sending speed limit at the "
        "provider. Try the test send again in 7 s.")
    assert sandbox.ledger()["messages"] == []


@pytest.mark.parametrize(("wait", "again"), [
    (None, "Try the test send again in a moment."),
    (0, "Try the test send again in a moment."),
    (2.5, "Try the test send again in 3 s."),
    (600, "Try the test send again in 10 min."),
    (24 * 3600, "Try the test send again in 24 h."),
])
def test_a_retry_says_when_to_try_the_test_send_again(app, wait, again):
    result = SendResult("test-1", ResultKind.RETRY, code="131000", sentence="The provider had an internal error.",
                        retry_after=wait)
    assert test_sends.result_sentence(result) == (
        f"The provider could not take the test message now: The provider had an internal error. {again}")
    failed = SendResult("test-1", ResultKind.FAILED, code="132015", sentence="The provider paused the template.")
    assert test_sends.result_sentence(failed) == (
        "The provider refused the test message: The provider paused the template.")


def test_a_bad_token_fails_the_test_send_with_the_token_code(app, sandbox, approved, sandbox_sender):
    senders.update_sender(sandbox_sender, {"access_token": "wrong-token"})
    db.session.commit()
    result = send_test(app, "--sender", "Sandbox", "--template", "autumn_sale", "--to", TO, "--json")
    assert result.exit_code == 1 and json.loads(result.stdout)["code"] == "190"
    assert sandbox.ledger()["messages"] == []


def test_refusals_before_sending_are_sentences(app, sandbox, approved):
    bad = send_test(app, "--sender", "Sandbox", "--template", "autumn_sale", "--to", "hello")
    assert bad.exit_code == 1 and "“hello” is not a phone number" in bad.stderr
    wrong = send_test(app, "--sender", "Sandbox", "--template", "autumn_sale", "--to", TO, "--var", "9=x")
    assert wrong.exit_code == 1 and "The template has no variable {{9}}." in wrong.stderr
    nobody = send_test(app, "--sender", "Nobody", "--template", "autumn_sale", "--to", TO)
    assert nobody.exit_code == 1 and "There is no sender “Nobody”" in nobody.stderr
    assert sandbox.ledger()["messages"] == []


@pytest.mark.parametrize(("options", "code", "sentence"), [
    (("--sender", "Nobody", "--template", "autumn_sale", "--to", TO), "unknown_sender", "There is no sender “Nobody”"),
    (("--sender", "Sandbox", "--template", "nothing_like_it", "--to", TO), "unknown_template",
     "There is no template “nothing_like_it”"),
    (("--sender", "Sandbox", "--template", "autumn_sale", "--to", "hello"), "invalid_phone",
     "“hello” is not a phone number"),
    (("--sender", "Sandbox", "--template", "autumn_sale", "--to", TO, "--var", "9=x"), "unknown_variable",
     "The template has no variable {{9}}."),
    (("--sender", "Sandbox", "--template", "autumn_sale", "--to", TO, "--var", "novalue"), "invalid_variable",
     "--var novalue: write it as NAME=VALUE"),
])
def test_with_json_a_refusal_before_sending_is_json_too(app, sandbox, approved, options, code, sentence):
    result = send_test(app, *options, "--json")
    assert result.exit_code == 1 and result.stderr == ""
    printed = json.loads(result.stdout)
    assert {**printed, "sentence": ""} == {"status": "failed", "provider_id": None, "code": code,
                                           "retry_after": None, "sentence": ""}
    assert sentence in printed["sentence"]
    assert sandbox.ledger()["messages"] == []


def test_with_json_a_variable_without_value_or_example_is_a_missing_variable(app, sandbox, sandbox_sender):
    template = make(name="no_examples")
    template.examples = {}  # saved before examples were required: nothing fills {{1}} and {{2}}
    template_approvals.set_status(template, "approved")
    db.session.commit()
    result = send_test(app, "--sender", "Sandbox", "--template", "no_examples", "--to", TO, "--json")
    assert result.exit_code == 1
    printed = json.loads(result.stdout)
    assert printed["code"] == "missing_variable" and "Give a value for {{1}}" in printed["sentence"]


def test_the_values_given_and_the_examples_fill_the_parameters(app, approved):
    message = test_sends.outbound_for(approved, TO, {"1": "Борис"}, "test-1")
    assert [p.value for p in message.template.body] == ["Борис", "Monday"]
    assert [p.value for p in message.template.header] == []
    assert (message.template.name, message.template.language) == ("autumn_sale", "en")


def test_positional_values_go_in_the_order_of_their_numbers_not_of_the_text(app):
    # The provider fills {{1}} with the first body parameter, whatever order the text uses them in.
    template = make(body="Встречаем {{2}}, {{1}}! Ждём вас.", examples={"1": "Анна", "2": "в понедельник"})
    message = test_sends.outbound_for(template, TO, {"1": "Борис"}, "test-2")
    assert [(p.value, p.name) for p in message.template.body] == [("Борис", None), ("в понедельник", None)]


def flashes(response) -> list[str]:
    return [html.unescape(text) for text in re.findall(r'<p class="flash[^"]*"[^>]*>([^<]*)</p>',
                                                       response.get_data(as_text=True))]


def test_the_template_page_sends_a_test_and_says_how_it_went(app, sandbox, approved, sandbox_sender, make_user):
    browser = signed_in_client(app, make_user("marketer").email)
    page = f"/templates/{approved.id}"
    assert 'name="test-to"' in browser.get(page).get_data(as_text=True)
    response = post_form(browser, f"{page}/test-send", {"test-sender": str(sandbox_sender.id), "test-to": TO,
                                                        "var-1": "Анна", "var-2": "Friday"}, page=page)
    assert response.status_code == 302
    [said] = flashes(browser.get(page))
    assert said.startswith("The provider accepted the test message (id wamid.")
    response = post_form(browser, f"{page}/test-send", {"test-sender": str(sandbox_sender.id), "test-to": "12"},
                         page=page)
    assert flashes(browser.get(page)) == ["“12” is not a phone number; write it with the country code, such as "
                                          "+7 903 123-45-67."]
    reviewer = signed_in_client(app, make_user("reviewer").email)
    assert 'name="test-to"' not in reviewer.get(page).get_data(as_text=True)
    assert post_form(reviewer, f"{page}/test-send", {"test-to": TO}, page=page).status_code == 403


def test_a_form_the_page_cannot_read_is_a_sentence_not_a_bare_400(app, approved, sandbox_sender, make_user):
    browser = signed_in_client(app, make_user("marketer").email)
    page = f"/templates/{approved.id}"
    too_long = "+7" + "9" * 45
    response = post_form(browser, f"{page}/test-send", {"test-sender": str(sandbox_sender.id), "test-to": too_long},
                         page=page)
    assert response.status_code == 302
    assert flashes(browser.get(page)) == ["Send to: Field cannot be longer than 40 characters."]
    # A post without a readable sender is not sent from the first sender instead.
    for posted in ({"test-sender": "first", "test-to": TO}, {"test-to": TO}):
        response = post_form(browser, f"{page}/test-send", posted, page=page)
        assert response.status_code == 302
        assert flashes(browser.get(page)) == ["Choose a sender for the test message."]
    assert audit_events("template.test_sent") == []


def test_the_campaign_page_sends_its_template_from_its_sender(app, sandbox, make_user):
    world = make_world(make_user)
    senders.update_sender(world.sender, {"base_url": sandbox.url})  # another account: approved there too
    provider_status_everywhere(world.template)
    db.session.commit()
    campaign = world.campaign()
    browser = signed_in_client(app, world.marketer.email)
    page = f"/campaigns/{campaign.id}"
    shown = browser.get(page).get_data(as_text=True)
    assert f'<option selected value="{world.sender.id}">' in shown or f'value="{world.sender.id}" selected' in shown
    response = post_form(browser, f"{page}/test-send", {"test-sender": str(world.sender.id), "test-to": TO},
                         page=page)
    assert response.status_code == 302
    # The world's template was approved in its database only, never submitted to this sandbox: the provider
    # refuses it, and the page says so in a sentence rather than failing.
    [said] = flashes(browser.get(page))
    assert said.startswith("The provider refused the test message: ")
    [sent] = audit_events("template.test_sent")
    assert (sent.details["sender"], sent.details["outcome"]) == ("Main", "failed")


def test_the_api_sends_a_test_and_answers_with_the_result(call_as, sandbox, approved, sandbox_sender):
    response = call_as("POST", f"/templates/{approved.id}/test-send", json={"sender": "Sandbox", "to": TO,
                                                                            "values": {"1": "Анна"}})
    assert response.status_code == 200 and response.json["status"] == ResultKind.ACCEPTED.value
    assert response.json["provider_id"].startswith("wamid.")
    refused = call_as("POST", f"/templates/{approved.id}/test-send", json={"sender": sandbox_sender.id, "to": "x"})
    assert_problem(refused, 400, field="to")
    assert_problem(call_as("POST", f"/templates/{approved.id}/test-send", json={"to": TO}), 400, field="sender")
    assert_problem(call_as("POST", "/templates/999/test-send", json={}), 404)
    assert_problem(call_as("POST", f"/templates/{approved.id}/test-send", "reviewer", json={}), 403)
