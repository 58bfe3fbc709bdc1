"""A template rendered for a bot channel (MAX, Telegram): one text message in the channel's markup, with buttons.

Bots have no provider-approved templates (``Capabilities.provider_templates`` False), so the template's
header, body, footer and buttons become one message here, for every recipient alike:

- **Markup: HTML on both channels.** MAX (``format: "html"``) and Telegram (``parse_mode: "HTML"``) take the
  same small set of tags (b, i, s, code, pre, a), and HTML needs three characters escaped (``& < >``) where
  Telegram's MarkdownV2 needs eighteen and MAX documents no escape for its markdown at all. The header is bold,
  the footer italic; WhatsApp's formatting in the body (``*bold*``, ``_italic_``, ``~strike~``, ```` ```mono``` ````)
  becomes the tags, so one template reads the same on every channel.
- **Variables are text, never markup.** A value is put in between two private-use marks before the body is
  tagged (restricted mentions and their disclaimer, as on WhatsApp); the formatting is then read from the
  template's own text only, and each value is HTML-escaped in its place. A customer called ``*Анна*`` or
  ``<b>`` is shown as written.
- **Length**: the channel's ``max_text_length`` (MAX 4,000 characters, Telegram 4,096 UTF-16 units), measured on
  the text as the channel takes it, tags included. The preflight refuses a rendering over it
  (``preflight_sentences``), so it is never a refusal at send time.
- **Buttons**: a quick reply becomes a callback button whose payload is its label (as WhatsApp sends a quick
  reply's label as its payload), a link a link button, a phone button a line of the text (bots have no call
  button). An opt-out quick reply carries ``OPT_OUT_PAYLOAD`` ("STOP", a keyword no policy may drop, so the tap
  is an opt-out whatever an admin does to the keywords); a marketing template without one gets one, labelled
  in its language, so every bot marketing message can be refused with one tap.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l

from campaigns.models import Template, TemplateCategory
from campaigns.rendering import preview_values, sent_body
from campaigns.template_rules import NAMED, PLACEHOLDER, POSITIONAL, suggested_opt_out
from channels.base import Capabilities, InlineButton, Outbound
from channels.bots import Bot
from channels.registry import CHANNELS
from compliance.keywords import is_opt_out_label
from compliance.policy import Policy, current_policy
from compliance.sentences import Sentence

TEXT_FORMAT = "html"
# A required opt-out keyword (compliance.keywords.REQUIRED_OPT_OUT): every policy keeps it.
OPT_OUT_PAYLOAD = "STOP"
# Telegram's callback_data is at most 64 bytes; a longer label gets a payload by its position.
MAX_PAYLOAD_BYTES = 64
# The marks around a variable's value while the body is tagged (private use: no text contains them).
_OPEN, _CLOSE = "\ue000", "\ue001"
_VALUE = re.compile(f"{_OPEN}(.*?){_CLOSE}", re.S)
_TOKEN = re.compile("\ue002(\\d+)\ue003")
# WhatsApp's formatting: markers hug their text, do not stand inside a word and do not cross a line.
_FORMATTING = re.compile(
    r"```(?P<pre>.+?)```"
    r"|(?<![\w*])\*(?P<bold>[^\s*](?:[^*\n]*?[^\s*])?)\*(?![\w*])"
    r"|(?<![\w_])_(?P<italic>[^\s_](?:[^_\n]*?[^\s_])?)_(?![\w_])"
    r"|(?<![\w~])~(?P<strike>[^\s~](?:[^~\n]*?[^\s~])?)~(?![\w~])",
    re.S,
)
_TAGS = {"pre": "code", "bold": "b", "italic": "i", "strike": "s"}

SENTENCES = {
    "bot_text_too_long": _l(
        "Rendered for %(channel)s the message has %(length)s characters; %(channel)s takes at most %(limit)s. "
        "Shorten the body or the variables' values."
    ),
}
CHANNEL_NAMES = {"max": "MAX", "telegram": "Telegram"}


def bot_capabilities(channel: str) -> Capabilities | None:
    """The capabilities of ``channel`` when it is a bot channel (no provider templates, a messenger's bot), else
    None. An SMS gateway has no provider templates either, but its messages are plain text to a phone number."""
    kind = CHANNELS.get(channel)
    if kind is None or kind.capabilities.provider_templates or not issubclass(kind, Bot):
        return None
    return kind.capabilities


def is_bot(channel: str) -> bool:
    """Whether a sender on ``channel`` is a bot (its messages are rendered here, its recipients are addresses)."""
    return bot_capabilities(channel) is not None


def bot_channels() -> list[str]:
    """The registered bot channels, by name."""
    return sorted(name for name in CHANNELS if is_bot(name))


@dataclass(frozen=True)
class BotMessage:
    """One template rendered for one bot channel: the text in ``text_format``, the buttons, and its length
    measured as the channel measures it against ``limit``."""

    channel: str
    text: str
    buttons: tuple[InlineButton, ...]
    text_format: str
    length: int
    limit: int

    @property
    def too_long(self) -> bool:
        return self.length > self.limit

    def outbound(self, key: str, to: str) -> Outbound:
        """The message to the bot address ``to`` under our message key."""
        return Outbound(key=key, to=to, text=self.text, buttons=self.buttons, text_format=self.text_format)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, as the content hash and the review page take it."""
        return {"channel": self.channel, "text": self.text, "text_format": self.text_format,
                "buttons": [{"text": b.text, "payload": b.payload, "url": b.url} for b in self.buttons],
                "length": self.length, "limit": self.limit}


def text_length(channel: str, text: str) -> int:
    """``text``'s length as ``channel`` counts it: Telegram in UTF-16 code units, MAX in characters."""
    if channel == "telegram":
        return len(text.encode("utf-16-le")) // 2
    return len(text)


def marked(text: str, values: Mapping[str, str]) -> str:
    """``text`` with each variable's value between the marks (a variable without one stays as written)."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if (POSITIONAL.match(name) or NAMED.match(name)) and values.get(name) is not None:
            clean = str(values[name]).translate({ord(_OPEN): None, ord(_CLOSE): None})
            return f"{_OPEN}{clean}{_CLOSE}"
        return match.group()

    return PLACEHOLDER.sub(value, text)


def to_html(marked: str, formatting: bool = True) -> str:
    """Marked text as HTML: the template's own WhatsApp formatting as tags (when ``formatting``), every value
    and every other character literal."""
    literals: list[str] = []

    def hold(match: re.Match[str]) -> str:
        literals.append(match.group(1))
        return f"\ue002{len(literals) - 1}\ue003"

    text = html.escape(_VALUE.sub(hold, marked), quote=False)
    if formatting:
        text = _FORMATTING.sub(_tag, text)
    return _TOKEN.sub(lambda match: html.escape(literals[int(match.group(1))], quote=False), text)


def to_plain(marked: str) -> str:
    """Marked text as plain text (an SMS): the template's own WhatsApp formatting markers dropped (``*sale*`` reads
    "sale"), every value as it was given, markers and all."""
    literals: list[str] = []

    def hold(match: re.Match[str]) -> str:
        literals.append(match.group(1))
        return f"\ue002{len(literals) - 1}\ue003"

    text = _FORMATTING.sub(_untag, _VALUE.sub(hold, marked))
    return _TOKEN.sub(lambda match: literals[int(match.group(1))], text)


def _untag(match: re.Match[str]) -> str:
    kind = next(name for name, value in match.groupdict().items() if value is not None)
    inner = match.group(kind)
    return inner if kind == "pre" else _FORMATTING.sub(_untag, inner)


def _tag(match: re.Match[str]) -> str:
    kind = next(name for name, value in match.groupdict().items() if value is not None)
    inner = match.group(kind)
    if kind != "pre":
        inner = _FORMATTING.sub(_tag, inner)  # *_bold italic_*
    return f"<{_TAGS[kind]}>{inner}</{_TAGS[kind]}>"


def _payload(label: str, index: int) -> str:
    return label if len(label.encode()) <= MAX_PAYLOAD_BYTES else f"button:{index + 1}"


def buttons_and_lines(template: Any, policy: Policy) -> tuple[tuple[InlineButton, ...], list[str]]:
    """The template's buttons as inline buttons (the opt-out one kept, or added to a marketing template), and
    the lines its phone buttons become."""
    raw = template.buttons if isinstance(template.buttons, list) else []
    buttons: list[InlineButton] = []
    lines: list[str] = []
    opt_out = False
    for index, button in enumerate(b for b in raw if isinstance(b, dict)):
        label = str(button.get("text") or "").strip()
        kind = button.get("type")
        if not label:
            continue
        if kind == "quick_reply":
            if is_opt_out_label(label, policy.keywords):
                opt_out = True
                buttons.append(InlineButton(label, payload=OPT_OUT_PAYLOAD))
            else:
                buttons.append(InlineButton(label, payload=_payload(label, index)))
        elif kind == "url" and button.get("url"):
            buttons.append(InlineButton(label, url=str(button["url"])))
        elif kind == "phone" and button.get("phone"):
            lines.append(f"{html.escape(label, quote=False)}: {html.escape(str(button['phone']), quote=False)}")
    if not opt_out and _category(template) == TemplateCategory.MARKETING.value:
        buttons.append(InlineButton(suggested_opt_out(template.language or ""), payload=OPT_OUT_PAYLOAD))
    return tuple(buttons), lines


def _category(template: Any) -> str:
    category = getattr(template, "category", None)
    return getattr(category, "value", category) or ""


class BotRenderer:
    """Renders one template for one bot channel, many times (a batch): the buttons worked out once."""

    def __init__(self, channel: str, template: Any, policy: Policy | None = None) -> None:
        capabilities = bot_capabilities(channel)
        if capabilities is None:
            raise ValueError(f"{channel!r} is not a bot channel")
        self.channel, self.limit = channel, capabilities.max_text_length
        self.policy = policy or current_policy()
        self.template = template
        self.language = template.language or "ru"
        self.buttons, self.lines = buttons_and_lines(template, self.policy)
        self.footer = to_html(template.footer or "", formatting=False)

    def render(self, values: Mapping[str, str]) -> BotMessage:
        """The message with ``values`` for the template's variables (a variable without one stays as written)."""
        header = to_html(marked(self.template.header or "", values), formatting=False)
        body = to_html(sent_body(marked(self.template.body or "", values), self.language, self.policy))
        parts = [f"<b>{header}</b>" if header.strip() else "", body.strip(),
                 f"<i>{self.footer}</i>" if self.footer.strip() else "", "\n".join(self.lines)]
        text = "\n\n".join(part for part in parts if part)
        return BotMessage(self.channel, text, self.buttons, TEXT_FORMAT, text_length(self.channel, text), self.limit)


