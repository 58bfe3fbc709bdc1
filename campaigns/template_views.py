"""Template pages on the campaigns blueprint: the list (search, filters, sort, tags, archive), the
editor with its live preview, and the template page with its versions.

Marketers and admins write templates; every signed-in role reads them; only admins set the
provider's status. The editor works without JavaScript (its "Preview" button posts the form);
with it, ``static/template_preview.js`` posts the form to ``template_preview`` as the user types
and redraws the WhatsApp-like bubble, the lint verdicts and the rule violations from the JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from accounts.models import Role
from accounts.roles import role_required
from campaigns import message_templates as templates
from campaigns import template_approvals
from campaigns.flashing import commit_or_flash
from campaigns.models import Sender, Template, TemplateCategory, TemplateStatus
from campaigns.sender_forms import TestSendForm
from campaigns.serialisers import template_json
from campaigns.template_forms import (
    EXAMPLE_PREFIX,
    SORT_LABELS,
    ActionForm,
    StatusForm,
    TemplateForm,
    form_data,
    new_form_data,
    posted_examples,
    template_form_data,
)
from campaigns.template_rules import opt_out_suggestions
from campaigns.views import bp
from compliance.verdict import OUTCOME_LABELS
from dbtypes import parse_id
from extensions import db


def _can_edit() -> bool:
    return current_user.has_role(Role.MARKETER)


def _template_or_404(template_id: int) -> Template:
    return db.session.get(Template, template_id) or abort(404)


def _posted_template(template_id: int) -> Template:
    """The template an action button was pressed for; 400 when the form's CSRF token is wrong."""
    template = _template_or_404(template_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    return template


def _saved(change: Callable[[], object]) -> bool:
    """Run ``change`` and commit it; on refusal roll back, flash its sentences and say so."""
    return commit_or_flash(change)


def _labels() -> dict[str, Any]:
    outcome_labels = {outcome.value: str(label) for outcome, label in OUTCOME_LABELS.items()}
    return {"status_labels": templates.STATUS_LABELS, "category_labels": templates.CATEGORY_LABELS,
            "outcome_labels": outcome_labels, "outcome_labels_json": json.dumps(outcome_labels, ensure_ascii=False)}


@bp.get("/templates")
@role_required()
def template_list():
    args = request.args
    archived = args.get("archived") == "1"
    sort = args.get("sort") if args.get("sort") in SORT_LABELS else "updated"
    filters = {"search": args.get("search", "")[:templates.MAX_SEARCH], "status": args.get("status", ""),
               "category": args.get("category", ""), "language": args.get("language", ""), "tag": args.get("tag", "")}
    offset = parse_id(args.get("offset")) or 0
    page = templates.list_templates(**filters, archived=archived, sort=sort, offset=offset)

    def page_url(**changes) -> str:
        query = {**filters, "sort": sort if sort != "updated" else "", "archived": "1" if archived else "", **changes}
        return url_for("campaigns.template_list", **{key: value for key, value in query.items() if value})

    return render_template(
        "campaigns/template_list.html", page=page, filters=filters, sort=sort, archived=archived, page_url=page_url,
        sort_labels=SORT_LABELS, statuses=list(TemplateStatus), categories=list(TemplateCategory),
        languages=templates.languages_in_use(), tags=templates.tags_in_use(), can_edit=_can_edit(),
        tags_of=templates.tags_of, page_size=templates.PAGE_SIZE, **_labels(),
    )


def _editor(form: TemplateForm, template: Template | None, examples: dict[str, str], errors=(), status: int = 200):
    data = form_data(form, examples)
    shown = templates.preview(data)
    # One example field per variable of the text as it stands, keeping what was typed.
    example_fields = [(name, examples.get(name, "")) for name in shown["preview"]["variables"]]
    action = (
        url_for("campaigns.save_template", template_id=template.id)
        if template
        else url_for("campaigns.create_template")
    )
    return render_template(
        "campaigns/template_form.html", form=form, template=template, errors=list(errors), action=action,
        preview=shown["preview"], sms=shown["sms"], violations=shown["violations"], warnings=shown["warnings"],
        example_fields=example_fields, example_prefix=EXAMPLE_PREFIX,
        opt_out_suggestions=json.dumps(opt_out_suggestions(), ensure_ascii=False), **_labels(),
    ), status


@bp.get("/templates/new")
@role_required(Role.MARKETER)
def new_template():
    language = current_user.language if current_user.language in ("ru", "en") else "ru"
    return _editor(TemplateForm(formdata=None, data=new_form_data(language)), None, {})


@bp.post("/templates/new")
@role_required(Role.MARKETER)
def create_template():
    return _submit_editor(None)


@bp.get("/templates/<int:template_id>/edit")
@role_required(Role.MARKETER)
def edit_template(template_id: int):
    template = _template_or_404(template_id)
    return _editor(
        TemplateForm(formdata=None, data=template_form_data(template)), template, dict(template.examples or {})
    )


@bp.post("/templates/<int:template_id>/edit")
@role_required(Role.MARKETER)
def save_template(template_id: int):
    return _submit_editor(_template_or_404(template_id))


def _submit_editor(template: Template | None):
    """Preview (the no-JavaScript button) or save the editor's form."""
    form = TemplateForm()
    examples = posted_examples(request.form)
    if request.form.get("action") == "preview":
        return _editor(form, template, examples)
    if not form.validate_on_submit():
        return _editor(form, template, examples, status=400)
    data = form_data(form, examples)
    actor = current_user._get_current_object()
    try:
        if template is None:
            saved = templates.create_template(data, actor=actor)
        else:
            saved = templates.update_template(template, data, actor=actor)
    except templates.TemplateError as error:
        db.session.rollback()
        return _editor(form, template, examples, error.errors, 400)
    db.session.commit()
    if template is not None and saved.id != template.id:
        flash(
            _(
                "The provider had already reviewed “%(name)s”, so your changes are saved as version %(version)d, "
                "a draft to submit.",
                name=saved.name,
                version=saved.version,
            ),
            "info",
        )
    else:
        flash(_("The template “%(name)s” is saved.", name=saved.name), "info")
    return redirect(url_for("campaigns.template_detail", template_id=saved.id))


@bp.get("/templates/<int:template_id>")
@role_required()
def template_detail(template_id: int):
    template = _template_or_404(template_id)
    shown = templates.preview(template_json(template))
    status_form = StatusForm(formdata=None, data={"status": template.status.value})
    status_form.fill()
    # The inbox links here with the number and the sender of a conversation whose 24-hour window is closed.
    test_form = TestSendForm(formdata=None, data={"to": request.args.get("to", "")[:40]})
    test_form.fill(template, sender_id=parse_id(request.args.get("sender")))
    return render_template(
        "campaigns/template_detail.html", template=template, versions=templates.versions(template),
        preview=shown["preview"], sms=shown["sms"], violations=shown["violations"], warnings=shown["warnings"],
        tags=templates.tags_of(template), approvals=template_approvals.senders_by_status(template),
        reason_text=template_approvals.reason_text,
        can_edit=_can_edit(), is_admin=current_user.has_role(Role.ADMIN), action_form=ActionForm(),
        status_form=status_form, can_submit=template_approvals.can_submit(template),
        can_change=template.is_current and template.status is not TemplateStatus.PENDING,
        test_form=test_form, test_action=url_for("campaigns.test_send_template", template_id=template.id),
        **_labels(),
    )


@bp.post("/templates/<int:template_id>/submit")
@role_required(Role.MARKETER)
def submit_template(template_id: int):
    template = _posted_template(template_id)
    outcome: list[template_approvals.Submission] = []
    actor = current_user._get_current_object()
    if not _saved(lambda: outcome.append(template_approvals.submit(template, actor=actor))):
        return redirect(url_for("campaigns.template_detail", template_id=template_id))
    submission = outcome[0]
    for approval in submission.approvals:
        if approval.status is TemplateStatus.REJECTED:
            flash(_("The provider rejected the template: %(reason)s",
                    reason=template_approvals.reason_text(approval.reason)), "error")
        elif approval.status is TemplateStatus.APPROVED:
            flash(_("The provider approved the template; campaigns can use it now."), "info")
        else:
            flash(_("The template is submitted; the provider's decision will show here."), "info")
    for _account, sentence in submission.failures:
        flash(sentence, "error")
    return redirect(url_for("campaigns.template_detail", template_id=template_id))


@bp.post("/templates/<int:template_id>/archive")
@role_required(Role.MARKETER)
def archive_template(template_id: int):
    template = _posted_template(template_id)
    archived = request.form.get("archived") != "0"
    current = templates.set_archived(template, archived, actor=current_user._get_current_object())
    db.session.commit()
    flash(_("The template is archived; it is hidden from the list until you restore it.") if archived
          else _("The template is back in the list."), "info")
    return redirect(url_for("campaigns.template_detail", template_id=current.id))


@bp.post("/templates/<int:template_id>/status")
@role_required(Role.ADMIN)
def set_template_status(template_id: int):
    template = _template_or_404(template_id)
    form = StatusForm()
    form.fill()
    if not form.validate_on_submit():
        abort(400)
    sender = db.session.get(Sender, parse_id(form.sender.data)) if parse_id(form.sender.data or "") else None
    if not _saved(lambda: template_approvals.set_status(template, form.status.data, form.reason.data or "",
                                                        actor=current_user._get_current_object(), sender=sender)):
        return redirect(url_for("campaigns.template_detail", template_id=template_id))
    flash(_("The provider status is now “%(status)s”.", status=templates.STATUS_LABELS[template.status]), "info")
    return redirect(url_for("campaigns.template_detail", template_id=template_id))


@bp.post("/templates/preview")
@role_required()
def template_preview():
    """The editor's live preview: the form as posted in; the bubble, the lint and the violations out."""
    form = TemplateForm()
    if not form.validate_on_submit():
        errors = [error for field_errors in form.errors.values() for error in field_errors if isinstance(error, str)]
        errors = errors or [_("The form has expired; reload the page.")]
        return jsonify(error=errors[0], errors=errors), 400
    return jsonify(templates.preview(form_data(form, posted_examples(request.form))))
