"""The lint playground: paste a text, see what the compliance guard makes of it."""

from __future__ import annotations

from flask import render_template

from accounts.roles import role_required
from compliance.forms import LintForm
from compliance.lint import LintReport
from compliance.policy import current_policy
from compliance.verdict import OUTCOME_LABELS
from compliance.views import bp


def highlighted(report: LintReport) -> list[tuple[str, str | None]]:
    """The text cut into pieces, each marked with what it is: a mention, a blocked link or plain text."""
    marks = sorted(
        [(m.start, m.end, "mention") for m in report.mentions]
        + [(link.start, link.end, "link") for link in report.links]
    )
    pieces, cursor = [], 0
    for start, end, kind in marks:
        if start < cursor:
            continue
        pieces += [(report.text[cursor:start], None), (report.text[start:end], kind)]
        cursor = end
    pieces.append((report.text[cursor:], None))
    return [piece for piece in pieces if piece[0]]


@bp.route("/lint", methods=["GET", "POST"])
@role_required()
def lint_playground():
    form = LintForm()
    report = None
    if form.validate_on_submit():
        report = current_policy().lint(form.text.data, form.language.data)
    return render_template(
        "compliance/lint.html",
        form=form,
        report=report,
        pieces=highlighted(report) if report else [],
        outcome_labels=OUTCOME_LABELS,
    )
