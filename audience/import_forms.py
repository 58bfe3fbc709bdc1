"""Forms of the import pages: the upload, and the mapping confirmed after the preview."""

from __future__ import annotations

import phonenumbers
from babel import Locale
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, SelectField, StringField
from wtforms.validators import Length, ValidationError

from audience.columns import FIELD_LABELS, FIELDS


class UploadForm(FlaskForm):
    file = FileField(
        _l("CSV or Excel (.xlsx) file"),
        validators=[FileRequired()],
        description=_l(
            "UTF-8 or Windows-1251, separated by commas, semicolons or tabs; or the first sheet of a workbook."
        ),
    )


def region_choices() -> list[tuple[str, str]]:
    names = Locale.parse(str(get_locale() or "en")).territories
    return sorted(((code, f"{names.get(code, code)} ({code})") for code in phonenumbers.SUPPORTED_REGIONS),
                  key=lambda choice: choice[1])


class MappingForm(FlaskForm):
    """One select per contact field; the choices are the file's headers, set by the view."""

    sheet = SelectField(_l("Sheet"), choices=[], validate_choice=False)
    default_region = SelectField(_l("Country of numbers without a country code"), choices=[])
    attest = BooleanField(_l("Everyone in this file opted in to receive WhatsApp messages from us"))
    consent_source = StringField(
        _l("How they opted in"),
        validators=[Length(max=300)],
        description=_l("For example: website form, checkbox text v3. Kept as each contact's consent proof."),
    )

    def set_headers(self, headers: list[str]) -> None:
        choices = [("", "—"), *((header, header) for header in headers)]
        for name in FIELDS:
            getattr(self, f"map_{name}").choices = choices
        self.default_region.choices = region_choices()

    def mapping(self) -> dict[str, str]:
        return {name: getattr(self, f"map_{name}").data or "" for name in FIELDS}

    def validate_consent_source(self, field) -> None:
        if not self.map_consent.data and not (self.attest.data and field.data.strip()):
            raise ValidationError(
                _l(
                    "The file has no consent column: tick the box and say how these people opted in, "
                    "or choose the consent column."
                )
            )


for _name in FIELDS:
    setattr(MappingForm, f"map_{_name}", SelectField(FIELD_LABELS[_name], choices=[], validate_choice=True))
