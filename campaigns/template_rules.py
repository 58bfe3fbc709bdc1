"""WhatsApp's rules for a message template, as pure checks: plain values in, every violation out.

``check`` returns a list of sentences, each naming the field it is about, and never stops at the
first one: a marketer fixes a template in one pass. Nothing here reads the database; the opt-out
keywords come from the caller (the compliance policy in force), so the rules are cheap to run on
every keystroke of the editor's preview.

Variables are the placeholders of the header and the body, one namespace for the whole template:
``{{1}}``, ``{{2}}``… (positional) or ``{{first_name}}`` (named), never both kinds in one template.
The same placeholder means the same value wherever it appears; the channel turns them into the
provider's per-component parameters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _

from campaigns.models import TemplateCategory
from compliance.keywords import DEFAULT_KEYWORDS, KeywordSets, is_opt_out_label
from compliance.numbers import is_e164

MAX_NAME = 512
MAX_HEADER = 60
MAX_BODY = 1024
MAX_FOOTER = 60
MAX_BUTTON_TEXT = 25
MAX_BUTTONS = 10  # WhatsApp's limit for all buttons of a template together
MAX_URL_BUTTONS = 2
MAX_PHONE_BUTTONS = 1
MAX_URL = 2000
MAX_EXAMPLE = 200
MAX_TAGS = 15
MAX_TAG = 30  # 15 tags of 30 characters fit the 500 characters of the tags column

NAME = re.compile(r"^[a-z0-9_]+$")
# Anything between double braces is meant as a variable; what it may contain is checked separately,
# so "{{First Name}}" is reported rather than sent as text.
PLACEHOLDER = re.compile(r"\{\{([^{}]*)\}\}")
POSITIONAL = re.compile(r"^[1-9][0-9]{0,2}$")
NAMED = re.compile(r"^[a-z][a-z0-9_]{0,59}$")
URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)

BUTTON_TYPES = ("quick_reply", "url", "phone")

# The language codes WhatsApp accepts for templates.
LANGUAGES = frozenset({
    "af", "sq", "ar", "ar_EG", "ar_AE", "ar_LB", "ar_MA", "ar_QA", "az", "be_BY", "bn", "bn_IN", "bg", "ca", "zh_CN",
    "zh_HK", "zh_TW", "hr", "cs", "da", "prs_AF", "nl", "nl_BE", "en", "en_GB", "en_US", "en_AE", "en_AU", "en_CA",
    "en_GH", "en_IE", "en_IN", "en_JM", "en_MY", "en_NZ", "en_QA", "en_SG", "en_UG", "en_ZA", "et", "fil", "fi", "fr",
    "fr_BE", "fr_CA", "fr_CH", "fr_CI", "fr_MA", "ka", "de", "de_AT", "de_CH", "el", "gu", "ha", "he", "hi", "hu",
    "id", "ga", "it", "ja", "kn", "kk", "rw_RW", "ko", "ky_KG", "lo", "lv", "lt", "mk", "ms", "ml", "mr", "nb",
    "ps_AF", "fa", "pl", "pt_BR", "pt_PT", "pa", "ro", "ru", "sr", "si_LK", "sk", "sl", "es", "es_AR", "es_CL",
    "es_CO", "es_CR", "es_DO", "es_EC", "es_HN", "es_MX", "es_PA", "es_PE", "es_ES", "es_UY", "sw", "sv", "ta",
    "te", "th", "tr", "uk", "ur", "uz", "vi", "zu",
})

# The opt-out quick reply the editor offers for a marketing template, by language. Russian and
# English have a phrase of their own; the other languages written in Cyrillic get «СТОП», every other
# language "STOP": the two keywords every policy must keep (``compliance.keywords.REQUIRED_OPT_OUT``),
# understood by the reply handler whatever else an admin changes, and by people in most languages.
OPT_OUT_SUGGESTIONS = {"ru": "Отписаться", "en": "Stop promotions"}
CYRILLIC_LANGUAGES = frozenset({"ru", "uk", "be_BY", "bg", "kk", "ky_KG", "mk", "sr"})
CYRILLIC = re.compile(r"[\u0400-\u04ff]")
LATIN = re.compile(r"[A-Za-z]")


def suggested_opt_out(language: str) -> str:
    """The label of the opt-out quick reply suggested for a marketing template in ``language``."""
    base = (language or "").split("_")[0]
    found = OPT_OUT_SUGGESTIONS.get(language) or OPT_OUT_SUGGESTIONS.get(base)
    return found or ("СТОП" if language in CYRILLIC_LANGUAGES else "STOP")


def opt_out_suggestions() -> dict[str, str]:
    """The suggested opt-out label of every language WhatsApp accepts (for the editor's script)."""
    return {language: suggested_opt_out(language) for language in sorted(LANGUAGES)}


@dataclass(frozen=True)
class TemplateSpec:
    """What a template says, as plain values: what the editor, the API and the CLI hand in."""

    name: str
    language: str
    category: str
    body: str
    header: str = ""
    footer: str = ""
    buttons: list[dict[str, Any]] = field(default_factory=list)
    examples: dict[str, str] = field(default_factory=dict)


def placeholders(text: str) -> list[str]:
    """The contents of every ``{{…}}`` in ``text``, in order, repeats included."""
    return [match.group(1) for match in PLACEHOLDER.finditer(text or "")]


def variable_names(header: str, body: str) -> list[str]:
    """The distinct well-formed variables of a header and body: positional ones by number, named
    ones in order of first appearance (header first)."""
    found = [name for name in placeholders(header) + placeholders(body) if POSITIONAL.match(name) or NAMED.match(name)]
    distinct = list(dict.fromkeys(found))
    if distinct and all(POSITIONAL.match(name) for name in distinct):
        return sorted(distinct, key=int)
    return distinct


def warnings(spec: TemplateSpec, keywords: KeywordSets = DEFAULT_KEYWORDS) -> list[str]:
    """What is allowed but probably wrong, as sentences naming the field: an opt-out quick reply
    written in another script than the template's language (a ``ru`` template with "Stop
    promotions", an ``en`` one with «Отписаться»), which its recipients may not recognise.

    Only the script can be told apart without guessing at words: Cyrillic in a template of a
    language not written in it, or Latin only in one that is. "STOP" in a template in Arabic or
    Japanese is the universal keyword, not a mistake.
    """
    language = spec.language if isinstance(spec.language, str) else ""
    if not isinstance(spec.buttons, list) or language not in LANGUAGES:
        return []
    cyrillic_language = language in CYRILLIC_LANGUAGES
    found = []
    for number, button in enumerate(spec.buttons, start=1):
        text = button.get("text") if isinstance(button, dict) else None
        if not isinstance(text, str) or button.get("type") != "quick_reply" or not is_opt_out_label(text, keywords):
            continue
        cyrillic_label = bool(CYRILLIC.search(text))
        if cyrillic_label != cyrillic_language and (cyrillic_label or LATIN.search(text)):
            found.append(_("Button %(number)d: the opt-out reply “%(label)s” is not written in the template's "
                           "language (%(language)s), so its recipients may not recognise it; write it as "
                           "“%(suggestion)s”, for example.", number=number, label=text.strip()[:40],
                           language=language, suggestion=suggested_opt_out(language)))
    return found


def check(spec: TemplateSpec, keywords: KeywordSets = DEFAULT_KEYWORDS) -> list[str]:
    """Every way ``spec`` breaks WhatsApp's template rules, as sentences; an empty list when none."""
    errors: list[str] = []
    errors += _name(spec.name)
    errors += _language(spec.language)
    category = _category(spec.category, errors)
    header, body, footer = (_text(value) for value in (spec.header, spec.body, spec.footer))
    errors += _header(header)
    errors += _body(body)
    errors += _footer(footer)
    errors += _variable_style(header, body)
    errors += _buttons(spec.buttons, category, keywords, spec.language)
    errors += _examples(variable_names(header, body), spec.examples)
    return errors


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _name(name: Any) -> list[str]:
    if not isinstance(name, str) or not name:
        return [_("Name: give the template a name.")]
    if len(name) > MAX_NAME:
        return [_("Name: the name is longer than %(limit)d characters.", limit=MAX_NAME)]
    if not NAME.match(name):
        return [_("Name: use only lowercase Latin letters, digits and underscores, such as autumn_sale_2025.")]
    return []


def _language(language: Any) -> list[str]:
    if not isinstance(language, str) or not language:
        return [_("Language: choose the template's language.")]
    if language not in LANGUAGES:
        return [_("Language: “%(code)s” is not a language code WhatsApp accepts; use one such as ru, en or en_US.",
                  code=language[:20])]
    return []


def _category(category: Any, errors: list[str]) -> TemplateCategory | None:
    try:
        return TemplateCategory(category)
    except ValueError:
        errors.append(_("Category: choose marketing, utility or authentication."))
        return None


def _malformed(field_label: str, text: str) -> list[str]:
    bad = [name for name in placeholders(text) if not (POSITIONAL.match(name) or NAMED.match(name))]
    return [
        _("%(field)s: “{{%(variable)s}}” is not a variable; write {{1}}, {{2}}… or a name in lowercase letters, digits "
          "and underscores such as {{first_name}}.", field=field_label, variable=name[:40])
        for name in dict.fromkeys(bad)
    ]


def _header(header: str) -> list[str]:
    errors = []
    if len(header) > MAX_HEADER:
        errors.append(_("Header: the header is %(length)d characters long; WhatsApp allows %(limit)d.",
                        length=len(header), limit=MAX_HEADER))
    if "\n" in header or "\r" in header:
        errors.append(_("Header: the header must be a single line."))
    errors += _malformed(_("Header"), header)
    if len(placeholders(header)) > 1:
        errors.append(_("Header: the header may contain at most one variable."))
    return errors


def _body(body: str) -> list[str]:
    if not body.strip():
        return [_("Body: write the message text.")]
    errors = []
    if len(body) > MAX_BODY:
        errors.append(_("Body: the text is %(length)d characters long; WhatsApp allows %(limit)d.",
                        length=len(body), limit=MAX_BODY))
    errors += _malformed(_("Body"), body)
    stripped = body.strip()
    if PLACEHOLDER.match(stripped):
        errors.append(_("Body: the text cannot start with a variable; put some words before it."))
    if _ends_with_variable(stripped):
        errors.append(_("Body: the text cannot end with a variable; put some words or a full stop after it."))
    return errors


def _ends_with_variable(text: str) -> bool:
    matches = list(PLACEHOLDER.finditer(text))
    return bool(matches) and matches[-1].end() == len(text)


def _footer(footer: str) -> list[str]:
    errors = []
    if len(footer) > MAX_FOOTER:
        errors.append(_("Footer: the footer is %(length)d characters long; WhatsApp allows %(limit)d.",
                        length=len(footer), limit=MAX_FOOTER))
    if placeholders(footer):
        errors.append(_("Footer: the footer cannot contain variables."))
    return errors


def _variable_style(header: str, body: str) -> list[str]:
    names = [name for name in placeholders(header) + placeholders(body) if POSITIONAL.match(name) or NAMED.match(name)]
    positional = sorted({int(name) for name in names if POSITIONAL.match(name)})
    named = [name for name in names if NAMED.match(name)]
    if positional and named:
        return [_("Body: use either numbered variables ({{1}}, {{2}}…) or named ones ({{first_name}}), not both.")]
    if positional and positional != list(range(1, len(positional) + 1)):
        missing = [str(number) for number in range(1, positional[-1] + 1) if number not in positional]
        return [_("Body: numbered variables must count from {{1}} without gaps; %(missing)s is missing.",
                  missing=", ".join(f"{{{{{number}}}}}" for number in missing))]
    return []


def _buttons(buttons: Any, category: TemplateCategory | None, keywords: KeywordSets, language: Any) -> list[str]:
    if buttons is None:
        buttons = []
    if not isinstance(buttons, list) or not all(isinstance(button, dict) for button in buttons):
        return [_("Buttons: give a list of buttons, each with a type and a label.")]
    errors = []
    if len(buttons) > MAX_BUTTONS:
        errors.append(_("Buttons: a template may have at most %(limit)d buttons.", limit=MAX_BUTTONS))
    counts = {kind: sum(1 for button in buttons if button.get("type") == kind) for kind in BUTTON_TYPES}
    if counts["url"] > MAX_URL_BUTTONS:
        errors.append(_("Buttons: a template may have at most %(limit)d link buttons.", limit=MAX_URL_BUTTONS))
    if counts["phone"] > MAX_PHONE_BUTTONS:
        errors.append(_("Buttons: a template may have at most one phone button."))
    labels: list[str] = []
    for number, button in enumerate(buttons, start=1):
        errors += _button(number, button)
        text = button.get("text")
        if isinstance(text, str) and text.strip():
            if text.strip().casefold() in labels:
                errors.append(_("Button %(number)d: another button already has the label “%(label)s”.",
                                number=number, label=text.strip()[:40]))
            labels.append(text.strip().casefold())
    if category is TemplateCategory.MARKETING and not any(
        button.get("type") == "quick_reply"
        and isinstance(button.get("text"), str)
        and is_opt_out_label(button["text"], keywords)
        for button in buttons
    ):
        errors.append(_("Buttons: a marketing template must offer an opt-out quick reply in its language, such as "
                        "“%(label)s”.", label=suggested_opt_out(language if isinstance(language, str) else "")))
    return errors


def _button(number: int, button: dict[str, Any]) -> list[str]:
    kind, text = button.get("type"), button.get("text")
    if kind not in BUTTON_TYPES:
        return [_("Button %(number)d: the type must be a quick reply, a link or a phone number.", number=number)]
    errors = []
    if not isinstance(text, str) or not text.strip():
        errors.append(_("Button %(number)d: give the button a label.", number=number))
    elif len(text) > MAX_BUTTON_TEXT:
        errors.append(_("Button %(number)d: the label “%(label)s” is longer than %(limit)d characters.",
                        number=number, label=text[:40], limit=MAX_BUTTON_TEXT))
    elif placeholders(text):
        errors.append(_("Button %(number)d: a label cannot contain variables.", number=number))
    if kind == "url":
        url = button.get("url")
        if not isinstance(url, str) or not URL.match(url) or len(url) > MAX_URL:
            errors.append(
                _("Button %(number)d: give the link as a full web address starting with https://.", number=number)
            )
        elif placeholders(url):
            errors.append(_("Button %(number)d: the link cannot contain variables.", number=number))
    if kind == "phone":
        phone = button.get("phone")
        if not is_e164(phone):
            errors.append(_("Button %(number)d: give the phone number in international format, such as +74951234567.",
                            number=number))
    return errors


def _examples(variables: list[str], examples: Any) -> list[str]:
    if not variables:
        return []
    if not isinstance(examples, dict):
        examples = {}
    errors = []
    for name in variables:
        value = examples.get(name)
        if not isinstance(value, str) or not value.strip():
            errors.append(_("Examples: give an example value for {{%(variable)s}}.", variable=name))
        elif len(value) > MAX_EXAMPLE:
            errors.append(_("Examples: the example for {{%(variable)s}} is longer than %(limit)d characters.",
                            variable=name, limit=MAX_EXAMPLE))
        elif "\n" in value or "\r" in value or "\t" in value:
            errors.append(_("Examples: the example for {{%(variable)s}} must be a single line.", variable=name))
    return errors


def parse_tags(value: Any) -> tuple[list[str], list[str]]:
    """Tags from a comma-separated text or a list: trimmed, lowercased, unique; and the errors found."""
    if value is None or value == "":
        return [], []
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        return [], [_("Tags: give the tags as text separated by commas.")]
    tags = list(dict.fromkeys(item.strip().lower() for item in items if item.strip()))
    errors = []
    if any("|" in tag or len(tag) > MAX_TAG for tag in tags):
        errors.append(_("Tags: a tag may have up to %(limit)d characters and no “|”.", limit=MAX_TAG))
    if len(tags) > MAX_TAGS:
        errors.append(_("Tags: a template may have at most %(limit)d tags.", limit=MAX_TAGS))
    return tags, errors
