"""The template editor's forms, and their mapping to and from the service's data. Forms validate, never write.

The WhatsApp rules themselves are checked by the service (``template_rules``), which reports
every violation as a sentence; the form only bounds the input and carries it.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import FieldList, Form, FormField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional

from campaigns import message_templates as templates
from campaigns import senders
from campaigns.template_rules import LANGUAGES, MAX_BUTTONS, suggested_opt_out

# The languages most templates are written in come first in the list.
COMMON_LANGUAGES = ("ru", "en", "en_US", "kk", "uk", "uz", "de", "tr")
BUTTON_TYPE_LABELS = {
    "": _l("No button"),
    "quick_reply": _l("Quick reply"),
    "url": _l("Link"),
    "phone": _l("Phone number"),
}
SORT_LABELS = {"updated": _l("Last changed"), "name": _l("Name"), "last_used": _l("Last used")}
EXAMPLE_PREFIX = "example-"


def language_choices() -> list[SelectChoice]:
    others = sorted(LANGUAGES - set(COMMON_LANGUAGES))
    return [SelectChoice(code, code) for code in (*COMMON_LANGUAGES, *others)]


class ButtonRowForm(Form):
    """One button: its kind, its label, and the link or phone number it opens. The editor carries the CSRF token."""

    type = SelectField(
        _l("Button"), choices=[SelectChoice(value, label) for value, label in BUTTON_TYPE_LABELS.items()], default=""
    )
    text = StringField(_l("Label"), validators=[Optional(), Length(max=100)])
    value = StringField(_l("Link or phone number"), validators=[Optional(), Length(max=2100)])


class TemplateForm(FlaskForm):
    name = StringField(_l("Name"), validators=[Length(max=600)],
                       description=_l("Lowercase Latin letters, digits and underscores, such as autumn_sale_2025."))
    language = SelectField(_l("Language"), choices=language_choices(), default="ru")
    category = SelectField(_l("Category"), default="marketing",
                           choices=[SelectChoice(c.value, label) for c, label in templates.CATEGORY_LABELS.items()])
    header = StringField(
        _l("Header"), validators=[Length(max=200)], description=_l("Optional; up to 60 characters and one variable.")
    )
    body = TextAreaField(
        _l("Body"),
        validators=[Length(max=4096)],
        description=_l(
            "Up to 1,024 characters. Variables: {{1}}, {{2}}… or {{first_name}}; not at the very start or end."
        ),
    )
    footer = StringField(
        _l("Footer"), validators=[Length(max=200)], description=_l("Optional; up to 60 characters, no variables.")
    )
    buttons = FieldList(FormField(ButtonRowForm), min_entries=4, max_entries=MAX_BUTTONS)
    tags = StringField(_l("Tags"), validators=[Length(max=600)], description=_l("Separated by commas."))


class StatusForm(FlaskForm):
    sender = SelectField(_l("For the business account of"), default="", validate_choice=False)
    status = SelectField(_l("Provider status"),
                         choices=[SelectChoice(s.value, templates.STATUS_LABELS[s]) for s in templates.ADMIN_STATUSES])
    reason = TextAreaField(_l("Reason"), validators=[Length(max=2000)],
                           description=_l("Required to reject, pause or disable; the author sees it."))

    def fill(self) -> None:
        """Every sender to choose from, or every sender's account at once."""
        self.sender.choices = [SelectChoice("", _l("every sender")),
                               *(SelectChoice(str(s.id), f"{s.name} ({s.phone})") for s in senders.list_senders())]


class ActionForm(FlaskForm):
    """A button that only posts (submit, archive): the CSRF token is all it carries."""


def form_data(form: TemplateForm, examples: dict[str, str]) -> dict[str, Any]:
    """The template the editor describes, as the service takes it."""
    buttons = []
    for row in form.buttons:
        kind, text, value = (
            row.form.type.data or "",
            (row.form.text.data or "").strip(),
            (row.form.value.data or "").strip(),
        )
        if not kind and not text and not value:
            continue
        button = {"type": kind, "text": text}
        if kind == "url":
            button["url"] = value
        elif kind == "phone":
            button["phone"] = value
        buttons.append(button)
    return {"name": (form.name.data or "").strip(), "language": form.language.data, "category": form.category.data,
            "header": form.header.data or "", "body": form.body.data or "", "footer": form.footer.data or "",
            "buttons": buttons, "examples": examples, "tags": form.tags.data or ""}


def posted_examples(formdata) -> dict[str, str]:
    """The example values posted as ``example-<variable>`` fields."""
    return {key[len(EXAMPLE_PREFIX):]: value for key, value in formdata.items()
            if key.startswith(EXAMPLE_PREFIX) and len(key) <= 80 and isinstance(value, str)}


def template_form_data(template) -> dict[str, Any]:
    """What the editor shows for a saved template."""
    rows = [{"type": b.get("type", ""), "text": b.get("text", ""), "value": b.get("url") or b.get("phone") or ""}
            for b in template.buttons or []]
    return {
        "name": template.name,
        "language": template.language,
        "category": template.category.value,
        "header": template.header,
        "body": template.body,
        "footer": template.footer,
        "tags": ", ".join(templates.tags_of(template)),
        "buttons": rows + [{}] * max(1, 4 - len(rows)) if len(rows) < MAX_BUTTONS else rows,
    }


def new_form_data(language: str) -> dict[str, Any]:
    """A new template: marketing, in ``language``, with the opt-out quick reply already offered."""
    language = language if language in LANGUAGES else "ru"
    return {"language": language, "category": "marketing",
            "buttons": [{"type": "quick_reply", "text": suggested_opt_out(language), "value": ""}, {}, {}, {}]}
