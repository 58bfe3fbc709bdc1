"""Entry point pages on the campaigns blueprint (marketers and admins): the list with the counters, add and
edit one, archive and restore it, its links and QR codes (SVG and PNG downloads) and a printable sheet."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from accounts.forms import EmptyForm
from accounts.models import Role
from accounts.roles import role_required
from campaigns import entry_links, entry_points
from campaigns.entry_point_forms import EntryPointForm, changes_of, form_data
from campaigns.entry_point_models import EntryPoint
from campaigns.subscribe_views import page_url
from campaigns.views import bp
from domain_errors import DomainError
from extensions import db


def _actor():
    return current_user._get_current_object()


def _entry_point_or_404(entry_point_id: int) -> EntryPoint:
    return db.session.get(EntryPoint, entry_point_id) or abort(404)


@bp.get("/entry-points")
@role_required(Role.MARKETER)
def entry_point_list():
    archived = request.args.get("archived") == "1"
    rows = entry_points.list_entry_points(archived=archived)
    offered = entry_points.offered_senders([row.id for row in rows])
    return render_template("campaigns/entry_point_list.html", entry_points=rows, offered=offered, archived=archived,
                           is_live=entry_points.is_live, labels=entry_links.MESSENGER_LABELS,
                           messenger_of=entry_links.messenger_of)


def _form_page(form: EntryPointForm, entry_point: EntryPoint | None, errors=(), status: int = 200):
    links, url = [], None
    if entry_point is not None:
        senders = entry_points.offered_senders([entry_point.id])[entry_point.id]
        links, url = entry_links.links_for(entry_point, senders), page_url(entry_point.code)
    return render_template("campaigns/entry_point_form.html", form=form, entry_point=entry_point, links=links,
                           page_url=url, errors=list(errors), action_form=EmptyForm(),
                           live=entry_point is not None and entry_points.is_live(entry_point),
                           labels=entry_links.MESSENGER_LABELS), status


@bp.get("/entry-points/new")
@role_required(Role.MARKETER)
def new_entry_point():
    form = EntryPointForm(formdata=None)
    form.fill()
    return _form_page(form, None)


@bp.post("/entry-points/new")
@role_required(Role.MARKETER)
def create_entry_point():
    return _save(None)


@bp.get("/entry-points/<int:entry_point_id>")
@role_required(Role.MARKETER)
def entry_point_detail(entry_point_id: int):
    entry_point = _entry_point_or_404(entry_point_id)
    senders = entry_points.offered_senders([entry_point.id])[entry_point.id]
    form = EntryPointForm(formdata=None, data=form_data(entry_point, [sender.id for sender in senders]))
    form.fill()
    return _form_page(form, entry_point)


@bp.post("/entry-points/<int:entry_point_id>")
@role_required(Role.MARKETER)
def save_entry_point(entry_point_id: int):
    return _save(_entry_point_or_404(entry_point_id))


def _save(entry_point: EntryPoint | None):
    form = EntryPointForm()
    form.fill()
    if not form.validate_on_submit():
        return _form_page(form, entry_point, status=400)
    try:
        if entry_point is None:
            entry_point = entry_points.create_entry_point(changes_of(form), actor=_actor())
        else:
            entry_points.update_entry_point(entry_point, changes_of(form), actor=_actor())
    except DomainError as error:
        db.session.rollback()
        return _form_page(form, entry_point, error.errors, error.status)
    db.session.commit()
    flash(_("The entry point “%(name)s” is saved; its links and QR codes are below.", name=entry_point.name), "info")
    return redirect(url_for("campaigns.entry_point_detail", entry_point_id=entry_point.id))


@bp.post("/entry-points/<int:entry_point_id>/archive")
@role_required(Role.MARKETER)
def archive_entry_point(entry_point_id: int):
    return _set_archived(entry_point_id, True)


@bp.post("/entry-points/<int:entry_point_id>/restore")
@role_required(Role.MARKETER)
def restore_entry_point(entry_point_id: int):
    return _set_archived(entry_point_id, False)


def _set_archived(entry_point_id: int, archived: bool):
    entry_point = _entry_point_or_404(entry_point_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    entry_points.set_archived(entry_point, archived, actor=_actor())
    db.session.commit()
    flash(_("The entry point is archived: its page, links and QR codes no longer take people in.") if archived
          else _("The entry point is back: its page, links and QR codes take people in again."), "info")
    return redirect(url_for("campaigns.entry_point_detail", entry_point_id=entry_point_id))


@bp.get("/entry-points/<int:entry_point_id>/print")
@role_required(Role.MARKETER)
def print_entry_point(entry_point_id: int):
    entry_point = _entry_point_or_404(entry_point_id)
    senders = entry_points.offered_senders([entry_point.id])[entry_point.id]
    return render_template("campaigns/entry_point_print.html", entry_point=entry_point,
                           live=entry_points.is_live(entry_point),
                           links=entry_links.links_for(entry_point, senders), page_url=page_url(entry_point.code),
                           business=entry_links.business_name(entry_point, senders),
                           labels=entry_links.MESSENGER_LABELS)
