"""Templates of each business account: submission, the sandbox's deterministic decision, reading with paging.

The decision rules (documented in docs/sandbox.md), checked in this order:

1. INVALID_FORMAT: the body has no words besides its variables, or its variables are not {{1}}…{{n}}
   (positional) / not names (named).
2. ABUSIVE_CONTENT: any text or button URL links to or names a restricted platform (Instagram,
   Facebook, Threads, Messenger links; the words instagram/facebook/инстаграм/фейсбук).
3. SCAM: a link through a URL shortener (bit.ly, tinyurl.com, goo.gl, clck.ru, cutt.ly).
4. INCORRECT_CATEGORY: a UTILITY or AUTHENTICATION template whose text reads as marketing (a word
   such as скидка, акция, распродажа, промокод, sale, discount, offer, promo, or a percentage).
5. Otherwise APPROVED.

A name ending in ``_pending`` is never decided by itself (only ``POST /_sandbox/templates/…`` decides
it); a name ending in ``_slow`` waits at least ``slow_template_delay_ms``.

An edit (``POST /{template_id}``, :func:`apply_edit`) follows Meta's rules: only an approved, rejected or
paused template can be edited; name and language never change; an approved template keeps its category and
can be edited once in 24 hours and ten times in 30 days (rejected and paused ones without limit); the edited
template is pending and decided again by the same rules.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from channels.sandbox import errors

CATEGORIES = ("MARKETING", "UTILITY", "AUTHENTICATION")
FORMATS = ("POSITIONAL", "NAMED")
STATUSES = ("APPROVED", "PENDING", "REJECTED", "PAUSED", "DISABLED", "IN_APPEAL", "PENDING_DELETION", "DELETED",
            "LIMIT_EXCEEDED", "ARCHIVED")
READABLE_FIELDS = ("id", "name", "language", "status", "category", "rejected_reason", "parameter_format",
                   "components", "previous_category")
DEFAULT_FIELDS = ("id", "name", "language", "status", "category", "parameter_format", "components")

VARIABLE = re.compile(r"\{\{\s*([^{}\s]+)\s*\}\}")
NAME = re.compile(r"^[a-z0-9_]{1,512}$")
NAMED_VARIABLE = re.compile(r"^[a-z][a-z0-9_]*$")
RESTRICTED = re.compile(
    r"(instagram\.com|instagr\.am|facebook\.com|fb\.com|fb\.me|m\.me/|threads\.net|messenger\.com"
    r"|\binstagram\b|\bfacebook\b|инстаграм|фейсбук)", re.IGNORECASE)
SHORTENER = re.compile(r"\b(bit\.ly|tinyurl\.com|goo\.gl|clck\.ru|cutt\.ly)/", re.IGNORECASE)
MARKETING = re.compile(
    r"(скидк|акци[яию]|распродаж|промокод|выгод|\bsale\b|discount|\boffer|\bpromo|\d+\s?%)", re.IGNORECASE)

PAGE_SIZE = 25
EDITABLE = ("APPROVED", "REJECTED", "PAUSED")
DAY_S, MONTH_S = 24 * 3600, 30 * 24 * 3600


@dataclass
class Template:
    id: str
    waba_id: str
    name: str
    language: str
    category: str
    parameter_format: str
    components: list[dict[str, Any]]
    status: str = "PENDING"
    reason: str = "NONE"
    previous_category: str | None = None
    forced: bool = False  # decided over the control API: the automatic decision no longer applies
    edits: list[float] = field(default_factory=list)  # unix times of the edits made to it while approved (30 days)
    revision: int = 0  # bumped by each edit, so that a decision planned for an earlier content is dropped
    # Derived from the components: the variables of the header and body, the buttons.
    header_variables: list[str] = field(default_factory=list)
    body_variables: list[str] = field(default_factory=list)
    buttons: list[dict[str, Any]] = field(default_factory=list)

    def texts(self) -> list[str]:
        """Every text a reviewer reads: header, body, footer, button labels and URLs."""
        found = []
        for component in self.components:
            if isinstance(component.get("text"), str):
                found.append(component["text"])
            for button in component.get("buttons") or ():
                found.extend(str(button.get(key, "")) for key in ("text", "url"))
        return found

    def body_text(self) -> str:
        return next((c.get("text") or "" for c in self.components if c.get("type") == "BODY"), "")

    def to_json(self, fields: tuple[str, ...] = DEFAULT_FIELDS) -> dict[str, Any]:
        values = {
            "id": self.id, "name": self.name, "language": self.language, "status": self.status,
            "category": self.category, "rejected_reason": self.reason if self.status == "REJECTED" else "NONE",
            "parameter_format": self.parameter_format, "components": self.components,
            "previous_category": self.previous_category,
        }
        return {name: values[name] for name in ("id", *fields) if name in values and values[name] is not None}


def variables_of(text: str) -> list[str]:
    """The distinct variables of ``text`` in order of appearance."""
    seen: list[str] = []
    for name in VARIABLE.findall(text or ""):
        if name not in seen:
            seen.append(name)
    return seen


def parse_submission(waba_id: str, template_id: str, body: Any) -> Template:
    """A template from a submission body, or a :class:`GraphError` as the Graph API would refuse it."""
    if not isinstance(body, dict):
        raise errors.invalid_parameter("The request body must be a JSON object.")
    name, language = body.get("name"), body.get("language")
    category = str(body.get("category") or "").upper()
    parameter_format = str(body.get("parameter_format") or "POSITIONAL").upper()
    components = body.get("components")
    if not isinstance(name, str) or not NAME.match(name):
        raise errors.invalid_parameter("name: a template name is lowercase letters, digits and underscores.")
    if not isinstance(language, str) or not language:
        raise errors.invalid_parameter("language: the parameter language is required.")
    if category not in CATEGORIES:
        raise errors.invalid_parameter(f"category: must be one of {', '.join(CATEGORIES)}.")
    if parameter_format not in FORMATS:
        raise errors.invalid_parameter(f"parameter_format: must be one of {', '.join(FORMATS)}.")
    if not isinstance(components, list) or not all(isinstance(c, dict) for c in components):
        raise errors.invalid_parameter("components: the parameter components is required.")
    components = [{**c, "type": str(c.get("type", "")).upper()} for c in components]
    bodies = [c for c in components if c["type"] == "BODY"]
    if len(bodies) != 1 or not isinstance(bodies[0].get("text"), str):
        raise errors.invalid_parameter("components: a template has exactly one BODY with text.")
    template = Template(template_id, waba_id, name, language, category, parameter_format, components)
    for component in components:
        if component["type"] == "HEADER" and component.get("format", "TEXT").upper() == "TEXT":
            template.header_variables = variables_of(component.get("text", ""))
        elif component["type"] == "BODY":
            template.body_variables = variables_of(component["text"])
        elif component["type"] == "BUTTONS":
            template.buttons = [b for b in component.get("buttons") or () if isinstance(b, dict)]
    return template


def apply_edit(template: Template, body: Any, now: float, per_day: int, per_month: int) -> None:
    """Edit ``template`` in place as ``POST /{template_id}`` asks, or a :class:`GraphError` as Meta would refuse
    it (nothing changes then): new components (all of them, replacing the old), parameter format and category.
    The template is pending afterwards; the caller has it decided."""
    if not isinstance(body, dict):
        raise errors.invalid_parameter("The request body must be a JSON object.")
    fixed = next((key for key in ("name", "language") if key in body), None)
    if fixed is not None:
        raise errors.invalid_parameter(f"{fixed}: the name and language of a template cannot be edited.")
    if "components" not in body and "category" not in body:
        raise errors.invalid_parameter("components: the parameter components or category is required.")
    if template.status not in EDITABLE:
        raise errors.invalid_parameter(f"The template's status is {template.status}: only templates that are "
                                       f"{', '.join(EDITABLE)} can be edited.")
    category = str(body.get("category") or template.category).upper()
    if template.status == "APPROVED":
        if category != template.category:
            raise errors.invalid_parameter("category: the category of an approved template cannot be edited.")
        recent = [moment for moment in template.edits if now - moment < MONTH_S]
        if sum(now - moment < DAY_S for moment in recent) >= per_day or len(recent) >= per_month:
            raise errors.invalid_parameter(f"An approved template can be edited {per_day} time(s) in 24 hours and "
                                           f"{per_month} times in 30 days; this one has reached the limit.")
        template.edits = recent
    candidate = parse_submission(template.waba_id, template.id, {
        "name": template.name, "language": template.language, "category": category,
        "parameter_format": body.get("parameter_format", template.parameter_format),
        "components": body.get("components", template.components)})
    if template.status == "APPROVED":
        template.edits.append(now)
    for name in ("category", "parameter_format", "components", "header_variables", "body_variables", "buttons"):
        setattr(template, name, getattr(candidate, name))
    template.status, template.reason, template.forced = "PENDING", "NONE", False
    template.revision += 1


def decide(template: Template) -> tuple[str, str]:
    """The sandbox reviewer's verdict: (status, rejected reason)."""
    body = template.body_text()
    words = re.sub(r"[\W_]+", "", VARIABLE.sub("", body))
    if not words or not _well_formed(template.parameter_format, template.header_variables) \
            or not _well_formed(template.parameter_format, template.body_variables):
        return "REJECTED", "INVALID_FORMAT"
    texts = " \n".join(template.texts())
    if RESTRICTED.search(texts):
        return "REJECTED", "ABUSIVE_CONTENT"
    if SHORTENER.search(texts):
        return "REJECTED", "SCAM"
    if template.category != "MARKETING" and MARKETING.search(texts):
        return "REJECTED", "INCORRECT_CATEGORY"
    return "APPROVED", "NONE"


