"""The template service: create, edit in place or as a new version, find and organise, and the
provider's status set by an admin — each change in the audit log (submission to a real provider:
test_template_approvals.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from campaigns import message_templates as templates
from campaigns import senders, template_approvals
from campaigns.models import Template, TemplateCategory, TemplateStatus
from dbtypes import utcnow
from extensions import db
from tests.records import audit_events

STOP = {"type": "quick_reply", "text": "Stop promotions"}


@pytest.fixture(autouse=True)
def a_sender(app):
    """One sender, so that there is a business account to record a provider's status in."""
    sender = senders.create_sender("Main", "+74951234567")
    db.session.commit()
    return sender


def spec(**changes) -> dict:
    data = {"name": "autumn_sale", "language": "en", "category": "marketing", "header": "Autumn sale",
            "body": "Hi {{1}}, the autumn sale starts on {{2}}. See you!", "footer": "Shop Example",
            "buttons": [{"type": "url", "text": "Open the shop", "url": "https://shop.example.com"}, STOP],
            "examples": {"1": "Anna", "2": "Monday"}, "tags": "promo, Autumn"}
    data.update(changes)
    return data


def make(**changes) -> Template:
    template = templates.create_template(spec(**changes))
    db.session.commit()
    return template


def rows() -> list[Template]:
    db.session.expire_all()
    return list(db.session.scalars(select(Template).order_by(Template.id)))


def approve(template: Template) -> Template:
    template_approvals.set_status(template, "approved")
    db.session.commit()
    return template


def test_create_saves_a_draft_version_one(app, make_user):
    author = make_user("marketer")
    template = templates.create_template(spec(examples={"1": " Anna ", "2": "Monday", "unused": "x"},
                                              buttons=[{**STOP, "junk": "dropped"}]), actor=author)
    db.session.commit()
    [saved] = rows()
    assert (saved.name, saved.language, saved.version, saved.is_current, saved.status) == (
        "autumn_sale",
        "en",
        1,
        True,
        TemplateStatus.DRAFT,
    )
    assert saved.category is TemplateCategory.MARKETING and saved.tags == "|promo|autumn|"
    assert saved.examples == {"1": "Anna", "2": "Monday"} and saved.buttons == [STOP]
    assert saved.created_by_id == saved.updated_by_id == author.id
    [event] = audit_events("template.created")
    assert event.actor_id == author.id and event.object_id == str(template.id)
    assert event.details == {"name": "autumn_sale", "language": "en", "version": 1}
    assert templates.tags_of(saved) == ["promo", "autumn"]


def test_create_refuses_with_every_violation_and_saves_nothing(app):
    with pytest.raises(templates.TemplateError) as caught:
        templates.create_template(spec(name="Bad", body="{{1}} hi", buttons=[], tags="a|b"))
    assert caught.value.errors == [
        "Name: use only lowercase Latin letters, digits and underscores, such as autumn_sale_2025.",
        "Body: the text cannot start with a variable; put some words before it.",
        "Buttons: a marketing template must offer an opt-out quick reply in its language, such as “Stop promotions”.",
        "Tags: a tag may have up to 30 characters and no “|”.",
    ]
    db.session.rollback()
    assert rows() == [] and audit_events("template.created") == []


def test_a_name_exists_once_per_language(app):
    make()
    with pytest.raises(templates.DuplicateTemplateError) as caught:
        templates.create_template(spec())
    assert caught.value.errors == [
        "Name: a template named “autumn_sale” in en already exists; edit it or choose another name."
    ]
    db.session.rollback()
    make(language="ru", buttons=[{"type": "quick_reply", "text": "Отписаться"}])
    assert [(t.name, t.language) for t in rows()] == [("autumn_sale", "en"), ("autumn_sale", "ru")]


def test_a_draft_is_edited_in_place(app):
    template = make()
    same = templates.update_template(template, {"body": "Hi {{1}}, the sale starts on {{2}}. Come!", "tags": "promo"})
    db.session.commit()
    [saved] = rows()
    assert same.id == saved.id and saved.version == 1 and saved.body == "Hi {{1}}, the sale starts on {{2}}. Come!"
    assert saved.tags == "|promo|" and saved.header == "Autumn sale"  # what was not given is kept
    [event] = audit_events("template.updated")
    assert event.details["changed"] == ["body", "tags"]
    templates.update_template(saved, {"body": saved.body})
    db.session.commit()
    assert len(audit_events("template.updated")) == 1  # nothing changed, nothing written


