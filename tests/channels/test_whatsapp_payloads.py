"""The request bodies the WhatsApp Cloud adapter builds: every shape of a message and of a template submission."""

from __future__ import annotations

import pytest

from channels.base import ButtonParameter, Outbound, Parameter, TemplateContent, TemplateSubmission
from channels.whatsapp_cloud import payloads


def envelope(**rest):
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "79161234567",
        **rest,
        "biz_opaque_callback_data": "msg-1",
    }


def test_a_template_without_values_sends_no_components():
    outbound = Outbound("msg-1", "+79161234567", template=TemplateContent("welcome", "ru"))
    assert payloads.message(outbound) == envelope(
        type="template", template={"name": "welcome", "language": {"code": "ru"}}
    )


def test_positional_header_and_body_values_keep_their_order():
    template = TemplateContent(
        "order_ready",
        "ru",
        header=(Parameter("№ 1042"),),
        body=(Parameter("Анна"), Parameter("1042"), Parameter("21:00")),
    )
    assert payloads.message(Outbound("msg-1", "+7 916 123-45-67", template=template)) == envelope(
        type="template",
        template={
            "name": "order_ready",
            "language": {"code": "ru"},
            "components": [
                {"type": "header", "parameters": [{"type": "text", "text": "№ 1042"}]},
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": "Анна"},
                        {"type": "text", "text": "1042"},
                        {"type": "text", "text": "21:00"},
                    ],
                },
            ],
        },
    )


def test_named_values_carry_their_parameter_name():
    template = TemplateContent(
        "promo", "en_US", body=(Parameter("Anna", name="first_name"), Parameter("20%", name="discount"))
    )
    body = payloads.message(Outbound("msg-1", "+79161234567", template=template))
    assert body["template"]["components"] == [
        {
            "type": "body",
            "parameters": [
                {"type": "text", "parameter_name": "first_name", "text": "Anna"},
                {"type": "text", "parameter_name": "discount", "text": "20%"},
            ],
        }
    ]
    assert body["template"]["language"] == {"code": "en_US"}


def test_only_the_body_has_values_so_no_header_component():
    template = TemplateContent("t", "ru", body=(Parameter("x"),))
    components = payloads.message(Outbound("msg-1", "79161234567", template=template))["template"]["components"]
    assert [component["type"] for component in components] == ["body"]


def test_quick_reply_and_url_buttons():
    template = TemplateContent(
        "t",
        "ru",
        body=(Parameter("Анна"),),
        buttons=(ButtonParameter(0, "quick_reply", "unsubscribe"), ButtonParameter(1, "url", "track/1042")),
    )
    components = payloads.message(Outbound("msg-1", "+79161234567", template=template))["template"]["components"]
    assert components[1:] == [
        {
            "type": "button",
            "sub_type": "quick_reply",
            "index": "0",
            "parameters": [{"type": "payload", "payload": "unsubscribe"}],
        },
        {"type": "button", "sub_type": "url", "index": "1", "parameters": [{"type": "text", "text": "track/1042"}]},
    ]


def test_a_button_of_another_kind_is_refused():
    template = TemplateContent("t", "ru", buttons=(ButtonParameter(0, "copy_code", "X"),))
    with pytest.raises(payloads.PayloadError, match="copy_code"):
        payloads.message(Outbound("msg-1", "+79161234567", template=template))


def test_free_text_has_no_link_preview():
    assert payloads.message(Outbound("msg-1", "+79161234567", text="Здравствуйте!")) == envelope(
        type="text", text={"body": "Здравствуйте!", "preview_url": False}
    )


def test_free_text_over_the_limit_and_an_empty_message_are_refused():
    assert payloads.message(Outbound("msg-1", "+79161234567", text="я" * 4096))["text"]["body"] == "я" * 4096
    with pytest.raises(payloads.PayloadError, match="4097 characters"):
        payloads.message(Outbound("msg-1", "+79161234567", text="я" * 4097))
    with pytest.raises(payloads.PayloadError, match="neither"):
        payloads.message(Outbound("msg-1", "+79161234567"))


@pytest.mark.parametrize("address", ["+79161234567", "79161234567", "+7 (916) 123-45-67"])
def test_to_is_digits_only(address):
    assert payloads.message(Outbound("k", address, text="hi"))["to"] == "79161234567"


# --- template submission ------------------------------------------------------------------------------


