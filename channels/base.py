"""The neutral values every channel speaks, and the interface a channel implements.

Outbound: a batch of :class:`Outbound` messages goes to :meth:`Channel.send`, which answers one
:class:`SendResult` per message, in order — ``accepted`` with the provider's message id, ``retry``
(transient: when, and whether the whole sender must slow down or only this recipient waits) or
``failed`` (permanent, with what it means for the recipient, the template or the sender).
Inbound: :meth:`Channel.verify_webhook` checks a callback's signature against the raw body and
:meth:`Channel.parse_webhook` turns it into :data:`Event` values, purely (no I/O).
Templates and the number: submit a template, edit a template the provider already has (so that a
rejected or a new version is reviewed again under its name), read template states, read the number's
quality, messaging tier and throughput.

Sentences in results are lazy translations: ``str()`` renders them in the reader's language, and
the ``code`` is what should be stored (``channels.errors.sentence_for`` words it again later).
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask_babel import lazy_gettext as _l

if TYPE_CHECKING:
    import aiohttp


class MessageKind(str, enum.Enum):
    TEMPLATE = "template"  # a provider-approved template: may open a conversation
    TEXT = "text"  # free text: only where the channel allows it (WhatsApp: inside the 24-hour window)


# --- outbound ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Parameter:
    """One value of a template variable; ``name`` is set for a named variable ({{first_name}}), None for {{1}}."""

    value: str
    name: str | None = None


@dataclass(frozen=True)
class ButtonParameter:
    """The value of one button of a template: the payload of a quick reply, or the suffix of a dynamic URL."""

    index: int  # the button's position in the template, from 0
    sub_type: str  # "quick_reply" | "url"
    value: str


@dataclass(frozen=True)
class TemplateContent:
    """A template message: the approved template's name and language, and the values per component."""

    name: str
    language: str  # the provider's language code: ru, en, en_US, …
    header: tuple[Parameter, ...] = ()
    body: tuple[Parameter, ...] = ()
    buttons: tuple[ButtonParameter, ...] = ()


@dataclass(frozen=True)
class InlineButton:
    """A button under a bot's message (MAX ``inline_keyboard``, Telegram ``InlineKeyboardMarkup``): a callback
    button whose ``payload`` comes back when pressed (a quick reply, the opt-out button), or a link."""

    text: str
    payload: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Outbound:
    """One message to one recipient. ``key`` is our message key (the message row's idempotency key):
    it travels with the message (WhatsApp: ``biz_opaque_callback_data``) and comes back in statuses."""

    key: str
    to: str  # the address on the channel: E.164 for WhatsApp and SMS, a user or chat id for bots
    template: TemplateContent | None = None
    text: str | None = None  # free text instead of a template
    # Bot channels (no provider templates): the rendered message's buttons, one per row, and its markup
    # ("markdown" | "html"; None: plain text).
    buttons: tuple[InlineButton, ...] = ()
    text_format: str | None = None

    @property
    def kind(self) -> MessageKind:
        return MessageKind.TEMPLATE if self.template is not None else MessageKind.TEXT


# --- results ----------------------------------------------------------------------------------------

class ResultKind(str, enum.Enum):
    ACCEPTED = "accepted"
    RETRY = "retry"
    FAILED = "failed"


class RetryScope(str, enum.Enum):
    """Who has to wait before the next attempt."""

    MESSAGE = "message"  # only this message: try it again after the backoff
    SENDER = "sender"  # the whole sender is over a limit: every send on it must slow down
    RECIPIENT = "recipient"  # this recipient cannot get another message for now (WhatsApp 131049: ≥ 24 h)