def test_a_rejected_template_edited_in_place_becomes_a_draft_again(app):
    template = make()
    template_approvals.set_status(template, "rejected", "The footer is misleading.")
    db.session.commit()
    templates.update_template(template, {"footer": "Example Ltd"})
    db.session.commit()
    [saved] = rows()
    assert (saved.version, saved.status, saved.rejection_reason, saved.footer) == (
        1,
        TemplateStatus.DRAFT,
        None,
        "Example Ltd",
    )


@pytest.mark.parametrize("status", ["approved", "paused", "disabled"])
def test_editing_what_the_provider_approved_makes_a_new_version(app, make_user, status):
    author, editor = make_user("marketer"), make_user("marketer")
    template = templates.create_template(spec(), actor=author)
    db.session.commit()
    template_approvals.set_status(template, status, "" if status == "approved" else "Quality rating.")
    db.session.commit()
    new = templates.update_template(template, {"body": "Hello {{1}}, the sale starts on {{2}}. See you!"}, actor=editor)
    db.session.commit()
    old, current = rows()
    assert new.id == current.id and old.id == template.id
    assert (old.version, old.is_current, old.status.value) == (1, False, status)
    assert old.body == "Hi {{1}}, the autumn sale starts on {{2}}. See you!"
    assert (current.version, current.is_current, current.status) == (2, True, TemplateStatus.DRAFT)
    assert current.body == "Hello {{1}}, the sale starts on {{2}}. See you!" and current.tags == old.tags
    assert current.created_by_id == editor.id and current.header == old.header
    [event] = audit_events("template.versioned")
    assert event.details["version"] == 2 and event.details["previous_id"] == old.id
    assert [t.version for t in templates.versions(old)] == [2, 1]
    # The next edit of the new draft stays in version 2.
    templates.update_template(current, {"footer": "Bye"})
    db.session.commit()
    assert [t.version for t in rows()] == [1, 2]


def test_tags_of_an_approved_template_change_without_a_version(app):
    template = approve(make())
    templates.update_template(template, {"tags": "winter"})
    db.session.commit()
    [saved] = rows()
    assert saved.tags == "|winter|" and saved.status is TemplateStatus.APPROVED and saved.version == 1


def test_what_cannot_be_edited(app):
    template = make()
    template_approvals.set_status(template, "pending")
    db.session.commit()
    with pytest.raises(templates.TemplateError) as caught:
        templates.update_template(template, {"footer": "x"})
    assert caught.value.errors == [
        "The template is waiting for the provider's decision; it can be edited once it is approved or rejected."]
    approve(template)
    templates.update_template(template, {"footer": "x"})
    db.session.commit()
    old = rows()[0]
    with pytest.raises(templates.TemplateError) as caught:
        templates.update_template(old, {"footer": "y"})
    assert caught.value.errors == ["This is an old version of the template; edit the current one."]
    with pytest.raises(templates.TemplateError) as caught:
        templates.update_template(rows()[1], {"name": "renamed"})
    assert caught.value.errors == [
        "Name and language can no longer change: the provider knows the template by them. "
        "Create a new template instead."
    ]
    with pytest.raises(templates.TemplateError) as caught:
        templates.update_template(rows()[1], {"body": "{{1}}"})
    assert caught.value.errors[0] == "Body: the text cannot start with a variable; put some words before it."


def test_a_new_draft_may_be_renamed_but_not_onto_another_template(app):
    make(name="other")
    template = make()
    templates.update_template(template, {"name": "spring_sale", "language": "ru",
                                         "buttons": [{"type": "quick_reply", "text": "Отписаться"}]})
    db.session.commit()
    assert (rows()[1].name, rows()[1].language) == ("spring_sale", "ru")
    with pytest.raises(templates.DuplicateTemplateError):
        templates.update_template(rows()[1], {"name": "other", "language": "en", "buttons": [STOP]})


def test_archive_and_unarchive(app):
    template = make()
    templates.set_archived(template, True)
    db.session.commit()
    assert templates.list_templates().total == 0
    assert [t.id for t in templates.list_templates(archived=True).templates] == [template.id]
    templates.set_archived(template, True)  # already archived: nothing happens
    templates.set_archived(template, False)
    db.session.commit()
    assert templates.list_templates().total == 1
    assert [e.action for e in audit_events("template.archived") + audit_events("template.unarchived")] == [
        "template.archived", "template.unarchived"]


