"""The adapter's template edit (``POST /{template_id}``) over real HTTP: the request it makes against a local
server standing in for Meta, how it reads the answers, and the same against the real sandbox process."""

from __future__ import annotations

import pytest

from channels.base import ChannelError, TemplateState, TemplateSubmission
from channels.whatsapp_cloud import WhatsAppCloud
from tests.channels.meta_server import TOKEN, VERSION, WABA_ID, Reply, against_server, fixture
from tests.channels.test_whatsapp_sandbox import with_channel

PROVIDER_ID = "594425479261596"
NAMED = TemplateSubmission("spring_sale", "ru", "marketing", body="{{first_name}}, весной скидка {{discount}}!",
                           examples={"first_name": "Анна", "discount": "20%"},
                           buttons=({"type": "quick_reply", "text": "Отписаться"},))


class Provider:
    """Meta's side of an edit: the template's record (before and after) and the answer to the POST."""

    def __init__(self, status: str = "REJECTED", category: str = "MARKETING", after: str | None = "APPROVED",
                 answer: Reply | None = None) -> None:
        self.record = {"id": PROVIDER_ID, "name": "spring_sale", "language": "ru", "status": status,
                       "category": category, "rejected_reason": "ABUSIVE_CONTENT" if status == "REJECTED" else "NONE"}
        self.after, self.answer = after, answer or Reply(200, fixture("template_edited.json"))

    def __call__(self, received) -> Reply:
        if received.method == "POST":
            if self.answer.status == 200:
                self.record = {**self.record, "status": self.after, "rejected_reason": "NONE"}
            return self.answer
        # after=None: the record cannot be found any more once the edit went through.
        data = [self.record] if self.record["status"] is not None else []
        return Reply(200, {"data": data, "paging": {"cursors": {"before": "b", "after": "a"}}})


def edit(provider: Provider, template: TemplateSubmission = NAMED):
    """Edit ``template`` through the adapter against a fresh local server; returns (state, requests)."""

    async def scenario(server, session):
        server.respond = provider
        try:
            return await WhatsAppCloud(server.settings(), session).edit_template(PROVIDER_ID, template), server.received
        finally:
            provider.requests = list(server.received)

    return against_server(scenario)


def test_an_edit_posts_every_component_to_the_templates_node_and_reads_the_verdict_back():
    state, requests = edit(Provider())
    assert [(r.method, r.path) for r in requests] == [
        ("GET", f"/{VERSION}/{WABA_ID}/message_templates"), ("POST", f"/{VERSION}/{PROVIDER_ID}"),
        ("GET", f"/{VERSION}/{WABA_ID}/message_templates")]
    post = requests[1]
    assert post.headers["Authorization"] == f"Bearer {TOKEN}"
    # The components exactly as a submission builds them; no name or language (they cannot change), and no
    # category while it stays the same.
    assert post.body == {
        "parameter_format": "NAMED",
        "components": [
            {"type": "BODY", "text": "{{first_name}}, весной скидка {{discount}}!", "example": {
                "body_text_named_params": [{"param_name": "first_name", "example": "Анна"},
                                           {"param_name": "discount", "example": "20%"}]}},
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Отписаться"}]},
        ],
    }
    assert requests[0].query["name"] == "spring_sale"
    assert state == TemplateState(PROVIDER_ID, "spring_sale", "ru", "approved", "marketing", "")


def test_a_rejected_templates_category_changes_with_the_edit():
    _state, requests = edit(Provider(category="UTILITY"))
    assert requests[1].body["category"] == "MARKETING" and requests[1].body["parameter_format"] == "NAMED"


def test_an_approved_templates_category_cannot_change_and_no_edit_is_spent():
    with pytest.raises(ChannelError) as refused:
        edit(Provider(status="APPROVED", category="UTILITY"))
    assert refused.value.code == "category_locked" and not refused.value.retryable
    assert "approved template change its category" in str(refused.value.sentence)


def test_a_pending_verdict_is_returned_as_pending():
    state, _requests = edit(Provider(after="PENDING"))
    assert state.status == "pending" and state.provider_id == PROVIDER_ID


