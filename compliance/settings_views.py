"""Compliance settings (admins): reply keywords, send windows and caps, the channel rule, spam rules, the registry."""

from __future__ import annotations

import json
import re
from typing import Any

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from accounts.forms import EmptyForm
from accounts.models import Role
from accounts.roles import role_required
from compliance import policy
from compliance.forms import ChannelRulesForm, JsonSectionForm, KeywordsForm, SendingForm
from compliance.views import bp
from extensions import db

SECTION_TITLES = {
    "keywords": _l("Reply keywords"),
    "sending": _l("Send windows and frequency caps"),
    "channels": _l("Channels restricted in Russia"),
    "spam": _l("Spam-likeness rules"),
    "registry": _l("Restricted platforms"),
}
_WINDOW = re.compile(r"\s*(\d{1,2}:\d{2})\s*[-–—]\s*(\d{1,2}:\d{2})\s*")


class SettingsFormError(ValueError):
    """What the admin typed cannot be read; the message names the field."""


def _lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _window(text: str, label: str) -> dict[str, str]:
    match = _WINDOW.fullmatch(text or "")
    if not match:
        raise SettingsFormError(_("Write the window for %(label)s as two times, for example 09:00-21:00.", label=label))
    return {"start": match[1].zfill(5), "end": match[2].zfill(5)}


def _window_text(window: dict[str, str]) -> str:
    return f"{window['start']}-{window['end']}"


def _cap(text: str | None) -> Any:
    text = (text or "").strip()
    if not text:
        return None
    return (
        int(text) if text.isascii() and text.isdigit() else text
    )  # anything else is refused by the rules with a sentence


def _keywords_to_data(form: KeywordsForm) -> dict[str, Any]:
    return {name: _lines(getattr(form, name).data) for name in ("opt_out", "opt_in", "help")}


def _sending_to_data(form: SendingForm) -> dict[str, Any]:
    countries = {}
    for line in _lines(form.country_windows.data):
        code, _space, window = line.partition(" ")
        countries[code.upper()] = _window(window, code.upper())
    return {
        **policy.section_data("sending"),
        "window": _window(form.window.data, _("all countries")),
        "country_windows": countries,
        "cap_per_day": _cap(form.cap_per_day.data),
        "cap_per_week": _cap(form.cap_per_week.data),
    }


def _json_to_data(form: JsonSectionForm) -> dict[str, Any]:
    try:
        return json.loads(form.content.data)
    except json.JSONDecodeError as error:
        raise SettingsFormError(_("This is not valid JSON: %(problem)s at line %(line)d, column %(column)d.",
                                  problem=error.msg, line=error.lineno, column=error.colno)) from None


def _channels_to_data(form: ChannelRulesForm) -> dict[str, Any]:
    return {"restricted_channels": list(form.restricted_channels.data or []),
            "marketing_mode": form.marketing_mode.data, "covered_by_41fz": bool(form.covered_by_41fz.data)}


FORMS = {
    "keywords": (KeywordsForm, _keywords_to_data),
    "sending": (SendingForm, _sending_to_data),
    "channels": (ChannelRulesForm, _channels_to_data),
    "spam": (JsonSectionForm, _json_to_data),
    "registry": (JsonSectionForm, _json_to_data),
}


def _filled_form(section: str):
    """The section's form showing what is stored now."""
    data = policy.section_data(section)
    form_class = FORMS[section][0]
    if section == "keywords":
        return form_class(formdata=None, prefix=section, **{name: "\n".join(words) for name, words in data.items()})
    if section == "sending":
        return form_class(
            formdata=None, prefix=section, window=_window_text(data["window"]),
            country_windows="\n".join(f"{code} {_window_text(item)}" for code, item in data["country_windows"].items()),
            cap_per_day="" if data["cap_per_day"] is None else str(data["cap_per_day"]),
            cap_per_week="" if data["cap_per_week"] is None else str(data["cap_per_week"]),
        )
    if section == "channels":
        return form_class(formdata=None, prefix=section, **data)
    return form_class(formdata=None, prefix=section, content=json.dumps(data, ensure_ascii=False, indent=2))


def _page(forms: dict[str, Any], status: int = 200):
    return render_template(
        "compliance/settings.html", forms=forms, titles=SECTION_TITLES, reset_form=EmptyForm(),
        customised={name: policy.is_customised(name) for name in SECTION_TITLES},
    ), status


@bp.get("/compliance/settings")
@role_required(Role.ADMIN)
def settings():
    return _page({name: _filled_form(name) for name in SECTION_TITLES})


@bp.post("/compliance/settings/<section>")
@role_required(Role.ADMIN)
def save_settings(section: str):
    if section not in FORMS:
        abort(404)
    form_class, to_data = FORMS[section]
    form = form_class(prefix=section)
    if form.validate_on_submit():
        try:
            policy.save_section(section, to_data(form), current_user._get_current_object())
        except ValueError as error:  # SettingsFormError and the rules' own sentences
            db.session.rollback()
            form.form_errors.append(str(error))
        else:
            db.session.commit()
            flash(_("%(section)s saved.", section=SECTION_TITLES[section]), "info")
            return redirect(url_for("compliance.settings", _anchor=section))
    forms = {name: _filled_form(name) for name in SECTION_TITLES}
    forms[section] = form
    return _page(forms, status=400)


@bp.post("/compliance/settings/<section>/reset")
@role_required(Role.ADMIN)
def reset_settings(section: str):
    if section not in FORMS or not EmptyForm().validate_on_submit():
        abort(404 if section not in FORMS else 400)
    policy.reset_section(section, current_user._get_current_object())
    db.session.commit()
    flash(_("%(section)s are back to the defaults.", section=SECTION_TITLES[section]), "info")
    return redirect(url_for("compliance.settings", _anchor=section))