class FailureMeaning(str, enum.Enum):
    """What a permanent failure means, so that campaigns can act on it."""

    OPTED_OUT = "opted_out"  # the recipient stopped marketing messages: an opt-out
    NOT_ON_CHANNEL = "not_on_channel"  # not a user of the messenger, or cannot be reached on it
    INVALID_RECIPIENT = "invalid_recipient"  # the address is not valid
    TEMPLATE = "template"  # the template is paused, disabled, missing or its parameters are wrong: pause the campaign
    OUTSIDE_WINDOW = "outside_window"  # free text outside the service window
    SENDER = "sender"  # the token is bad, expired or lacks a permission: stop everything on this sender
    MESSAGE = "message"  # this message was refused for another reason; the next one may pass
    STOPPED = "stopped"  # the person stopped or blocked the bot: this address is closed, never retry it
    UNREACHABLE = "unreachable"  # the phone cannot be reached on this channel now (SMS: absent, off, not a mobile)


@dataclass(frozen=True)
class SendResult:
    """What became of one outbound message."""

    key: str
    kind: ResultKind
    provider_id: str | None = None  # accepted: the provider's message id (a wamid)
    address: str | None = None  # accepted: the recipient as the provider knows them (wa_id)
    code: str | None = None  # retry, failed: the provider's error code, as text ("131050", "http_503", "timeout")
    sentence: Any = ""  # retry, failed: a (lazy) sentence for a marketer
    retry_after: float | None = None  # retry: seconds to wait at least (the provider's Retry-After, else a backoff)
    scope: RetryScope = RetryScope.MESSAGE  # retry: who waits
    meaning: FailureMeaning | None = None  # failed: what it means
    # retry, failed: the provider's own words (its error message and details), kept beside the code for the log
    # and the operator; a marketer reads the sentence.
    detail: str = ""
    # retry: the provider may have accepted the message although no id came back — a timeout after the request
    # was sent, a connection broken mid-request, a 2xx without a message id. On a channel without idempotent
    # sends a dispatcher must not blindly send it again (a second request is a second message): it waits for a
    # status carrying the key, or counts the message as unknown. False when the request surely did not go
    # through (refused before sending, or an error answer).
    uncertain: bool = False

    @property
    def accepted(self) -> bool:
        return self.kind is ResultKind.ACCEPTED


# --- inbound events ---------------------------------------------------------------------------------

class DeliveryStatus(str, enum.Enum):
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


@dataclass(frozen=True)
class StatusEvent:
    """The provider's news about a message we sent."""

    provider_id: str
    status: DeliveryStatus
    at: datetime
    recipient: str
    key: str | None = None  # our message key, when the provider echoes it
    pricing_category: str | None = None  # marketing, utility, authentication, service, …
    billable: bool | None = None
    error_code: str | None = None
    error_title: str = ""


@dataclass(frozen=True)
class InboundMessage:
    """A message a person sent us: text, or the reply of a template's button."""

    provider_id: str
    sender: str  # their address on the channel (wa_id)
    at: datetime
    text: str = ""
    button_payload: str | None = None
    context_id: str | None = None  # the provider id of our message they replied to
    profile_name: str = ""
    user_id: str | None = None  # a business-scoped user id, where the provider gives one
    kind: str = "text"  # text, button, interactive, image, … as the provider names it


@dataclass(frozen=True)
class PreferenceChange:
    """A person stopped (or resumed) a category of messages from the business on the channel."""

    address: str
    at: datetime
    category: str  # "marketing_messages"
    stopped: bool  # True: stop; False: resume


@dataclass(frozen=True)
class TemplateStatusChange:
    """The provider decided on a template, or changed its status or category."""

    template_id: str
    name: str
    language: str
    status: str | None  # approved, rejected, paused, disabled, pending, … (lower case); None: a category change
    reason: str = ""
    category: str | None = None  # the new category when the provider changed it
    account: str | None = None  # the business account it belongs to (WABA id)


@dataclass(frozen=True)
class NumberQualityChange:
    """The provider changed the number's quality rating or messaging tier."""

    display_phone_number: str
    event: str  # FLAGGED, UNFLAGGED, UPGRADE, DOWNGRADE, ONBOARDING, …
    tier: str | None = None  # TIER_250, TIER_1K, TIER_10K, TIER_100K, TIER_UNLIMITED
    quality: str | None = None  # GREEN, YELLOW, RED