def test_a_record_gone_after_the_edit_reads_as_pending():
    state, _requests = edit(Provider(after=None))
    assert state == TemplateState(PROVIDER_ID, "spring_sale", "ru", "pending", "marketing")


def test_a_refused_edit_says_what_the_provider_allows():
    with pytest.raises(ChannelError) as refused:
        edit(Provider(status="APPROVED", answer=Reply(400, fixture("error_100.json"))))
    assert (refused.value.code, refused.value.retryable) == ("100", False)
    assert str(refused.value.sentence).startswith("The provider refused to edit the template. It edits only an "
                                                  "approved, rejected or paused template")


def test_a_bad_token_keeps_the_tokens_sentence_and_a_server_error_is_retryable():
    with pytest.raises(ChannelError) as token:
        edit(Provider(answer=Reply(401, fixture("error_190.json"))))
    assert str(token.value.sentence).startswith("The provider refused the sender's access token")
    with pytest.raises(ChannelError) as busy:
        edit(Provider(answer=Reply(500, fixture("error_131000.json"))))
    assert busy.value.retryable


@pytest.mark.parametrize("body", [{}, {"success": False}, {"id": PROVIDER_ID}])
def test_an_answer_without_success_is_a_malformed_response(body):
    with pytest.raises(ChannelError) as refused:
        edit(Provider(answer=Reply(200, body)))
    assert (refused.value.code, refused.value.retryable) == ("malformed_response", True)


def test_an_edit_missing_an_example_is_refused_before_any_request():
    provider = Provider()
    with pytest.raises(ChannelError) as refused:
        edit(provider, TemplateSubmission("spring_sale", "ru", "marketing", body="Hi {{1}}"))
    assert refused.value.code == "payload" and provider.requests == []


# --- against the real sandbox ---------------------------------------------------------------------------

FIXED = TemplateSubmission("order_ready", "ru", "utility", body="Здравствуйте, {{1}}! Заказ {{2}} готов.",
                           examples={"1": "Анна", "2": "1042"})
RESTRICTED = TemplateSubmission("order_ready", "ru", "utility", body="Заказ {{1}} ждёт вас: instagram.com/shop",
                                examples={"1": "1042"})


def test_the_sandbox_re_reviews_an_edited_rejected_template_and_limits_edits_of_an_approved_one(sandbox):
    async def work(channel):
        first = await channel.submit_template(RESTRICTED)
        fixed = await channel.edit_template(first.provider_id, FIXED)
        with pytest.raises(ChannelError) as category:
            await channel.edit_template(first.provider_id, TemplateSubmission(**{**FIXED.__dict__,
                                                                                  "category": "marketing"}))
        again = await channel.edit_template(first.provider_id, RESTRICTED)  # approved: its one edit of the day
        second = await channel.edit_template(first.provider_id, FIXED)  # rejected: edits without limit
        with pytest.raises(ChannelError) as limit:
            await channel.edit_template(first.provider_id, RESTRICTED)  # approved, and edited once while approved
        return first, fixed, category.value, again, second, limit.value, await channel.template_states()

    first, fixed, category, again, second, limit, states = with_channel(sandbox, work)
    assert first.status == "rejected"
    assert fixed == TemplateState(first.provider_id, "order_ready", "ru", "approved", "utility", "")
    assert category.code == "category_locked"
    assert (again.status, again.reason) == ("rejected", "ABUSIVE_CONTENT")
    assert second.status == "approved"
    assert limit.code == "100" and "at most once in 24 hours" in str(limit.sentence)
    assert [(s.provider_id, s.status) for s in states] == [(first.provider_id, "approved")]  # still one template


def test_the_sandbox_refuses_an_unknown_template_id(sandbox):
    async def work(channel):
        with pytest.raises(ChannelError) as refused:
            await channel.edit_template("399999999999999", FIXED)
        return refused.value

    refused = with_channel(sandbox, work)
    assert refused.code == "100" and "refused to edit" in str(refused.sentence)
