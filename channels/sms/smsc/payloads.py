"""The form of one ``send.php`` request (pure).

SMSC takes ``login``, ``psw``, ``phones``, ``mes``, ``sender``, ``fmt=3`` (answer in JSON),
``charset=utf-8``, ``cost=3`` (the answer tells the cost, the number of parts and the balance) and
``id`` (the message's id, ours: SMSC echoes it in the answer and in every status callback, so a report
finds its row by our key). The phone goes with its ``+``, which turns SMSC's automatic correction of
numbers off: the number is the contact's, checked by us.
"""

from __future__ import annotations

import re

from channels.base import Outbound

# SMSC's own limit on the text is larger; 1,000 characters is 15 parts of Cyrillic, past any sensible campaign.
MAX_TEXT = 1000
# What SMSC takes as a message id: a 32-bit number or up to 40 Latin letters, digits, ".", "-" and "_".
MESSAGE_ID = re.compile(r"^[A-Za-z0-9._-]{1,40}$")
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


class PayloadError(ValueError):
    """The message cannot be put in an SMS; nothing was sent."""


class AddressError(ValueError):
    """The address is not a phone number in E.164; nothing was sent."""


def phone(to: str) -> str:
    """The recipient as SMSC takes it: E.164 with its ``+`` (a bot's user id, digits alone, is no phone)."""
    value = (to or "").strip()
    if not E164.match(value):
        raise AddressError(f"{to!r} is not a phone number in E.164")
    return value


def form(message: Outbound, login: str, password: str, sender: str) -> dict[str, str]:
    """The ``send.php`` form of one message."""
    if message.template is not None or not message.text:
        raise PayloadError("an SMS is free text: the template must be rendered to text first")
    if len(message.text) > MAX_TEXT:
        raise PayloadError(f"the text has {len(message.text)} characters; at most {MAX_TEXT} go in one message")
    if not MESSAGE_ID.match(message.key):
        raise PayloadError(f"the message key {message.key!r} cannot be SMSC's message id")
    fields = {"login": login, "psw": password, "phones": phone(message.to), "mes": message.text, "id": message.key,
              "fmt": "3", "charset": "utf-8", "cost": "3"}
    if sender:
        fields["sender"] = sender
    return fields