@dataclass(frozen=True)
class BlockReport:
    """A person blocked the business or reported it as spam, as a channel or an operator tells it.

    The Cloud API sends no webhook for either (Meta folds them into the number's quality rating); this is how
    the channels that do report them (the sandbox's simulated recipients, an operator's feed) say so.
    """

    address: str  # their address on the channel (wa_id)
    kind: str  # "block" | "spam_report"
    at: datetime
    evidence: str = ""  # the report's id at its source


BLOCK_REPORT_KINDS = ("block", "spam_report")


@dataclass(frozen=True)
class BotStarted:
    """A person started the bot (MAX ``bot_started``, Telegram ``/start``): from now on the bot may write to them.
    ``payload`` is the deep link's start parameter (our entry token), None when they opened the bot directly."""

    address: str  # the user or chat id the bot writes to
    at: datetime
    event_id: str  # unique per update at the provider (Telegram update_id; MAX: user, kind and timestamp)
    payload: str | None = None
    profile_name: str = ""
    user_id: str | None = None  # the person's user id, where it differs from the chat the bot writes to
    language: str | None = None  # the person's app language, where the provider tells it


@dataclass(frozen=True)
class BotStopped:
    """A person stopped or blocked the bot (MAX ``bot_stopped``, Telegram ``my_chat_member`` → ``kicked``): the
    bot may not write to this address any more."""

    address: str
    at: datetime
    event_id: str


Event = (StatusEvent | InboundMessage | PreferenceChange | BlockReport | TemplateStatusChange
         | NumberQualityChange | BotStarted | BotStopped)


class WebhookError(ValueError):
    """A callback that cannot be parsed; the message says what is wrong with it (for the log)."""


# --- templates and the number -----------------------------------------------------------------------

@dataclass(frozen=True)
class TemplateSubmission:
    """A template as the provider wants it for approval."""

    name: str
    language: str
    category: str  # marketing | utility | authentication
    body: str  # with {{1}} or {{name}} variables
    header: str = ""
    footer: str = ""
    buttons: tuple[Mapping[str, str], ...] = ()  # {"type": "quick_reply"|"url"|"phone", "text", "url"|"phone"}
    examples: Mapping[str, str] = field(default_factory=dict)  # variable → example value


@dataclass(frozen=True)
class TemplateState:
    """The provider's record of a template."""

    provider_id: str
    name: str
    language: str
    status: str  # approved, pending, rejected, paused, disabled, … (lower case)
    category: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class NumberInfo:
    """What the provider says about the sender's number."""

    display_phone_number: str
    quality: str  # GREEN, YELLOW, RED, UNKNOWN
    tier: str | None  # TIER_250, TIER_1K, TIER_10K, TIER_100K, TIER_UNLIMITED
    messages_per_second: int  # the number's throughput
    verified_name: str = ""


_NOT_BY_API = _l("This channel's webhook is configured at the provider, not through its API.")


class ChannelError(Exception):
    """A call other than a send failed (template submission, status, number info): ``code`` and a
    (lazy) ``sentence`` for the admin; ``retryable`` when trying again later may help."""

    def __init__(self, sentence: Any, code: str | None = None, retryable: bool = False) -> None:
        super().__init__(str(sentence))
        self.sentence, self.code, self.retryable = sentence, code, retryable


# --- the interface ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Capabilities:
    """What a channel can do, for campaigns to plan with."""

    idempotent_sends: bool  # a repeated message key is the same message (a retry cannot deliver twice)
    messages_per_second: int  # default throughput of one sender
    max_text_length: int  # of a body or free text
    kinds: frozenset[MessageKind]
    batch_size: int = 100  # outbound messages worth handing to one send() call
    service_window_hours: int | None = None  # free text only this long after the person's last message
    # At most this many messages a second to one dialog (MAX 2, Telegram 1); None: the channel sets no such limit.
    dialog_messages_per_second: float | None = None
    provider_templates: bool = True  # False: no approved templates; a template is rendered to text and buttons
    # False: the provider reports no delivered/read statuses (bots): an accepted send stays "sent".
    delivery_receipts: bool = True


