"""Forms of the accounts pages. They validate; they never write."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField
from wtforms.fields import IntegerField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length, NumberRange, Optional

from accounts.models import Role
from accounts.roles import ROLE_LABELS

LANGUAGE_CHOICES = [SelectChoice("en", "English"), SelectChoice("ru", "Русский")]


def role_choices():
    """Role names shown in the UI, translated."""
    return [SelectChoice(role.value, label) for role, label in ROLE_LABELS.items()]


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])
    remember = BooleanField(_l("Keep me signed in on this computer"))


class InviteForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    name = StringField(_l("Name"), validators=[Optional(), Length(max=120)])
    role = SelectField(_l("Role"), choices=role_choices, default=Role.MARKETER.value)
    language = SelectField(_l("Language"), choices=LANGUAGE_CHOICES)


class RoleForm(FlaskForm):
    role = SelectField(_l("Role"), choices=role_choices)


class EmptyForm(FlaskForm):
    """A form with only the CSRF token, for buttons that post."""


class SetPasswordForm(FlaskForm):
    password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=1024)])
    confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[DataRequired(), EqualTo("password", message=_l("The passwords differ."))],
    )


class ChangePasswordForm(SetPasswordForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=1024)])


class ProfileForm(FlaskForm):
    name = StringField(_l("Name"), validators=[Optional(), Length(max=120)])
    language = SelectField(_l("Language"), choices=LANGUAGE_CHOICES)


class TokenForm(FlaskForm):
    name = StringField(_l("Token name"), validators=[DataRequired(), Length(max=80)])
    expires_in_days = IntegerField(
        _l("Expires after (days, empty for never)"), validators=[Optional(), NumberRange(min=1, max=3650)]
    )