def test_a_positional_template_with_header_footer_and_every_button_kind():
    template = TemplateSubmission(
        name="order_ready",
        language="ru",
        category="utility",
        header="Заказ {{1}}",
        body="Здравствуйте, {{1}}! Заказ {{2}} готов.",
        footer="Вестник",
        buttons=(
            {"type": "quick_reply", "text": "Отписаться"},
            {
                "type": "url",
                "text": "Отследить",
                "url": "https://shop.example/track/{{1}}",
                "example": "https://shop.example/track/1042",
            },
            {"type": "phone", "text": "Позвонить", "phone": "+74950000001"},
        ),
        examples={"1": "Анна", "2": "1042"},
    )
    assert payloads.submission(template) == {
        "name": "order_ready",
        "language": "ru",
        "category": "UTILITY",
        "parameter_format": "POSITIONAL",
        "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Заказ {{1}}", "example": {"header_text": ["Анна"]}},
            {
                "type": "BODY",
                "text": "Здравствуйте, {{1}}! Заказ {{2}} готов.",
                "example": {"body_text": [["Анна", "1042"]]},
            },
            {"type": "FOOTER", "text": "Вестник"},
            {
                "type": "BUTTONS",
                "buttons": [
                    {"type": "QUICK_REPLY", "text": "Отписаться"},
                    {
                        "type": "URL",
                        "text": "Отследить",
                        "url": "https://shop.example/track/{{1}}",
                        "example": ["https://shop.example/track/1042"],
                    },
                    {"type": "PHONE_NUMBER", "text": "Позвонить", "phone_number": "+74950000001"},
                ],
            },
        ],
    }


def test_positional_examples_follow_the_numbers_not_the_order_in_the_text():
    template = TemplateSubmission(
        "t", "ru", "marketing", body="{{2}} для {{1}}, {{2}}!", examples={"1": "Анны", "2": "Скидка"}
    )
    assert payloads.submission(template)["components"] == [
        {"type": "BODY", "text": "{{2}} для {{1}}, {{2}}!", "example": {"body_text": [["Анны", "Скидка"]]}}
    ]


def test_a_named_template_sends_named_examples():
    template = TemplateSubmission(
        "promo",
        "ru",
        "marketing",
        header="Для {{first_name}}",
        body="{{first_name}}, скидка {{discount}} до конца недели",
        examples={"first_name": "Анна", "discount": "20%"},
    )
    body = payloads.submission(template)
    assert body["parameter_format"] == "NAMED" and body["category"] == "MARKETING"
    assert body["components"] == [
        {
            "type": "HEADER",
            "format": "TEXT",
            "text": "Для {{first_name}}",
            "example": {"header_text_named_params": [{"param_name": "first_name", "example": "Анна"}]},
        },
        {
            "type": "BODY",
            "text": "{{first_name}}, скидка {{discount}} до конца недели",
            "example": {
                "body_text_named_params": [
                    {"param_name": "first_name", "example": "Анна"},
                    {"param_name": "discount", "example": "20%"},
                ]
            },
        },
    ]


def test_a_template_without_variables_has_no_examples_and_a_url_without_variable_none():
    template = TemplateSubmission(
        "hello",
        "ru",
        "utility",
        body="Спасибо за заказ!",
        buttons=({"type": "url", "text": "Сайт", "url": "https://shop.example"},),
    )
    assert payloads.submission(template)["components"] == [
        {"type": "BODY", "text": "Спасибо за заказ!"},
        {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Сайт", "url": "https://shop.example"}]},
    ]


def test_a_dynamic_url_without_an_example_gets_a_sample_one():
    template = TemplateSubmission(
        "t", "ru", "utility", body="Hi", buttons=({"type": "url", "text": "Go", "url": "https://shop.example/{{1}}"},)
    )
    assert payloads.submission(template)["components"][1]["buttons"][0]["example"] == ["https://shop.example/example"]


def test_a_variable_without_an_example_is_refused_before_submission():
    template = TemplateSubmission("t", "ru", "marketing", body="{{1}} и {{2}}", examples={"1": "Анна"})
    with pytest.raises(payloads.PayloadError, match=r"\{\{2\}\}"):
        payloads.submission(template)


def test_a_button_of_unknown_type_is_refused():
    template = TemplateSubmission("t", "ru", "marketing", body="Hi", buttons=({"type": "otp", "text": "Code"},))
    with pytest.raises(payloads.PayloadError, match="otp"):
        payloads.submission(template)


@pytest.mark.parametrize(
    ("button", "says"),
    [({"type": "quick_reply"}, "QUICK_REPLY button needs a text"), ({"type": "url", "text": "Go"}, "and a url")],
)
def test_a_button_without_its_text_or_url_is_refused(button, says):
    with pytest.raises(payloads.PayloadError, match=says):
        payloads.submission(TemplateSubmission("t", "ru", "marketing", body="Hi", buttons=(button,)))
