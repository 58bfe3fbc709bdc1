"""Message templates: create, edit (with versions), find, organise, preview (the provider's verdicts
per business account: ``campaigns.template_approvals``).

A template is known by (name, language). Editing what the provider approved (or paused, or
disabled) never changes that row: a new version is added, with ``version + 1``, as a draft, and
``is_current`` moves to it, so a campaign keeps pointing at the exact text it was reviewed with.
A draft or a rejected template is edited in place. Tags and the archive belong to the template as
a whole and never make a version. Every change is written to the audit log in the caller's
transaction; functions here add and flush, the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, false, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from campaigns import rendering, sms_rendering
from campaigns.models import Template, TemplateApproval, TemplateCategory, TemplateStatus
from campaigns.template_rules import TemplateSpec, check, parse_tags, warnings
from compliance import audit
from compliance.policy import Policy, current_policy
from dbtypes import parse_id, utcnow
from domain_errors import DomainError
from extensions import db

PAGE_SIZE = 50
MAX_SEARCH = 200
# Editing these statuses would change what the provider approved: it makes a new version instead.
VERSIONED = frozenset({TemplateStatus.APPROVED, TemplateStatus.PAUSED, TemplateStatus.DISABLED})
EDITABLE_IN_PLACE = frozenset({TemplateStatus.DRAFT, TemplateStatus.REJECTED})
SORTS = ("name", "updated", "last_used")
# What an admin may set, mirroring the provider. Rejection needs a reason; so do pause and disable,
# which a marketer would otherwise find unexplained.
ADMIN_STATUSES = (
    TemplateStatus.PENDING,
    TemplateStatus.APPROVED,
    TemplateStatus.REJECTED,
    TemplateStatus.PAUSED,
    TemplateStatus.DISABLED,
)
NEEDS_REASON = frozenset({TemplateStatus.REJECTED, TemplateStatus.PAUSED, TemplateStatus.DISABLED})

# Labels for statuses and categories, shared by the pages, the API's sentences and the CLI.
STATUS_LABELS = {
    TemplateStatus.DRAFT: _l("Draft"),
    TemplateStatus.PENDING: _l("Pending"),
    TemplateStatus.APPROVED: _l("Approved"),
    TemplateStatus.REJECTED: _l("Rejected"),
    TemplateStatus.PAUSED: _l("Paused"),
    TemplateStatus.DISABLED: _l("Disabled"),
}
CATEGORY_LABELS = {
    TemplateCategory.MARKETING: _l("Marketing"), TemplateCategory.UTILITY: _l("Utility"),
    TemplateCategory.AUTHENTICATION: _l("Authentication"),
}


class TemplateError(DomainError):
    """The template cannot be saved or changed as asked; ``errors`` are sentences for its author."""


class DuplicateTemplateError(TemplateError):
    """A template with this name and language already exists."""

    status = 409


@dataclass(frozen=True)
class Page:
    """One page of a template list, with the total matching and the offset of the next page (None at the end)."""

    templates: list[Template]
    total: int
    offset: int
    next_offset: int | None


# --- reading --------------------------------------------------------------------------------------

def find_template(name_or_id: str, language: str | None = None) -> Template | None:
    """The current version of the template of this name (in ``language``, if given), else the version with this id.

    Without a language, a name that exists in several languages is ambiguous and finds nothing.
    """
    query = select(Template).where(Template.name == name_or_id.strip(), Template.is_current.is_(True))
    if language:
        query = query.where(Template.language == language)
    found = list(db.session.scalars(query.limit(2)))
    if len(found) == 1:
        return found[0]
    template_id = parse_id(name_or_id.strip())
    return db.session.get(Template, template_id) if template_id and not found else None


def versions(template: Template) -> list[Template]:
    """Every version of the template's (name, language), newest first."""
    return list(db.session.scalars(select(Template).where(
        Template.name == template.name, Template.language == template.language).order_by(Template.version.desc())))


def tags_of(template: Template) -> list[str]:
    """The template's tags, as a list."""
    return [tag for tag in (template.tags or "").split("|") if tag]