@dataclass(frozen=True)
class SenderSettings:
    """How to reach the provider for one sender; secrets in clear, in memory only."""

    channel: str
    base_url: str
    api_version: str = ""
    phone_number_id: str = ""
    account_id: str = ""  # the WhatsApp Business Account id (WABA)
    access_token: str = field(default="", repr=False)
    app_secret: str = field(default="", repr=False)
    verify_token: str = field(default="", repr=False)
    display_phone: str = ""
    timeout_seconds: float = 15.0
    # Bots: the bot's public name in deep links (max.ru/<bot>, t.me/<bot>); the secret the provider echoes on
    # every webhook is ``app_secret``, the bot token ``access_token``.
    bot_username: str = ""
    # SMS gateways: the account's login (the password is ``access_token``), the approved alpha name the messages
    # come from, and the secret the callback URL carries (``app_secret``).
    login: str = ""
    alpha_name: str = ""


class Channel(ABC):
    """One sender's connection to its provider. Cheap to build; the HTTP session is shared."""

    name: str
    capabilities: Capabilities

    def __init__(self, settings: SenderSettings, session: aiohttp.ClientSession) -> None:
        self.settings, self.session = settings, session

    @abstractmethod
    async def send(self, messages: Sequence[Outbound]) -> list[SendResult]:
        """Send every message (concurrently where the channel allows); one result each, in order. Never raises
        for a provider's answer or a network failure: those are results."""

    @abstractmethod
    async def submit_template(self, template: TemplateSubmission) -> TemplateState:
        """Submit a template for approval; raises :class:`ChannelError`."""

    @abstractmethod
    async def edit_template(self, provider_id: str, template: TemplateSubmission) -> TemplateState:
        """Replace the content of the provider's template ``provider_id`` with ``template`` and have it reviewed
        again; the provider's verdict so far (pending, or decided at once). The provider knows a template by
        (name, language) in its account, so a rejected template, or a new version of an approved one, is
        edited rather than submitted again (a second submission of the name is refused). Name and language
        never change; the provider may refuse to change an approved template's category, or to edit it too
        often (Meta: once in 24 hours, ten times in 30 days). Raises :class:`ChannelError`."""

    @abstractmethod
    async def template_states(self, name: str | None = None) -> list[TemplateState]:
        """The provider's templates (of this name, if given) with their status; raises :class:`ChannelError`."""

    @abstractmethod
    async def number_info(self) -> NumberInfo:
        """The number's quality, messaging tier and throughput; raises :class:`ChannelError`."""

    async def subscribe_webhook(self, url: str, secret: str) -> None:
        """Ask the provider to post this sender's updates to ``url``, echoing ``secret`` (bots: MAX
        ``POST /subscriptions``, Telegram ``setWebhook``); raises :class:`ChannelError`. A channel whose webhook
        is configured elsewhere (WhatsApp: in the Meta app) says so."""
        raise ChannelError(_NOT_BY_API, code="webhook_not_by_api")

    @abstractmethod
    def handshake(self, params: Mapping[str, str]) -> str | None:
        """The answer to the provider's subscription check (WhatsApp: ``hub.challenge``), None to refuse."""

    @abstractmethod
    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> bool:
        """Whether the callback was signed by the provider with this sender's secret."""

    def verify_callback(self, headers: Mapping[str, str], body: bytes, query: Mapping[str, str]) -> bool:
        """Whether the callback comes from the provider, given its URL's ``query`` too: by default its signature
        or echoed secret (:meth:`verify_webhook`); a provider that signs nothing (an SMS gateway) is given a
        secret in the callback URL instead."""
        return self.verify_webhook(headers, body)

    @abstractmethod
    def parse_webhook(self, body: bytes) -> list[Event]:
        """The events of one callback body; raises :class:`WebhookError` when it is malformed."""
