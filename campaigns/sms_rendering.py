"""A template rendered as one SMS: plain text to the contact's phone, counted in the parts a gateway bills.

An SMS gateway has no provider-approved templates (``Capabilities.provider_templates`` False), so the template's
parts become one text here, for every recipient alike, as a bot's do (``campaigns.bot_rendering``) but plain:

- **The text**: the header, the body with its restricted-platform disclaimer (``rendering.sent_body``, as on every
  channel), the footer and a line per button that means something without a tap, each on its own line (a blank
  line would be two characters of a part for nothing). WhatsApp's formatting markers in the template's own text
  are dropped (``*sale*`` reads "sale"); a variable's value is sent as given, markers and all.
- **Buttons**: a link becomes "label: URL", a phone button "label: number"; the opt-out quick reply becomes the
  instruction "label: reply STOP" in the template's language (STOP and СТОП are keywords no policy may drop,
  ``compliance.keywords.REQUIRED_OPT_OUT``); other quick replies cannot be tapped in an SMS and are left out.
- **Parts**: ``channels.sms.segments`` counts them (GSM-7 160/153, UCS-2 70/67: every Cyrillic text is UCS-2);
  the estimate and the actual cost are parts × the rate card's price per part (``campaigns.pricing``). A text
  over the gateway's limit (``Capabilities.max_text_length``) blocks the preflight, never a send.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from campaigns.bot_rendering import marked, to_plain
from campaigns.rendering import disclaimer_language, preview_values, sent_body
from channels.registry import CHANNELS
from channels.sms import segments
from channels.sms.gateway import SmsGateway
from compliance.keywords import is_opt_out_label
from compliance.policy import Policy, current_policy
from compliance.sentences import Sentence

# How an SMS reader opts out, by the template's language: the label of its opt-out reply, then this.
OPT_OUT_INSTRUCTIONS = {"ru": "ответьте СТОП", "en": "reply STOP"}
# The gateways' limit on one message's text (SMSC: 1,000 characters, 15 parts of Cyrillic).
DEFAULT_LIMIT = 1000

SENTENCES = {
    "sms_text_too_long": _l(
        "As an SMS the message has %(length)s characters; an SMS gateway takes at most %(limit)s. Shorten the body "
        "or the variables' values."
    ),
}


def is_sms_channel(channel: str) -> bool:
    """Whether ``channel`` is an SMS gateway's (its messages are rendered here, to the contact's phone)."""
    kind = CHANNELS.get(channel)
    return kind is not None and issubclass(kind, SmsGateway)


def opt_out_instruction(language: str) -> str:
    """What an SMS says to do to opt out, in the template's ``language`` (English for one without its own)."""
    return OPT_OUT_INSTRUCTIONS.get(disclaimer_language(language), OPT_OUT_INSTRUCTIONS["en"])


@dataclass(frozen=True)
class SmsMessage:
    """One template rendered as an SMS: its text and the parts it takes (``channels.sms.segments``)."""

    text: str
    segments: segments.Segments
    limit: int = DEFAULT_LIMIT

    @property
    def parts(self) -> int:
        return self.segments.parts

    @property
    def too_long(self) -> bool:
        return len(self.text) > self.limit

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, as the content hash, the review page and the editor's segment line take it."""
        counted = self.segments
        return {"channel": "sms", "text": self.text, "encoding": counted.encoding, "parts": counted.parts,
                "characters": counted.characters, "per_part": counted.per_part, "remaining": counted.remaining,
                "length": len(self.text), "limit": self.limit}


def button_lines(template: Any, policy: Policy) -> list[str]:
    """The lines the template's buttons become in an SMS (see the module docstring)."""
    raw = template.buttons if isinstance(template.buttons, list) else []
    lines = []
    for button in (b for b in raw if isinstance(b, dict)):
        label, kind = str(button.get("text") or "").strip(), button.get("type")
        if not label:
            continue
        if kind == "quick_reply" and is_opt_out_label(label, policy.keywords):
            lines.append(f"{label}: {opt_out_instruction(template.language or '')}")
        elif kind == "url" and button.get("url"):
            lines.append(f"{label}: {button['url']}")
        elif kind == "phone" and button.get("phone"):
            lines.append(f"{label}: {button['phone']}")
    return lines


class SmsRenderer:
    """Renders one template as an SMS many times (a batch): the buttons' lines worked out once."""

    def __init__(self, template: Any, policy: Policy | None = None, limit: int = DEFAULT_LIMIT) -> None:
        self.policy = policy or current_policy()
        self.template, self.limit = template, limit
        self.language = template.language or "ru"
        self.footer = to_plain(template.footer or "")
        self.lines = button_lines(template, self.policy)
        self.examples = {str(k): str(v) for k, v in (template.examples or {}).items() if v}

    def text(self, values: Mapping[str, str]) -> str:
        """The SMS text with ``values`` for the template's variables (a variable without one stays as written)."""
        header = to_plain(marked(self.template.header or "", values))
        body = to_plain(sent_body(marked(self.template.body or "", values), self.language, self.policy))
        parts = [header.strip(), body.strip(), self.footer.strip(), *self.lines]
        return "\n".join(part for part in parts if part)

    def row_text(self, values: Mapping[str, str] | None) -> str:
        """The text of a message row, as the batch sends it: the row's value, else the template's example (as the
        preview fills them)."""
        return self.text({**self.examples, **{name: value for name, value in (values or {}).items() if value}})

    def render(self, values: Mapping[str, str]) -> SmsMessage:
        """The message with ``values``, counted in parts."""
        text = self.text(values)
        return SmsMessage(text, segments.count(text), self.limit)


def render_for(template: Any, values: Mapping[str, str], policy: Policy | None = None) -> SmsMessage:
    """``template`` rendered as an SMS with ``values`` (see the module docstring)."""
    return SmsRenderer(template, policy).render(values)


def preview_for(template: Any, values: Mapping[str, str] | None = None, policy: Policy | None = None) -> SmsMessage:
    """The rendering a reviewer sees and the estimate counts: the given values, else the examples."""
    return render_for(template, preview_values(template, values), policy)


def segment_line(shown: Mapping[str, Any]) -> str:
    """The live line of a rendering (``SmsMessage.as_dict``) in the reader's language: "UCS-2 · 2 parts · 14
    characters left" (what the template editor and the review show; ``_sms_segments.html`` words it alike)."""
    parts = ngettext("%(num)d part", "%(num)d parts", int(shown["parts"]))
    left = ngettext("%(num)d character left", "%(num)d characters left", int(shown["remaining"]))
    return f"{shown['encoding']} · {parts} · {left}"


def preflight_sentences(message: SmsMessage) -> list[Sentence]:
    """What blocks a campaign whose SMS cannot go out: a text over the gateway's limit."""
    if not message.too_long:
        return []
    return [Sentence(SENTENCES, "sms_text_too_long", length=len(message.text), limit=message.limit)]