def _search(query: Select, text: str) -> Select:
    """Rows whose name or body contains ``text``.

    LIKE behaves the same on SQLite and PostgreSQL only for exact case (SQLite folds ASCII letters
    only, PostgreSQL's LIKE folds none), so the usual spellings of the words — as typed, lower
    case, capitalised, upper case — are each looked for; that finds «Скидка» for "скидка" on both.
    """
    text = text.strip()[:MAX_SEARCH]
    if not text:
        return query
    spellings = dict.fromkeys([text, text.lower(), text.capitalize(), text.upper(), text.title()])
    return query.where(
        or_(
            *(
                column.contains(spelling, autoescape=True)
                for spelling in spellings
                for column in (Template.name, Template.body)
            )
        )
    )


def list_templates(*, search: str = "", status: str | None = None, category: str | None = None,
                   language: str | None = None, tag: str | None = None, archived: bool = False,
                   sort: str = "updated", offset: int = 0, limit: int = PAGE_SIZE) -> Page:
    """The current versions matching every filter given, one page of them, sorted.

    ``archived`` lists the archived templates instead of the active ones. ``sort`` is ``name``,
    ``updated`` (newest first) or ``last_used`` (most recently used first, never-used last).
    Unknown filter values match nothing rather than everything.
    """
    query = select(Template).where(Template.is_current.is_(True))
    query = query.where(Template.archived_at.is_not(None) if archived else Template.archived_at.is_(None))
    query = _search(query, search or "")
    if status:
        query = (
            query.where(Template.status == status)
            if status in {s.value for s in TemplateStatus}
            else query.where(false())
        )
    if category:
        known = {c.value for c in TemplateCategory}
        query = query.where(Template.category == category) if category in known else query.where(false())
    if language:
        query = query.where(Template.language == language)
    if tag and tag.strip():
        query = query.where(Template.tags.contains(f"|{tag.strip().lower()[:MAX_SEARCH]}|", autoescape=True))
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    order = {
        "name": (Template.name, Template.language, Template.id),
        "last_used": (Template.last_used_at.is_(None), Template.last_used_at.desc(), Template.name, Template.id),
    }.get(sort, (Template.updated_at.desc(), Template.id.desc()))
    offset = max(0, min(offset, 10**9))
    rows = list(db.session.scalars(query.order_by(*order).offset(offset).limit(limit)))
    following = offset + limit
    return Page(rows, total, offset, following if following < total else None)


def languages_in_use() -> list[str]:
    """The languages of the current templates, for the list's filter."""
    return list(
        db.session.scalars(
            select(Template.language).where(Template.is_current.is_(True)).distinct().order_by(Template.language)
        )
    )


def tags_in_use() -> list[str]:
    """Every tag of a current template, sorted."""
    found = set()
    for tags in db.session.scalars(
        select(Template.tags).where(Template.is_current.is_(True), Template.tags != "").distinct()
    ):
        found.update(tag for tag in tags.split("|") if tag)
    return sorted(found)


# --- writing --------------------------------------------------------------------------------------

def template_spec(template: Template) -> TemplateSpec:
    """The saved template as a spec, for the rules."""
    return _spec({}, template)


def _spec(data: dict[str, Any], base: Template | None = None) -> TemplateSpec:
    """A spec from ``data``, any part not given taken from ``base``."""

    def pick(key: str, default: Any) -> Any:
        if key in data and data[key] is not None:
            return data[key]
        if base is not None:
            value = getattr(base, key)
            return value.value if isinstance(value, TemplateCategory) else value
        return default

    return TemplateSpec(
        name=pick("name", ""),
        language=pick("language", ""),
        category=pick("category", ""),
        body=pick("body", ""),
        header=pick("header", ""),
        footer=pick("footer", ""),
        buttons=pick("buttons", []),
        examples=pick("examples", {}),
    )


def _validated(spec: TemplateSpec, tags: Any, policy: Policy | None) -> tuple[TemplateSpec, str | None]:
    """The spec cleaned for saving and the tags as stored (None when ``tags`` is None: keep them)."""
    policy = current_policy() if policy is None else policy
    errors = check(spec, policy.keywords)
    tag_list, tag_errors = parse_tags(tags)
    if errors or tag_errors:
        raise TemplateError(errors + tag_errors)
    # Keep only the examples of variables the template has, and buttons as plain, known members.
    names = rendering.variables(spec)
    examples = {name: spec.examples[name].strip() for name in names}
    buttons = [_clean_button(button) for button in spec.buttons or []]
    cleaned = TemplateSpec(spec.name, spec.language, spec.category, spec.body.strip(), spec.header.strip(),
                           spec.footer.strip(), buttons, examples)
    if tags is None:
        return cleaned, None
    return cleaned, f"|{'|'.join(tag_list)}|" if tag_list else ""


