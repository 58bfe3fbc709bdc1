"""The JSON bodies the Cloud API wants: an outbound message, and a template submitted or edited for approval.

Pure functions over ``channels.base`` values; the client posts what they return.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from channels.base import ButtonParameter, Outbound, Parameter, TemplateContent, TemplateSubmission

TEXT_LIMIT = 4096  # characters of free text (a template's body: Capabilities.max_text_length, checked at approval)

_NOT_DIGIT = re.compile(r"\D")
_VARIABLE = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


class PayloadError(ValueError):
    """What we were asked to build cannot be expressed in the wire format (the message says what)."""


def recipient(address: str) -> str:
    """The Cloud API's ``to``: the number's digits only (E.164 without the ``+``, spaces or dashes)."""
    return _NOT_DIGIT.sub("", address)


def _text_parameter(parameter: Parameter) -> dict[str, str]:
    value = {"type": "text", "text": parameter.value}
    if parameter.name is not None:
        value["parameter_name"] = parameter.name
    return value


def _button(button: ButtonParameter) -> dict[str, Any]:
    if button.sub_type == "quick_reply":
        parameter = {"type": "payload", "payload": button.value}
    elif button.sub_type == "url":
        parameter = {"type": "text", "text": button.value}
    else:
        raise PayloadError(f"a template button cannot be of sub_type {button.sub_type!r} (quick_reply or url)")
    return {"type": "button", "sub_type": button.sub_type, "index": str(button.index), "parameters": [parameter]}


def template_object(template: TemplateContent) -> dict[str, Any]:
    """The ``template`` object of a message: name, language and the components that carry values.

    A component without values is left out: the Cloud API fills in the approved template's fixed text.
    """
    components: list[dict[str, Any]] = []
    for kind, parameters in (("header", template.header), ("body", template.body)):
        if parameters:
            components.append({"type": kind, "parameters": [_text_parameter(parameter) for parameter in parameters]})
    components.extend(_button(button) for button in template.buttons)
    value: dict[str, Any] = {"name": template.name, "language": {"code": template.language}}
    if components:
        value["components"] = components
    return value


def message(outbound: Outbound) -> dict[str, Any]:
    """The body of ``POST /{phone_number_id}/messages`` for one outbound message; our key travels in
    ``biz_opaque_callback_data`` and comes back in every status webhook of the message."""
    body: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual",
                            "to": recipient(outbound.to)}
    if outbound.template is not None:
        body["type"] = "template"
        body["template"] = template_object(outbound.template)
    elif outbound.text is not None:
        if len(outbound.text) > TEXT_LIMIT:
            raise PayloadError(f"the text of {outbound.key} has {len(outbound.text)} characters, over {TEXT_LIMIT}")
        body["type"] = "text"
        body["text"] = {"body": outbound.text, "preview_url": False}
    else:
        raise PayloadError(f"message {outbound.key} has neither a template nor text")
    body["biz_opaque_callback_data"] = outbound.key
    return body


# --- template submission ----------------------------------------------------------------------------

def variables(text: str) -> list[str]:
    """The variables of a template text, in order of first appearance, each once: ``["1", "2"]`` or names."""
    seen: dict[str, None] = {}
    for match in _VARIABLE.finditer(text):
        seen.setdefault(match.group(1), None)
    return list(seen)


def parameter_format(template: TemplateSubmission) -> str:
    """``NAMED`` when a variable of the header or body is a name ({{first_name}}), else ``POSITIONAL``."""
    names = variables(template.header) + variables(template.body)
    return "NAMED" if any(not name.isdigit() for name in names) else "POSITIONAL"


def _example(template: TemplateSubmission, variable: str) -> str:
    try:
        return template.examples[variable]
    except KeyError:
        raise PayloadError(f"the variable {{{{{variable}}}}} of template {template.name!r} has no example") from None


def _examples(template: TemplateSubmission, text: str, named: bool, key: str) -> dict[str, Any] | None:
    found = variables(text)
    if not found:
        return None
    if named:
        return {f"{key}_named_params": [{"param_name": name, "example": _example(template, name)} for name in found]}
    ordered = sorted(found, key=int)  # {{1}}, {{2}}, … wherever they stand in the text
    values = [_example(template, number) for number in ordered]
    # Meta nests the body's examples one level deeper than the header's (one list per example set).
    return {key: [values] if key == "body_text" else values}


_BUTTON_TYPES = {"quick_reply": "QUICK_REPLY", "url": "URL", "phone": "PHONE_NUMBER", "phone_number": "PHONE_NUMBER"}


def _submitted_button(button: Mapping[str, str]) -> dict[str, Any]:
    kind = _BUTTON_TYPES.get(str(button.get("type", "")).lower())
    if kind is None:
        raise PayloadError(f"a template button cannot be of type {button.get('type')!r}")
    if not button.get("text") or (kind == "URL" and not button.get("url")):
        raise PayloadError(f"a {kind} button needs a text{' and a url' if kind == 'URL' else ''}")
    value: dict[str, Any] = {"type": kind, "text": button["text"]}
    if kind == "URL":
        value["url"] = button["url"]
        if variables(button["url"]):
            # A dynamic URL needs a full example URL; without one, the variable is filled with a sample suffix.
            value["example"] = [button.get("example") or _VARIABLE.sub("example", button["url"])]
    elif kind == "PHONE_NUMBER":
        value["phone_number"] = button.get("phone") or button.get("phone_number", "")
    return value


def components(template: TemplateSubmission) -> list[dict[str, Any]]:
    """The ``components`` of a template for review (header, body, footer, buttons), with an example for every
    variable: the same for a submission and an edit."""
    named = parameter_format(template) == "NAMED"
    found: list[dict[str, Any]] = []
    if template.header:
        header: dict[str, Any] = {"type": "HEADER", "format": "TEXT", "text": template.header}
        example = _examples(template, template.header, named, "header_text")
        if example:
            header["example"] = example
        found.append(header)
    body: dict[str, Any] = {"type": "BODY", "text": template.body}
    example = _examples(template, template.body, named, "body_text")
    if example:
        body["example"] = example
    found.append(body)
    if template.footer:
        found.append({"type": "FOOTER", "text": template.footer})
    if template.buttons:
        found.append({"type": "BUTTONS", "buttons": [_submitted_button(button) for button in template.buttons]})
    return found


def submission(template: TemplateSubmission) -> dict[str, Any]:
    """The body of ``POST /{waba_id}/message_templates``, with an example for every variable."""
    return {"name": template.name, "language": template.language, "category": template.category.upper(),
            "parameter_format": parameter_format(template), "components": components(template)}


def edit(template: TemplateSubmission, with_category: bool) -> dict[str, Any]:
    """The body of ``POST /{template_id}``: every component (Meta replaces them all) and the parameter format;
    the category only when it is to change (``with_category``). Name and language cannot be edited, so they
    are not sent."""
    body: dict[str, Any] = {"parameter_format": parameter_format(template), "components": components(template)}
    if with_category:
        body["category"] = template.category.upper()
    return body