def test_set_status_needs_a_reason_to_reject_pause_or_disable(app, make_user):
    admin = make_user("admin")
    template = make()
    for status in ("rejected", "paused", "disabled"):
        with pytest.raises(templates.TemplateError) as caught:
            template_approvals.set_status(template, status, "  ")
        assert caught.value.errors == ["Reason: say why, so that the template's author knows what to change."]
    for status in ("draft", "nonsense"):
        with pytest.raises(templates.TemplateError) as caught:
            template_approvals.set_status(template, status)
        assert caught.value.errors == ["Status: choose pending, approved, rejected, paused or disabled."]
    template_approvals.set_status(template, "rejected", "Looks like spam.", actor=admin)
    db.session.commit()
    assert (rows()[0].status, rows()[0].rejection_reason) == (TemplateStatus.REJECTED, "Looks like spam.")
    [event] = audit_events("template.status_changed")
    assert event.actor_id == admin.id
    assert event.details == {"name": "autumn_sale", "language": "en", "version": 1, "from": "draft", "to": "rejected",
                             "reason": "Looks like spam.", "source": "admin", "account": "200000000000001",
                             "category": ""}
    template_approvals.set_status(template, "approved", actor=admin)
    assert template.rejection_reason is None


def test_an_old_version_is_not_submitted(app):
    template = approve(make())
    templates.update_template(template, {"footer": "New"})
    db.session.commit()
    with pytest.raises(templates.TemplateError) as caught:
        template_approvals.submit(rows()[0])
    assert caught.value.errors == ["This is an old version of the template; submit the current one."]


def test_find_by_name_language_or_id(app):
    en = make()
    ru = make(language="ru", buttons=[{"type": "quick_reply", "text": "Отписаться"}])
    assert templates.find_template("autumn_sale", "ru").id == ru.id
    assert templates.find_template("autumn_sale") is None  # two languages: ambiguous
    assert templates.find_template(str(en.id)).id == en.id
    assert templates.find_template("nothing") is None


# --- the list -------------------------------------------------------------------------------------

def test_search_over_name_and_body_in_any_case(app):
    make(name="welcome", body="Здравствуйте, {{1}}! Скидка {{2}} для вас.", examples={"1": "a", "2": "b"},
         category="utility", buttons=[])
    make(name="autumn_sale")
    for text, names in [
        ("скидка", ["welcome"]),
        ("СКИДКА", ["welcome"]),
        ("Autumn", ["autumn_sale"]),
        ("SALE STARTS", ["autumn_sale"]),
        ("e", ["autumn_sale", "welcome"]),
        ("100%_", []),
        ("", ["autumn_sale", "welcome"]),
    ]:
        assert sorted(t.name for t in templates.list_templates(search=text).templates) == names, text


def test_filters_and_only_current_versions(app):
    a = approve(make(name="a_one"))
    make(name="b_two", language="ru", category="utility", buttons=[], tags="service")
    templates.update_template(a, {"footer": "v2"})
    db.session.commit()
    listed = templates.list_templates()
    assert sorted((t.name, t.version) for t in listed.templates) == [("a_one", 2), ("b_two", 1)]
    assert [t.name for t in templates.list_templates(status="draft", category="marketing").templates] == ["a_one"]
    assert [t.name for t in templates.list_templates(language="ru").templates] == ["b_two"]
    assert [t.name for t in templates.list_templates(tag="Service").templates] == ["b_two"]
    assert [t.name for t in templates.list_templates(tag="promo").templates] == ["a_one"]
    assert templates.list_templates(status="approved").total == 0
    assert templates.list_templates(status="bogus").total == 0 and templates.list_templates(category="bogus").total == 0
    assert templates.languages_in_use() == ["en", "ru"]
    assert templates.tags_in_use() == ["autumn", "promo", "service"]


def test_sorting_by_name_updated_and_last_used(app):
    now = utcnow()
    for index, name in enumerate(["charlie", "alpha", "bravo"]):
        template = make(name=name)
        template.updated_at = now - timedelta(hours=index)
    db.session.commit()
    alpha, bravo = templates.find_template("alpha"), templates.find_template("bravo")
    alpha.last_used_at, bravo.last_used_at = now - timedelta(days=2), now - timedelta(days=1)
    db.session.commit()
    names = lambda sort: [t.name for t in templates.list_templates(sort=sort).templates]  # noqa: E731
    assert names("name") == ["alpha", "bravo", "charlie"]
    assert names("updated") == ["charlie", "alpha", "bravo"]
    assert names("last_used") == ["bravo", "alpha", "charlie"]


def test_pages_of_hundreds(app):
    db.session.add_all(
        Template(
            name=f"t_{n:03d}",
            language="en",
            category=TemplateCategory.UTILITY,
            body="Hello there.",
            buttons=[],
            examples={},
        )
        for n in range(230)
    )
    db.session.commit()
    first = templates.list_templates(sort="name")
    assert (first.total, len(first.templates), first.next_offset) == (230, 50, 50)
    last = templates.list_templates(sort="name", offset=200)
    assert next(t.name for t in last.templates) == "t_200" and len(last.templates) == 30 and last.next_offset is None
