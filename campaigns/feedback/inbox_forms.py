"""Forms of the inbox pages. They validate; they never write."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, TextAreaField
from wtforms.validators import Length, Optional

from campaigns.feedback import free_text


class ReplyForm(FlaskForm):
    """The reply box: the text, and the key the page made for it (posting the form twice sends once)."""

    text = TextAreaField(_l("Reply"), validators=[Length(max=free_text.MAX_TEXT)],
                         render_kw={"rows": 4, "maxlength": free_text.MAX_TEXT})
    key = HiddenField()


class DecisionForm(FlaskForm):
    """The decision on an unsure reply: the button pressed says which (``decision`` = refusal | not_refusal)."""

    note = TextAreaField(_l("Note (optional)"), validators=[Optional(), Length(max=2000)], render_kw={"rows": 2})