def _clean_button(button: dict[str, Any]) -> dict[str, str]:
    kept = {"type": button["type"], "text": button["text"].strip()}
    if button["type"] == "url":
        kept["url"] = button["url"]
    elif button["type"] == "phone":
        kept["phone"] = button["phone"]
    return kept


def _duplicate(name: str, language: str) -> DuplicateTemplateError:
    return DuplicateTemplateError(
        [
            _(
                "Name: a template named “%(name)s” in %(language)s already exists; edit it or choose another name.",
                name=name,
                language=language,
            )
        ]
    )


def _exists(name: str, language: str, other_than: Template | None = None) -> bool:
    query = select(Template.id).where(Template.name == name, Template.language == language)
    if other_than is not None:
        query = query.where(Template.id != other_than.id)
    return db.session.scalar(query.limit(1)) is not None


def _flush(name: str, language: str, new_version: bool = False) -> None:
    # Two people saving the same name (or the same new version) at once: the unique constraint
    # decides, and the caller rolls back as after any other error.
    try:
        db.session.flush()
    except IntegrityError:
        if new_version:
            raise TemplateError([_("Someone else changed the template at the same time; reload it and try again.")],
                                status=409) from None
        raise _duplicate(name, language) from None


def create_template(data: dict[str, Any], actor: Any = None, policy: Policy | None = None) -> Template:
    """Save a new template (version 1, a draft) from ``data``: name, language, category, header, body,
    footer, buttons, examples and tags. Raises ``TemplateError`` with every violation."""
    spec, tags = _validated(_spec(data), data.get("tags", ""), policy)
    if _exists(spec.name, spec.language):
        raise _duplicate(spec.name, spec.language)
    actor_id = getattr(actor, "id", None)
    template = Template(
        name=spec.name,
        language=spec.language,
        version=1,
        is_current=True,
        category=TemplateCategory(spec.category),
        header=spec.header,
        body=spec.body,
        footer=spec.footer,
        buttons=spec.buttons,
        examples=spec.examples,
        tags=tags or "",
        status=TemplateStatus.DRAFT,
        created_by_id=actor_id,
        updated_by_id=actor_id,
    )
    db.session.add(template)
    _flush(spec.name, spec.language)
    audit.record("template.created", actor=actor, target=template,
                 details={"name": template.name, "language": template.language, "version": 1})
    return template


def update_template(
    template: Template, data: dict[str, Any], actor: Any = None, policy: Policy | None = None
) -> Template:
    """Change what ``data`` gives (a part absent or None is kept); returns the version that holds the change.

    An approved, paused or disabled template gets a new draft version; a draft or rejected one is
    changed in place. A template waiting for the provider (pending) cannot be changed, nor can an
    old version. Name and language can change only before anything was submitted (version 1, draft
    or rejected). Tags change on the current version without making a new one.
    """
    errors = []
    if not template.is_current:
        errors.append(_("This is an old version of the template; edit the current one."))
    elif template.status is TemplateStatus.PENDING:
        errors.append(
            _("The template is waiting for the provider's decision; it can be edited once it is approved or rejected.")
        )
    renamed = any(
        key in data and data[key] is not None and data[key] != getattr(template, key) for key in ("name", "language")
    )
    if renamed and (template.version > 1 or template.status not in EDITABLE_IN_PLACE):
        errors.append(
            _(
                "Name and language can no longer change: the provider knows the template by them. "
                "Create a new template instead."
            )
        )
    if errors:
        raise TemplateError(errors)
    spec, tags = _validated(_spec(data, template), data.get("tags"), policy)
    if renamed and _exists(spec.name, spec.language, other_than=template):
        raise _duplicate(spec.name, spec.language)
    new_content = {"category": TemplateCategory(spec.category), "header": spec.header, "body": spec.body,
                   "footer": spec.footer, "buttons": spec.buttons, "examples": spec.examples}
    changed = [key for key, value in new_content.items() if getattr(template, key) != value]
    changed += [key for key in ("name", "language") if getattr(template, key) != getattr(spec, key)]
    tags_changed = tags is not None and tags != template.tags
    if not changed and not tags_changed:
        return template
    actor_id, now = getattr(actor, "id", None), utcnow()
    if tags_changed:
        template.tags = tags
    if changed and template.status in VERSIONED:
        return _new_version(template, new_content, actor, now)
    if changed:
        template.name, template.language = spec.name, spec.language
        for key, value in new_content.items():
            setattr(template, key, value)
        if template.status is TemplateStatus.REJECTED:
            # The providers' reasons were about the old text: the edit is a draft to submit again in every
            # account. Each account's row stays, as a draft, for the provider's template id it holds: the
            # provider knows the name already, so the next submission edits that template.
            db.session.execute(update(TemplateApproval).where(TemplateApproval.template_id == template.id)
                               .values(status=TemplateStatus.DRAFT, reason=None, decided_at=None, updated_at=now))
            template.status, template.rejection_reason = TemplateStatus.DRAFT, None
    template.updated_by_id, template.updated_at = actor_id, now
    _flush(template.name, template.language)
    audit.record("template.updated", actor=actor, target=template,
                 details={"name": template.name, "language": template.language, "version": template.version,
                          "changed": sorted(changed + (["tags"] if tags_changed else []))})
    return template