def _well_formed(parameter_format: str, names: list[str]) -> bool:
    if parameter_format == "POSITIONAL":
        return names == [str(n) for n in range(1, len(names) + 1)]
    return all(NAMED_VARIABLE.match(name) for name in names)


def delay_ms(template: Template, configured: float, slow: float) -> float | None:
    """How long the decision waits; None: it waits for a forced decision."""
    if template.name.endswith("_pending"):
        return None
    if template.name.endswith("_slow"):
        return max(configured, slow)
    return configured


class TemplateBook:
    """The templates of every business account, in submission order."""

    def __init__(self) -> None:
        self.by_account: dict[str, dict[str, Template]] = {}
        self.by_id: dict[str, Template] = {}
        self.by_name: dict[tuple[str, str, str], Template] = {}
        self.next_id = 300000000000001

    def new_id(self) -> str:
        self.next_id += 1
        return str(self.next_id - 1)

    def add(self, template: Template) -> None:
        key = (template.waba_id, template.name, template.language)
        if key in self.by_name:
            raise errors.invalid_parameter(
                f"Content in this language already exists: {template.name} ({template.language}).", subcode=2388024)
        self.by_account.setdefault(template.waba_id, {})[template.id] = template
        self.by_id[template.id] = template
        self.by_name[key] = template

    def find(self, waba_id: str, name: str, language: str) -> Template | None:
        return self.by_name.get((waba_id, name, language))

    def get(self, waba_id: str, template_id: str) -> Template | None:
        template = self.by_id.get(template_id)
        return template if template is not None and template.waba_id == waba_id else None

    def page(self, waba_id: str, base_url: str, query: dict[str, str]) -> dict[str, Any]:
        """One page of the account's templates as ``GET …/message_templates`` answers it."""
        fields = tuple(f.strip() for f in query.get("fields", "").split(",") if f.strip()) or DEFAULT_FIELDS
        try:
            limit = max(1, min(int(query.get("limit", PAGE_SIZE)), 1000))
        except ValueError:
            raise errors.invalid_parameter("limit: must be a whole number.") from None
        chosen = list(self.by_account.get(waba_id, {}).values())
        if query.get("name"):
            chosen = [t for t in chosen if t.name == query["name"]]
        if query.get("language"):
            chosen = [t for t in chosen if t.language == query["language"]]
        if query.get("status"):
            chosen = [t for t in chosen if t.status == query["status"].upper()]
        start = 0
        if query.get("after"):
            after = _uncursor(query["after"])
            start = next((i + 1 for i, t in enumerate(chosen) if t.id == after), len(chosen))
        elif query.get("before"):
            before = _uncursor(query["before"])
            end = next((i for i, t in enumerate(chosen) if t.id == before), 0)
            start = max(0, end - limit)
        rows = chosen[start:start + limit]
        answer: dict[str, Any] = {"data": [t.to_json(fields) for t in rows]}
        if rows:
            answer["paging"] = {"cursors": {"before": _cursor(rows[0].id), "after": _cursor(rows[-1].id)}}
            if start + limit < len(chosen):
                kept = {k: v for k, v in query.items() if k not in ("after", "before")}
                kept.update(limit=str(limit), after=_cursor(rows[-1].id))
                answer["paging"]["next"] = base_url + "?" + urlencode(kept)
            if start > 0:
                back = {"limit": limit, "before": _cursor(rows[0].id)}
                answer["paging"]["previous"] = base_url + "?" + urlencode(back)
        return answer


def _cursor(template_id: str) -> str:
    return base64.urlsafe_b64encode(template_id.encode()).decode().rstrip("=")


def _uncursor(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except ValueError:
        raise errors.invalid_parameter("after: not a cursor of this list.") from None
