"""Simulated recipients: what becomes of an accepted message, decided by the recipient's last two digits.

=====  ==================  ======================================================================
 ends  who                 what happens
=====  ==================  ======================================================================
 80    replies STOP        sent, delivered, then an inbound text "STOP"
 81    replies СТОП        sent, delivered, then an inbound text "СТОП"
 82    stopped marketing   a marketing template: a ``user_preferences`` stop (the first time), then a
                           failed status 131050; other messages are delivered normally
 83    blocks the business the first message is delivered and read, then a block report (the
                           ``vestnik_block_reports`` extension, not Meta's); every later one fails (131026)
 84    reports spam        delivered and read, then reports spam (which blocks too): a spam report (the
                           same extension), the number's quality drops one step
                           (``phone_number_quality_update`` FLAGGED) and later messages fail (131026)
 85    not on WhatsApp     failed status 131026, nothing else
 86    answers with text   delivered, read, then an inbound text
 87    taps a quick reply  delivered, read, then a button message (payload of the first quick reply,
                           ``context.id`` = our wamid); a template without quick replies gets none
 else  ordinary            sent, delivered, read (``status_shares.read``); a share of marketing
                           messages fails with 131049 (``status_shares.failed``); a share is
                           delivered late (``status_shares.late``, after ``late_delays_ms``)
=====  ==================  ======================================================================

For everyone: free text outside 24 hours after the recipient's last inbound message fails with
131047 (Meta reports it in a status, not in the send's answer); some statuses come out of order
(``reorder``) or twice (``duplicate``). Delays between steps are drawn from ``callback_delays_ms``.
Every draw is fixed by the seed, the recipient and the message key.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from channels.sandbox import dice, webhooks
from channels.sandbox.callbacks import Callbacks
from channels.sandbox.ledger import Message
from channels.sandbox.state import Number, State

BEHAVIOURS = {
    80: "replies_stop", 81: "replies_stop_ru", 82: "stops_marketing", 83: "blocks", 84: "reports_spam",
    85: "not_on_whatsapp", 86: "answers_text", 87: "taps_button",
}
ALWAYS_READ = ("blocks", "reports_spam", "answers_text", "taps_button")
REPLIES = {"replies_stop": "STOP", "replies_stop_ru": "СТОП", "answers_text": "Спасибо, интересно. А подробнее?"}
WINDOW_SECONDS = 24 * 3600
QUALITY_STEPS = {"GREEN": "YELLOW", "YELLOW": "RED", "RED": "RED", "UNKNOWN": "YELLOW"}


def behaviour_of(wa_id: str) -> str:
    """The simulated recipient behind a number (see the table above)."""
    return BEHAVIOURS.get(int(wa_id[-2:]), "ordinary")


class Simulation:
    """Plays the recipients of one sandbox state."""

    def __init__(self, state: State, callbacks: Callbacks) -> None:
        self.state, self.callbacks = state, callbacks

    def window_open(self, number: Number, wa_id: str) -> bool:
        last = self.state.last_inbound.get((number.phone_number_id, wa_id))
        return last is not None and time.time() - last < WINDOW_SECONDS

    def accepted(self, number: Number, message: Message) -> None:
        """Plan what becomes of a message the sandbox has just accepted."""
        kind = behaviour_of(message.to)
        url, _secret = self.state.callback_of(number)
        if url is None and kind == "ordinary" and message.type == "template":
            return  # nothing would be seen: the benchmark's hot path schedules nothing
        settings = self.state.settings
        pair = (number.phone_number_id, message.to)
        low, high = settings.callback_delays_ms
        draw_key = (message.to, message.key if message.key is not None else len(self.state.ledger.messages))

        def gap(step: str) -> float:
            return dice.between(low, high, settings.seed, "gap", step, *draw_key) / 1000

        def share(name: str) -> bool:
            return dice.chance(settings.seed, name, *draw_key) < settings.status_shares[name]

        at = self._scheduler(number, message)
        if kind == "not_on_whatsapp" or pair in self.state.blocked:
            return at(gap("sent"), "failed", 131026)
        if message.type == "text" and not self.window_open(number, message.to):
            return at(gap("sent"), "failed", 131047)
        if kind == "stops_marketing" and message.category == "marketing":
            if pair not in self.state.stopped_marketing:
                self.state.stopped_marketing.add(pair)
                self.callbacks.later(gap("sent"), lambda: self._post(number, webhooks.marketing_stop(number,
                                                                                                    message.to)))
            return at(gap("sent") + gap("delivered"), "failed", 131050)
        if kind == "blocks":
            self.state.blocked.add(pair)  # after this first message
        sent = gap("sent")
        if message.category == "marketing" and kind == "ordinary" and share("failed"):
            at(sent, "sent")
            return at(sent + gap("delivered"), "failed", 131049)
        times = {"sent": sent, "delivered": sent + gap("delivered")}
        # The phone was off: delivered (and read) once it is back, long after "sent". The delay is its own draw: the
        # share's would put every late delivery in the first share of the range.
        if share("late"):
            low_late, high_late = settings.late_delays_ms
            times["delivered"] = sent + dice.between(low_late, high_late, settings.seed, "late_delay", *draw_key) / 1000
        if kind in ALWAYS_READ or share("read"):
            times["read"] = times["delivered"] + gap("read")
        if share("reorder"):
            first, second = ("delivered", "read") if "read" in times else ("sent", "delivered")
            times[first], times[second] = times[second], times[first]
        for state_name, delay in times.items():
            at(delay, state_name)
        if share("duplicate"):
            again = sorted(times)[int(dice.chance(settings.seed, "again", *draw_key) * len(times))]
            at(times[again] + gap("again") / 4, again)
        last = max(times.values()) + gap("reply")
        if kind in REPLIES:
            self.callbacks.later(last, lambda: self.inbound(number, message.to, REPLIES[kind]))
        elif kind == "taps_button" and message.quick_replies:
            payload, label = message.quick_replies[0]
            self.callbacks.later(last, lambda: self.inbound(number, message.to, label, payload, message.id))
        elif kind == "reports_spam":
            self.callbacks.later(last, lambda: self.spam_report(number, message.to))
        elif kind == "blocks":
            self.callbacks.later(last, lambda: self._post(number, webhooks.block_report(number, message.to, "block")))

    def inbound(self, number: Number, wa_id: str, text: str, payload: str | None = None,
                context_id: str | None = None) -> str:
        """A message from ``wa_id`` to the number: opens the 24-hour window; returns its wamid."""
        self.state.last_inbound[(number.phone_number_id, wa_id)] = time.time()
        wamid = self.state.new_wamid()
        if payload is not None and context_id is not None:
            body = webhooks.inbound_button(number, wa_id, wamid, payload, text, context_id)
        else:
            body = webhooks.inbound_text(number, wa_id, wamid, text)
        self._post(number, body)
        return wamid

    def spam_report(self, number: Number, wa_id: str) -> None:
        self.state.blocked.add((number.phone_number_id, wa_id))
        self._post(number, webhooks.block_report(number, wa_id, "spam_report"))
        lower = QUALITY_STEPS[number.quality]
        if lower != number.quality:
            number.quality = lower
            self._post(number, webhooks.quality(number, "FLAGGED"))

    def _scheduler(self, number: Number, message: Message) -> Callable[..., None]:
        def at(delay: float, state_name: str, code: int | None = None) -> None:
            self.state.ledger.event("statuses_planned")
            self.callbacks.later(delay, lambda: self._post(number, webhooks.status(number, message, state_name, code)))

        return at

    def _post(self, number: Number, body: dict) -> None:
        url, secret = self.state.callback_of(number)
        self.callbacks.post(url, secret, body)
