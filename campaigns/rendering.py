"""A template filled in: its variables, the text with values, and the preview the recipient would see.

The render functions are pure and cheap (one regular-expression pass per text), because a launch
renders every recipient's message with them. ``preview`` adds what the compliance guard says: the
body as it will be sent (restricted mentions marked, the disclaimer appended), the mentions and
blocked links to highlight, and the spam score with its reasons.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l

from campaigns.template_rules import NAMED, PLACEHOLDER, POSITIONAL, variable_names
from compliance.lint import LintReport
from compliance.policy import Policy, current_policy
from compliance.sentences import Sentence
from compliance.verdict import Outcome, Verdict, worst


@dataclass(frozen=True)
class Rendered:
    """The parts of one message with every variable replaced."""

    header: str
    body: str
    footer: str
    buttons: list[dict[str, Any]]


def variables(template: Any) -> list[str]:
    """The template's variables in order: ``["1", "2"]`` or ``["first_name", "city"]``.

    ``template`` is anything with ``header`` and ``body`` (a ``Template`` or a ``TemplateSpec``).
    """
    return variable_names(template.header or "", template.body or "")


def render_text(text: str, values: Mapping[str, str]) -> str:
    """``text`` with each ``{{variable}}`` replaced by its value; a variable without one stays as written."""
    if "{{" not in text:
        return text

    def value(match) -> str:
        name = match.group(1)
        if (POSITIONAL.match(name) or NAMED.match(name)) and values.get(name) is not None:
            return str(values[name])
        return match.group()

    return PLACEHOLDER.sub(value, text)


def render(template: Any, values: Mapping[str, str]) -> Rendered:
    """Header, body, footer and buttons of ``template`` filled in with ``values``."""
    buttons = template.buttons if isinstance(template.buttons, list) else []
    return Rendered(render_text(template.header or "", values), render_text(template.body or "", values),
                    template.footer or "", [dict(button) for button in buttons if isinstance(button, dict)])


def preview_values(template: Any, values: Mapping[str, str] | None = None) -> dict[str, str]:
    """The value each variable gets in a preview: the one given, else the template's example."""
    given = values if isinstance(values, Mapping) else {}
    examples = template.examples if isinstance(template.examples, Mapping) else {}
    chosen = {}
    for name in variables(template):
        value = given.get(name) if isinstance(given.get(name), str) and given.get(name) else examples.get(name)
        if isinstance(value, str) and value:
            chosen[name] = value
    return chosen


def disclaimer_language(language: str) -> str:
    """The language of the disclaimer for a template in ``language``: disclaimers exist per language,
    not per country variant, so en_US gets the English one."""
    return (language or "ru").split("_")[0]


def sent_body(body: str, language: str, policy: Policy) -> str:
    """A rendered body as it goes out: restricted mentions marked and their disclaimer appended."""
    return policy.registry.tag(body, disclaimer_language(language))


def highlighted(text: str, policy: Policy) -> list[dict[str, str | None]]:
    """``text`` in pieces, each marked as a restricted ``mention``, a blocked ``link`` or plain (None).

    Run on the body as sent, so the marks and the disclaimer appear where the recipient sees them.
    """
    links = policy.registry.links(text)
    mentions = policy.registry.mentions(text, links)
    marks = sorted([(m.start, m.end, "mention") for m in mentions] + [(k.start, k.end, "link") for k in links])
    pieces, cursor = [], 0
    for start, end, kind in marks:
        if start < cursor:
            continue
        pieces += [(text[cursor:start], None), (text[start:end], kind)]
        cursor = end
    pieces.append((text[cursor:], None))
    return [{"text": piece, "mark": kind} for piece, kind in pieces if piece]


# Sentences by code (see compliance.sentences), so that a stored preflight words them for its reader.
SENTENCES = {
    "restricted_in_header": _l(
        "The header mentions %(platforms)s; only the body can carry the disclaimer, so move it there."
    ),
    "restricted_in_footer": _l(
        "The footer mentions %(platforms)s; only the body can carry the disclaimer, so move it there."
    ),
}


def _outside_body(policy: Policy, part: str, text: str) -> list[Verdict]:
    """Header and footer cannot carry a disclaimer, so a restricted mention or link there must go."""
    links = policy.registry.links(text)
    mentions = policy.registry.mentions(text, links)
    platforms = list(dict.fromkeys([m.platform for m in mentions] + [k.platform for k in links]))
    if not platforms:
        return []
    names = ", ".join(policy.registry.platforms[platform].name for platform in platforms)
    reason = Sentence(SENTENCES, f"restricted_in_{part}", platforms=names)
    return [Verdict(f"restricted_in_{part}", Outcome.BLOCK, reason, {"platforms": platforms})]


def content_verdicts(rendered: Rendered, language: str, policy: Policy) -> tuple[LintReport, list[Verdict]]:
    """The lint report of the body and every verdict on the message (the body's and the header's and footer's)."""
    report = policy.lint(rendered.body, disclaimer_language(language))
    verdicts = [*report.verdicts, *_outside_body(policy, "header", rendered.header),
                *_outside_body(policy, "footer", rendered.footer)]
    return report, verdicts


def preview(
    template: Any, values: Mapping[str, str] | None, language: str, policy: Policy | None = None
) -> dict[str, Any]:
    """The message as the recipient sees it, with the compliance lint, as JSON-ready data.

    Variables take the given ``values``, else the template's examples; one with neither is shown
    as written. ``language`` is the template's: the disclaimer is added in it. ``policy`` defaults to
    the compliance policy in force.
    """
    policy = current_policy() if policy is None else policy
    filled = preview_values(template, values)
    rendered = render(template, filled)
    report, verdicts = content_verdicts(rendered, language, policy)
    return {
        "header": rendered.header,
        "body": rendered.body,
        "sent_body": report.tagged,
        "footer": rendered.footer,
        "buttons": rendered.buttons,
        "values": filled,
        "variables": variables(template),
        "pieces": highlighted(report.tagged, policy),
        "verdicts": [{"rule": v.rule, "outcome": v.outcome.value, "reason": str(v.reason)} for v in verdicts],
        "outcome": worst(verdicts).value,
        "spam": report.spam.as_dict(),
        "length": len(report.tagged),
    }
