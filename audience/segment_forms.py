"""The segment builder form, and its mapping to and from a definition. Forms validate, never write."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import FieldList, Form, FormField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from audience.segment_definition import MAX_ATTRIBUTES, MAX_TEXT
from audience.segments import MAX_DESCRIPTION, MAX_NAME
from audience.status import STATUS_LABELS

OP_LABELS = {
    "equals": _l("is"), "not_equals": _l("is not"), "contains": _l("contains"),
    "gt": _l("is more than"), "gte": _l("is at least"), "lt": _l("is less than"), "lte": _l("is at most"),
    "before": _l("is a date before"), "after": _l("is a date after"), "on": _l("is the date"),
}
LIST_PARTS = ("countries", "regions", "cities", "timezones", "tags")
ATTRIBUTE_ROWS = 3  # empty rows offered; more appear as rows are filled in and saved
LONG_LIST = 2000  # a comma-separated list may be long; the definition limits the number of items


class AttributeRowForm(Form):
    """One attribute condition: name, comparison, value. A plain Form: the builder carries the CSRF token."""

    name = StringField(_l("Attribute"), validators=[Optional(), Length(max=MAX_TEXT)])
    op = SelectField(
        _l("Comparison"), choices=[SelectChoice(op, label) for op, label in OP_LABELS.items()], default="equals"
    )
    value = StringField(_l("Value"), validators=[Optional(), Length(max=200)])


class SegmentForm(FlaskForm):
    name = StringField(
        _l("Segment name"), validators=[DataRequired(message=_l("Give the segment a name.")), Length(max=MAX_NAME)]
    )
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=MAX_DESCRIPTION)])
    countries = StringField(_l("Countries"), validators=[Length(max=LONG_LIST)],
                            description=_l("Names or codes, separated by commas: Россия, KZ."))
    regions = StringField(_l("Regions"), validators=[Length(max=LONG_LIST)],
                          description=_l("For example: Московская область, Татарстан."))
    cities = StringField(
        _l("Cities"), validators=[Length(max=LONG_LIST)], description=_l("For example: Москва, Казань.")
    )
    near_city = StringField(_l("Near the city"), validators=[Length(max=MAX_TEXT)])
    near_latitude = StringField(_l("or near latitude"), validators=[Length(max=30)])
    near_longitude = StringField(_l("and longitude"), validators=[Length(max=30)])
    near_km = StringField(_l("Within (km)"), validators=[Length(max=30)])
    timezones = StringField(
        _l("Time zones"), validators=[Length(max=LONG_LIST)], description=_l("For example: Europe/Moscow.")
    )
    tags = StringField(
        _l("Tags"), validators=[Length(max=LONG_LIST)], description=_l("Any of these tags, separated by commas.")
    )
    attributes = FieldList(FormField(AttributeRowForm), min_entries=ATTRIBUTE_ROWS, max_entries=MAX_ATTRIBUTES)
    status = SelectMultipleField(
        _l("Status"), choices=[SelectChoice(status.value, label) for status, label in STATUS_LABELS.items()],
        widget=ListWidget(prefix_label=False), option_widget=CheckboxInput(), validate_choice=False,
        description=_l("None ticked: every status."),
    )


def definition_from_form(form: SegmentForm) -> dict[str, Any]:
    """The raw definition the builder describes; ``parse_definition`` checks it."""
    data: dict[str, Any] = {part: getattr(form, part).data or "" for part in LIST_PARTS}
    near = {"city": form.near_city.data, "latitude": form.near_latitude.data,
            "longitude": form.near_longitude.data, "km": form.near_km.data}
    if any((value or "").strip() for value in near.values()):
        data["near"] = {key: value.strip() for key, value in near.items() if (value or "").strip()}
    data["attributes"] = [
        {"name": row.form.name.data or "", "op": row.form.op.data, "value": row.form.value.data or ""}
        for row in form.attributes if (row.form.name.data or "").strip() or (row.form.value.data or "").strip()
    ]
    data["status"] = list(form.status.data or [])
    return {part: value for part, value in data.items() if value}


def form_data(name: str, description: str, definition: dict[str, Any]) -> dict[str, Any]:
    """What the builder shows for a saved segment."""
    data: dict[str, Any] = {part: ", ".join(definition.get(part, [])) for part in LIST_PARTS}
    near = definition.get("near") or {}
    data.update(name=name, description=description, near_city=near.get("city") or "",
                near_latitude=_text(near.get("latitude")), near_longitude=_text(near.get("longitude")),
                near_km=_text(near.get("km")), status=definition.get("status", []))
    rows = list(definition.get("attributes", []))
    data["attributes"] = rows + [{}] * max(1, ATTRIBUTE_ROWS - len(rows)) if len(rows) < MAX_ATTRIBUTES else rows
    return data


def _text(value: Any) -> str:
    return "" if value is None else str(value)
