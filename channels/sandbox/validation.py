"""The checks of a send request, as the Cloud API makes them, in the order it makes them.

Synchronous refusals only: what Meta reports later, in a failed status (the recipient is no
WhatsApp user, stopped marketing, the 24-hour window is closed), is the recipients' business
(``recipients.py``). A recipient address is plausible when it has 8 to 15 digits (a leading ``+``,
spaces and dashes are tolerated, as Meta tolerates them); anything else is refused with code 100 —
Meta refuses a malformed number at once and reports a well-formed number that is not on WhatsApp
asynchronously (131026).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from channels.sandbox import errors
from channels.sandbox.templates import Template, TemplateBook

TEXT_LIMIT = 4096
_SEPARATORS = re.compile(r"[\s\-().]")


@dataclass
class Send:
    """A valid send request."""

    to: str  # as given
    wa_id: str  # digits only
    type: str  # template | text
    key: str | None
    template: Template | None = None
    components: list[dict[str, Any]] = field(default_factory=list)
    text: str | None = None
    quick_replies: list[tuple[str, str]] = field(default_factory=list)  # (payload, label) of the template's buttons

    @property
    def category(self) -> str:
        return self.template.category.lower() if self.template is not None else "service"


def wa_id_of(to: Any) -> str:
    """The digits of a plausible number, or a :class:`GraphError`."""
    digits = _SEPARATORS.sub("", to.removeprefix("+")) if isinstance(to, str) else ""
    if not (digits.isdigit() and digits.isascii() and 8 <= len(digits) <= 15):
        raise errors.invalid_parameter(f"to: {to!r} is not a valid WhatsApp phone number.")
    return digits


def parse_send(body: Any, waba_id: str, book: TemplateBook) -> Send:
    """Check one send body against the account's templates."""
    if not isinstance(body, dict):
        raise errors.invalid_parameter("The request body must be a JSON object.")
    if body.get("messaging_product") != "whatsapp":
        raise errors.invalid_parameter("The parameter messaging_product is required and must be 'whatsapp'.")
    if body.get("recipient_type", "individual") != "individual":
        raise errors.invalid_parameter("recipient_type: only 'individual' is supported.")
    if "to" not in body:
        raise errors.invalid_parameter("The parameter to is required.")
    wa_id = wa_id_of(body["to"])
    key = body.get("biz_opaque_callback_data")
    if key is not None and (not isinstance(key, str) or len(key) > 512):
        raise errors.invalid_parameter("biz_opaque_callback_data: a string of at most 512 characters.")
    kind = body.get("type", "text")
    if kind == "text":
        text = body.get("text")
        if not isinstance(text, dict) or not isinstance(text.get("body"), str) or not text["body"].strip():
            raise errors.invalid_parameter("text.body: the parameter is required.")
        if len(text["body"]) > TEXT_LIMIT:
            raise errors.invalid_parameter(f"text.body: at most {TEXT_LIMIT} characters.")
        return Send(body["to"], wa_id, "text", key, text=text["body"])
    if kind != "template":
        raise errors.invalid_parameter(f"type: the sandbox sends template and text messages, not {kind!r}.")
    return _template_send(body, wa_id, key, waba_id, book)


def _template_send(body: dict, wa_id: str, key: str | None, waba_id: str, book: TemplateBook) -> Send:
    given = body.get("template")
    if not isinstance(given, dict) or not isinstance(given.get("name"), str):
        raise errors.invalid_parameter("template.name: the parameter is required.")
    language = given.get("language")
    code = language.get("code") if isinstance(language, dict) else None
    if not isinstance(code, str):
        raise errors.invalid_parameter("template.language.code: the parameter is required.")
    name = given["name"]
    template = book.find(waba_id, name, code)
    where = f"template name ({name}) does not exist in {code}"
    if template is None:
        raise errors.template_missing(where)
    if template.status == "PAUSED":
        raise errors.template_paused(f"Template {name} ({code}) is paused because of low quality.")
    if template.status == "DISABLED":
        raise errors.template_disabled(f"Template {name} ({code}) has been disabled.")
    if template.status != "APPROVED":
        raise errors.template_missing(f"{where} (its status is {template.status})")
    components = given.get("components") or []
    if not isinstance(components, list) or not all(isinstance(c, dict) for c in components):
        raise errors.invalid_parameter("template.components: a list of components.")
    quick_replies = _check_components(template, components)
    return Send(body["to"], wa_id, "template", key, template=template, components=components,
                quick_replies=quick_replies)


def _check_components(template: Template, components: list[dict]) -> list[tuple[str, str]]:
    """Check each component's parameters against the template; returns the quick replies' (payload, label)."""
    header = body = None
    by_index: dict[int, dict] = {}
    for component in components:
        kind = str(component.get("type", "")).lower()
        if kind == "header":
            header = component
        elif kind == "body":
            body = component
        elif kind == "button":
            try:
                by_index[int(component.get("index"))] = component
            except (TypeError, ValueError):
                raise errors.invalid_parameter("button.index: a number.") from None
        else:
            raise errors.invalid_parameter(f"template.components: unknown component type {kind!r}.")
    _check_parameters("header", template, template.header_variables, header)
    _check_parameters("body", template, template.body_variables, body)
    replies = []
    for index, button in enumerate(template.buttons):
        given = by_index.pop(index, None)
        kind = str(button.get("type", "")).upper()
        parameters = (given or {}).get("parameters") or []
        if given is not None and str(given.get("sub_type", "")).upper() != kind:
            raise errors.parameter_count(f"button {index}: the template's button is {kind}, "
                                         f"not {given.get('sub_type')!r}.")
        if kind == "URL" and "{{" in str(button.get("url", "")) and len(parameters) != 1:
            raise errors.parameter_count(f"button {index}: number of localizable_params ({len(parameters)}) does "
                                         "not match the expected number of params (1)")
        if kind == "QUICK_REPLY":
            payload = next((p.get("payload") for p in parameters if isinstance(p, dict) and p.get("payload")), None)
            label = str(button.get("text", ""))
            replies.append((str(payload) if payload is not None else label, label))
    if by_index:
        raise errors.parameter_count(f"button {min(by_index)}: the template has no such button.")
    return replies


def _check_parameters(where: str, template: Template, expected: list[str], component: dict | None) -> None:
    parameters = (component or {}).get("parameters") or []
    if not isinstance(parameters, list) or not all(isinstance(p, dict) for p in parameters):
        raise errors.invalid_parameter(f"{where}.parameters: a list of parameters.")
    if len(parameters) != len(expected):
        raise errors.parameter_count(f"{where}: number of localizable_params ({len(parameters)}) does not match "
                                     f"the expected number of params ({len(expected)})")
    for parameter in parameters:
        if parameter.get("type", "text") == "text" and not isinstance(parameter.get("text"), str):
            raise errors.invalid_parameter(f"{where}.parameters: a text parameter needs its text.")
    if template.parameter_format == "NAMED":
        names = [p.get("parameter_name") for p in parameters]
        if sorted(map(str, names)) != sorted(expected) or None in names:
            raise errors.parameter_format(f"{where}: the parameter names {names} are not the template's "
                                          f"{expected}")
