"""JSON API of entry points under /api/v1 (marketers and admins): list, create, read, archive, and mint a
personal token for a known contact. Errors are problem details (``web/problems.py``)."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from flask_babel import gettext as _
from flask_login import current_user

from accounts.json_body import json_body
from accounts.models import Role
from accounts.roles import role_required
from campaigns import entry_links, entry_points
from campaigns.api import bp
from campaigns.campaign_specs import parse_send_at
from campaigns.entry_point_models import EntryPoint, EntryToken
from campaigns.entry_points import Changes, EntryPointError
from campaigns.subscribe_views import page_url
from extensions import db


def _actor():
    return current_user._get_current_object()


def _iso(moment) -> str | None:
    return moment.isoformat() if moment else None


def _entry_point(reference: str) -> EntryPoint:
    entry_point = entry_points.find_entry_point(reference)
    if entry_point is None:
        raise EntryPointError(_("There is no entry point with this id or code."), status=404)
    return entry_point


def entry_point_json(entry_point: EntryPoint) -> dict[str, Any]:
    senders = entry_points.offered_senders([entry_point.id])[entry_point.id]
    return {"id": entry_point.id, "name": entry_point.name, "code": entry_point.code, "keyword": entry_point.keyword,
            "campaign_id": entry_point.campaign_id, "source_label": entry_point.source_label,
            "expires_at": _iso(entry_point.expires_at), "archived_at": _iso(entry_point.archived_at),
            "live": entry_points.is_live(entry_point), "senders": [sender.id for sender in senders],
            "visits": entry_point.visits, "starts": entry_point.starts, "opt_ins": entry_point.opt_ins,
            "page_url": page_url(entry_point.code),
            "links": [entry_links.link_json(link) for link in entry_links.links_for(entry_point, senders)]}


def token_json(token: EntryToken, entry_point: EntryPoint) -> dict[str, Any]:
    senders = entry_points.offered_senders([entry_point.id])[entry_point.id]
    return {"token": token.token, "entry_point": entry_point.code, "contact_id": token.contact_id,
            "expires_at": _iso(token.expires_at),
            "links": [entry_links.link_json(link) for link in entry_links.links_for(entry_point, senders, token.token)]}


def _moment(body: dict[str, Any], key: str):
    value = body.get(key)
    if value in (None, ""):
        return None
    try:
        return parse_send_at(value)
    except (TypeError, ValueError):
        raise EntryPointError(_("%(field)s: give an ISO 8601 time, such as 2026-12-31T23:59:00+03:00.", field=key),
                              field=key) from None


def _changes(body: dict[str, Any]) -> Changes:
    senders = body.get("senders")
    if not isinstance(senders, list) or not all(isinstance(item, int) and not isinstance(item, bool)
                                                for item in senders):
        raise EntryPointError(_("senders: give a list of sender ids."), field="senders")
    campaign = body.get("campaign_id")
    if campaign is not None and (not isinstance(campaign, int) or isinstance(campaign, bool)):
        raise EntryPointError(_("campaign_id: give a campaign id or null."), field="campaign_id")
    return Changes(name=str(body.get("name") or ""), sender_ids=tuple(senders),
                   keyword=str(body.get("keyword") or entry_points.DEFAULT_KEYWORD), campaign_id=campaign,
                   source_label=str(body.get("source_label") or ""), expires_at=_moment(body, "expires_at"))


@bp.get("/entry-points")
@role_required(Role.MARKETER)
def entry_points_list():
    return jsonify(entry_points=[entry_point_json(row) for row in entry_points.list_entry_points()])


@bp.post("/entry-points")
@role_required(Role.MARKETER)
def create_entry_point():
    """``{"name", "senders": [ids], "keyword", "campaign_id", "source_label", "expires_at"}``."""
    entry_point = entry_points.create_entry_point(_changes(json_body()), actor=_actor())
    db.session.commit()
    return jsonify(entry_point_json(entry_point)), 201


@bp.get("/entry-points/<reference>")
@role_required(Role.MARKETER)
def entry_point_detail(reference: str):
    return jsonify(entry_point_json(_entry_point(reference)))


@bp.post("/entry-points/<reference>/archive")
@role_required(Role.MARKETER)
def archive_entry_point(reference: str):
    entry_point = entry_points.set_archived(_entry_point(reference), True, actor=_actor())
    db.session.commit()
    return jsonify(entry_point_json(entry_point))


@bp.post("/entry-points/<reference>/tokens")
@role_required(Role.MARKETER)
def mint_entry_token(reference: str):
    """``{"contact": id or phone, "expires_at": ISO 8601 | null}``: a personal token and its bots' deep links."""
    body = json_body()
    entry_point = _entry_point(reference)
    contact = body.get("contact")
    if not isinstance(contact, (int, str)) or isinstance(contact, bool) or not str(contact).strip():
        raise EntryPointError(_("contact: give the contact's id or phone number."), field="contact")
    token = entry_points.mint_for(entry_point, str(contact), expires_at=_moment(body, "expires_at"), actor=_actor())
    db.session.commit()
    return jsonify(token_json(token, entry_point)), 201