def render_for(channel: str, template: Any, values: Mapping[str, str], policy: Policy | None = None) -> BotMessage:
    """``template`` rendered for the bot ``channel`` with ``values`` (see the module docstring)."""
    return BotRenderer(channel, template, policy).render(values)


def preview_for(channel: str, template: Template, values: Mapping[str, str] | None = None,
                policy: Policy | None = None) -> BotMessage:
    """The rendering a reviewer sees and the content hash covers: the given values, else the examples."""
    return render_for(channel, template, preview_values(template, values), policy)


def preflight_sentences(message: BotMessage) -> list[Sentence]:
    """What blocks a campaign whose rendering cannot go out on its channel: a text over the channel's limit."""
    if not message.too_long:
        return []
    return [Sentence(SENTENCES, "bot_text_too_long", channel=CHANNEL_NAMES.get(message.channel, message.channel),
                     length=message.length, limit=message.limit)]


def for_review(template: Template, channel: str, policy: Policy | None = None) -> list[dict[str, Any]]:
    """The template as each bot channel renders it (with its examples), the campaign's own ``channel`` first and
    marked ``chosen``: what the review page shows. The HTML is ours (values and text escaped), safe to show."""
    names = sorted(bot_channels(), key=lambda name: (name != channel, name))
    shown = []
    for name in names:
        message = preview_for(name, template, policy=policy)
        shown.append({**message.as_dict(), "name": CHANNEL_NAMES.get(name, name), "chosen": name == channel,
                      "too_long": message.too_long})
    return shown
