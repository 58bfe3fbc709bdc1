"""The public subscribe page of an entry point (no login), and the QR codes of its links.

``/subscribe/<code>``: the business's name and a button and a QR code per offered channel, in Russian or
English (the visitor's choice, else their browser's). Each view is counted (one ``UPDATE … + 1``) unless it is
a HEAD or a bot (link previews, crawlers). An unknown, expired or archived code answers 404 with a sentence.
``/subscribe/<code>/qr/<sender>.svg|png`` is the QR of one link; ``/subscribe/<code>/qr/page.svg|png`` the QR
of the page itself (for a poster). ``?download=1`` makes it a file download.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, abort, current_app, render_template, request
from flask_babel import gettext as _

from campaigns import entry_links, entry_points
from campaigns.entry_point_models import EntryPoint
from extensions import db

bp = Blueprint("subscribe", __name__, url_prefix="/subscribe", template_folder="templates")

# Link previews and crawlers open the page without a person behind them.
_NOT_A_PERSON = re.compile(r"bot|crawl|spider|slurp|preview|facebookexternalhit|whatsapp|telegram|vkshare|"
                           r"curl|wget|python-|httpclient|headless", re.IGNORECASE)
QR_TYPES = {"svg": "image/svg+xml", "png": "image/png"}


def page_url(code: str) -> str:
    """The page's absolute address, on the public URL the app is configured with (no request needed: the CLI)."""
    return f"{current_app.config['PUBLIC_URL'].rstrip('/')}{bp.url_prefix}/{code}"


def _live_or_404(code: str) -> EntryPoint:
    entry_point = entry_points.find_by_code(code)
    if entry_point is None or not entry_points.is_live(entry_point):
        # A person holding an old poster reads a sentence, never a stack trace.
        message = (_("This subscription link has expired or was withdrawn. Ask the business for a new one.")
                   if entry_point is not None else
                   _("There is no subscription page at this address. Check the link or scan the QR code again."))
        abort(Response(render_template("subscribe/missing.html", message=message), status=404))
    return entry_point


def _is_person() -> bool:
    agent = request.headers.get("User-Agent", "")
    return request.method == "GET" and bool(agent) and not _NOT_A_PERSON.search(agent)


@bp.get("/<code>")
def page(code: str):
    entry_point = _live_or_404(code)
    senders = entry_points.offered_senders([entry_point.id])[entry_point.id]
    links = entry_links.links_for(entry_point, senders)
    if _is_person():
        entry_points.count_visit(entry_point.id)
        db.session.commit()
    return render_template("subscribe/page.html", entry_point=entry_point, links=links,
                           business=entry_links.business_name(entry_point, senders),
                           labels=entry_links.MESSENGER_LABELS)


def _qr(url: str, kind: str, name: str) -> Response:
    if kind not in QR_TYPES:
        abort(404)
    body = entry_links.qr_svg(url) if kind == "svg" else entry_links.qr_png(url)
    response = Response(body, mimetype=QR_TYPES[kind])
    if request.args.get("download"):
        response.headers["Content-Disposition"] = f'attachment; filename="{name}.{kind}"'
    return response


@bp.get("/<code>/qr/page.<kind>")
def page_qr(code: str, kind: str):
    entry_point = _live_or_404(code)
    return _qr(page_url(entry_point.code), kind, f"subscribe-{entry_point.code}")


@bp.get("/<code>/qr/<int:sender_id>.<kind>")
def link_qr(code: str, sender_id: int, kind: str):
    entry_point = _live_or_404(code)
    senders = entry_points.offered_senders([entry_point.id])[entry_point.id]
    for link in entry_links.links_for(entry_point, senders):
        if link.sender.id == sender_id:
            return _qr(link.url, kind, f"{link.messenger}-{entry_point.code}")
    abort(404)