def _new_version(template: Template, content: dict[str, Any], actor: Any, now) -> Template:
    actor_id = getattr(actor, "id", None)
    template.is_current = False
    db.session.flush()
    version = Template(
        name=template.name,
        language=template.language,
        version=template.version + 1,
        is_current=True,
        status=TemplateStatus.DRAFT,
        tags=template.tags,
        archived_at=template.archived_at,
        last_used_at=template.last_used_at,
        created_by_id=actor_id,
        created_at=now,
        updated_by_id=actor_id,
        updated_at=now,
        **content,
    )
    db.session.add(version)
    _flush(template.name, template.language, new_version=True)
    audit.record("template.versioned", actor=actor, target=version,
                 details={"name": version.name, "language": version.language, "version": version.version,
                          "previous_id": template.id, "previous_status": template.status.value})
    return version


def set_archived(template: Template, archived: bool, actor: Any = None) -> Template:
    """Archive the template (hidden from the list unless asked for) or bring it back."""
    current = _current(template)
    if (current.archived_at is not None) == archived:
        return current
    current.archived_at = utcnow() if archived else None
    db.session.flush()
    audit.record("template.archived" if archived else "template.unarchived", actor=actor, target=current,
                 details={"name": current.name, "language": current.language})
    return current


def _current(template: Template) -> Template:
    if template.is_current:
        return template
    return db.session.scalar(select(Template).where(
        Template.name == template.name, Template.language == template.language, Template.is_current.is_(True)))


# --- preview ---------------------------------------------------------------------------------------

# A preview is asked for on every keystroke, with whatever is in the editor: texts are cut to a
# bound (beyond it they break the rules anyway) so that one request cannot cause unbounded work.
PREVIEW_LIMITS = {"name": 600, "language": 20, "category": 20, "header": 200, "body": 4096, "footer": 200}


def preview_spec(data: Any) -> TemplateSpec:
    """A spec for previewing, from anything: wrong types become empty, long texts are cut."""
    data = data if isinstance(data, dict) else {}
    texts = {
        key: data.get(key)[:limit] if isinstance(data.get(key), str) else "" for key, limit in PREVIEW_LIMITS.items()
    }
    buttons = data.get("buttons") if isinstance(data.get("buttons"), list) else []
    buttons = [{key: str(value)[:2100] for key, value in button.items() if isinstance(key, str)}
               for button in buttons[:20] if isinstance(button, dict)]
    examples = data.get("examples") if isinstance(data.get("examples"), dict) else {}
    examples = {str(key)[:60]: value[:300] for key, value in list(examples.items())[:100] if isinstance(value, str)}
    return TemplateSpec(buttons=buttons, examples=examples, **texts)


def preview(data: Any, values: Any = None, policy: Policy | None = None) -> dict[str, Any]:
    """What the editor shows for ``data`` (a template as the API or the form gives it): the message as
    the recipient sees it with the compliance lint, every rule the template breaks so far, and what
    is allowed but probably a mistake (``warnings``)."""
    policy = current_policy() if policy is None else policy
    spec = preview_spec(data)
    values = {str(k): v for k, v in values.items() if isinstance(v, str)} if isinstance(values, dict) else {}
    sms = sms_rendering.preview_for(spec, values, policy).as_dict()
    return {"preview": rendering.preview(spec, values, spec.language or "ru", policy),
            "sms": {**sms, "line": sms_rendering.segment_line(sms)},
            "violations": check(spec, policy.keywords), "warnings": warnings(spec, policy.keywords)}
