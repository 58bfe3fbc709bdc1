"""The contact edit form (name, city, tags, attributes), mapped to the changes ``contact_edits`` takes. Forms
validate, never write."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import Length, Optional

from audience.models import Contact


class ContactEditForm(FlaskForm):
    name = StringField(_l("Name"), validators=[Optional(), Length(max=200)],
                       description=_l("Changed alone, it is split into its parts again."))
    last_name = StringField(_l("Last name"), validators=[Optional(), Length(max=100)])
    first_name = StringField(_l("First name"), validators=[Optional(), Length(max=100)])
    patronymic = StringField(_l("Patronymic"), validators=[Optional(), Length(max=100)])
    city = StringField(_l("City"), validators=[Optional(), Length(max=120)],
                       description=_l("A new city is placed again: region, coordinates and time zone."))
    tags = StringField(_l("Tags"), validators=[Optional(), Length(max=1000)],
                       description=_l("Separated by commas."))
    attributes = TextAreaField(_l("Attributes"), validators=[Optional(), Length(max=20000)],
                               description=_l("One per line, as “name: value”; a line left out removes it."))

    def fill(self, contact: Contact) -> None:
        """The form showing ``contact`` as it is (for a GET)."""
        self.name.data, self.city.data = contact.name or "", contact.city or ""
        self.first_name.data, self.patronymic.data = contact.first_name or "", contact.patronymic or ""
        self.last_name.data = contact.last_name or ""
        self.tags.data = ", ".join(tag for tag in (contact.tags or "").split("|") if tag)
        self.attributes.data = "\n".join(f"{key}: {value}" for key, value in sorted((contact.attributes or {}).items()))

    def changes(self) -> dict[str, Any]:
        """What the form says, as ``contact_edits.edit_contact`` takes it."""
        attributes = {}
        for line in (self.attributes.data or "").splitlines():
            key, _colon, value = line.partition(":")
            if key.strip():
                attributes[key.strip()] = value.strip()
        return {"name": self.name.data or "", "first_name": self.first_name.data or "",
                "patronymic": self.patronymic.data or "", "last_name": self.last_name.data or "",
                "city": self.city.data or "", "tags": self.tags.data or "", "attributes": attributes}
