"""The deep links of an entry point's senders and their QR codes.

MAX ``https://max.ru/<bot>?start=<token>``, Telegram ``https://t.me/<bot>?start=<token>`` (the bot's username
from its sender), WhatsApp ``https://wa.me/<digits>?text=<keyword> <code>`` (the sender's number without the
"+", the text URL-encoded). QR codes are drawn by ``segno`` (pure Python, no Pillow): SVG and PNG, error
correction M, with the quiet zone the standard asks for, big enough to print.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from urllib.parse import quote

import segno

from campaigns.entry_point_models import EntryPoint
from campaigns.entry_points import BOT_CHANNELS, WHATSAPP_CHANNELS
from campaigns.models import Sender, SenderChannel

MESSENGER_LABELS = {"max": "MAX", "telegram": "Telegram", "whatsapp": "WhatsApp"}  # brand names: not translated
BOT_HOSTS = {SenderChannel.MAX.value: "https://max.ru/", SenderChannel.TELEGRAM.value: "https://t.me/"}
QR_ERROR = "m"  # 15 % of the code may be damaged (a smudged poster) and it still reads
PNG_SCALE = 10  # pixels per module: a 41-module code is 490 px with its border, sharp at 4 cm printed
SVG_SCALE = 8


@dataclass(frozen=True)
class Link:
    """One way in: the sender, the messenger it is on ("max", "telegram", "whatsapp") and its URL."""

    sender: Sender
    messenger: str
    url: str


def messenger_of(sender: Sender) -> str | None:
    """"max", "telegram" or "whatsapp" for a sender an entry point may offer, else None."""
    if sender.channel in BOT_CHANNELS:
        return sender.channel
    if sender.channel in WHATSAPP_CHANNELS:
        return "whatsapp"
    return None


def bot_link(sender: Sender, payload: str) -> str:
    """The bot's deep link with ``payload`` as its start parameter."""
    username = (sender.bot_username or "").strip().lstrip("@")
    return f"{BOT_HOSTS[sender.channel]}{username}?start={payload}"


def whatsapp_link(sender: Sender, keyword: str, code: str) -> str:
    """The click-to-chat link that opens the number with "<keyword> <code>" typed in, ready to send."""
    digits = "".join(ch for ch in sender.phone or "" if ch.isdigit())
    return f"https://wa.me/{digits}?text={quote(f'{keyword} {code}', safe='')}"


def links_for(entry_point: EntryPoint, senders: list[Sender], token: str | None = None) -> list[Link]:
    """The entry point's links, one per offered sender, in order. With a personal ``token`` only the bots' (a
    WhatsApp number knows the person by their number; the token is for a bot)."""
    links = []
    for sender in senders:
        messenger = messenger_of(sender)
        if messenger in BOT_CHANNELS:
            links.append(Link(sender, messenger, bot_link(sender, token or entry_point.code)))
        elif messenger == "whatsapp" and token is None:
            links.append(Link(sender, messenger, whatsapp_link(sender, entry_point.keyword, entry_point.code)))
    return links


def qr_code(url: str) -> segno.QRCode:
    """The QR code of ``url`` (the smallest version that holds it at error correction M)."""
    return segno.make(url, error=QR_ERROR, micro=False)


def qr_svg(url: str) -> bytes:
    """The QR code of ``url`` as a standalone SVG document (printable at any size)."""
    out = io.BytesIO()
    qr_code(url).save(out, kind="svg", scale=SVG_SCALE, xmldecl=True, svgns=True, title=url)
    return out.getvalue()


def qr_png(url: str) -> bytes:
    """The QR code of ``url`` as a PNG."""
    out = io.BytesIO()
    qr_code(url).save(out, kind="png", scale=PNG_SCALE)
    return out.getvalue()


def business_name(entry_point: EntryPoint, senders: list[Sender]) -> str:
    """The name the public page greets with: a verified name the provider gave one of its senders, else the
    entry point's own name (the app keeps no business name of its own)."""
    for sender in senders:
        if (sender.verified_name or "").strip():
            return sender.verified_name.strip()
    return entry_point.name


def link_json(link: Link) -> dict[str, object]:
    """A link as the API and the CLI show it."""
    return {"messenger": link.messenger, "sender_id": link.sender.id, "sender": link.sender.name, "url": link.url}
