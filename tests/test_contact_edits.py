"""Editing contacts (``audience.contact_edits``): one contact's name, city, attributes and tags, and tags added or
removed in bulk for a selection or a segment, set-wise; every change audited; nobody re-subscribed. SQLite and
PostgreSQL, the service and the JSON API."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from audience import contact_edits, segments
from audience.contact_edits import ContactEditError
from audience.models import Contact
from audience.status import ContactStatus, status_of
from compliance.audit import AuditEvent
from compliance.models import SuppressionReason
from extensions import db
from tests.records import suppress
from tests.test_contacts import add_contact


def audited(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def tags_of(*found: Contact) -> list[str]:
    db.session.expire_all()
    return [db.session.get(Contact, contact.id).tags for contact in found]


def test_editing_a_contact_changes_only_what_is_given_places_the_new_city_and_audits_the_fields(app):
    contact = add_contact("+79031234567", "Анна", city="Москва", country="RU", tags="|vip|",
                          attributes={"Покупок": "3"})
    db.session.commit()
    changed = contact_edits.edit_contact(contact, {"name": " Анна Петрова ", "city": "Казань",
                                                   "attributes": {"Покупок": "4", "Карта": ""},
                                                   "tags": "VIP, опт"})
    db.session.commit()
    # The new full name is split into its parts, as the import splits one.
    assert changed == ["name", "city", "attributes", "tags", "first_name", "last_name"]
    db.session.expire_all()
    found = db.session.get(Contact, contact.id)
    assert (found.name, found.city, found.attributes, found.tags) == ("Анна Петрова", "Казань", {"Покупок": "4"},
                                                                       "|vip|опт|")
    assert found.region == "Республика Татарстан" and found.timezone == "Europe/Moscow"
    assert found.name_key and "петрова" in found.name_key
    # A city the gazetteer does not know keeps the region; the coordinates of the old city go.
    contact_edits.edit_contact(found, {"city": "Нигдеград"})
    assert (found.city, found.region, found.place_id, found.latitude) == ("Нигдеград", "Республика Татарстан", None,
                                                                          None)
    contact_edits.edit_contact(found, {"city": "Казань"})
    [event, *_later] = audited("contact.edited")
    assert event.details == {"fields": ["name", "city", "attributes", "tags", "first_name", "last_name"]}
    assert event.object_id == str(contact.id)
    # The same values again change nothing and audit nothing.
    assert contact_edits.edit_contact(found, {"name": "Анна Петрова", "tags": ["vip", "опт"]}) == []
    assert len(audited("contact.edited")) == 3


def test_an_edit_with_mistakes_says_each_and_changes_nothing(app):
    contact = add_contact("+79031234568", "Борис")
    db.session.commit()
    with pytest.raises(ContactEditError) as refused:
        contact_edits.edit_contact(contact, {"name": "Б" * 201, "tags": 5, "consent_source": "x", "phone": "+7"})
    fields = [field for field, _sentence in refused.value.field_errors]
    assert fields == ["consent_source", "name", "tags"]
    db.session.rollback()
    assert db.session.get(Contact, contact.id).name == "Борис"


def test_editing_an_opted_out_contact_never_resubscribes_them(app):
    contact = add_contact("+79031234569", "Вера")
    suppress(contact.phone, SuppressionReason.OPT_OUT)
    db.session.commit()
    contact_edits.edit_contact(contact, {"name": "Вера Сергеевна", "tags": ["vip"]})
    contact_edits.retag(contact_edits.selection([contact.id])[0], add=["вернуть"])
    db.session.commit()
    assert status_of(suppressed_of(contact)) is ContactStatus.OPTED_OUT


def suppressed_of(contact: Contact) -> tuple[str, ...]:
    from compliance.models import Suppression

    return tuple(db.session.scalars(select(Suppression.reason).where(Suppression.phone == contact.phone,
                                                                     Suppression.lifted_at.is_(None))))


def test_tags_are_added_and_removed_set_wise_for_a_selection_and_for_a_segment(app):
    plain, vip, both = (add_contact(f"+7903100000{n}", f"Клиент {n}", tags=tags, country="RU")
                        for n, tags in enumerate(("", "|vip|", "|vip|опт|")))
    other = add_contact("+79031000009", "Другой", tags="|vip|", country="KZ")
    db.session.commit()
    counts = contact_edits.retag(contact_edits.selection([plain.id, vip.id])[0], add=["VIP", "новый"])
    db.session.commit()
    assert counts == {"added:vip": 1, "added:новый": 2, "full": 0}
    assert tags_of(plain, vip, both, other) == ["|vip|новый|", "|vip|новый|", "|vip|опт|", "|vip|"]

    segment = segments.create_segment("Россия", {"countries": ["RU"]})
    db.session.commit()
    condition, found = contact_edits.selection(segment="Россия")
    counts = contact_edits.retag(condition, remove=["vip"], add=["осень"], segment=found)
    db.session.commit()
    assert counts == {"added:осень": 3, "removed:vip": 3, "full": 0}
    assert tags_of(plain, vip, both, other) == ["|новый|осень|", "|новый|осень|", "|опт|осень|", "|vip|"]
    contact_edits.retag(condition, remove=["новый", "осень", "опт"])
    db.session.commit()
    assert tags_of(plain, vip, both) == ["", "", ""]
    events = audited("contact.tags_changed")
    assert events[1].details == {"added": ["осень"], "removed": ["vip"], "added:осень": 3, "removed:vip": 3,
                                 "full": 0} and events[1].object_id == str(segment.id)


def test_a_tag_that_does_not_fit_is_counted_not_cut(app):
    crowded = add_contact("+79031000100", "Много", tags="|" + "|".join(f"t{n:03d}" for n in range(199)) + "|")
    db.session.commit()
    assert len(crowded.tags) == 996
    counts = contact_edits.retag(contact_edits.selection([crowded.id])[0], add=["ещё"])
    assert counts == {"added:ещё": 0, "full": 1}


def test_a_bulk_edit_needs_its_contacts_and_its_tags(app):
    with pytest.raises(ContactEditError):
        contact_edits.selection([])
    with pytest.raises(ContactEditError):
        contact_edits.selection(segment="нет такого")
    contact = add_contact("+79031000200", "Один")
    db.session.commit()
    with pytest.raises(ContactEditError):
        contact_edits.retag(contact_edits.selection([contact.id])[0])


def test_the_api_edits_a_contact_and_retags_a_selection_for_marketers_only(app, call_as):
    contact = add_contact("+79031000300", "Глеб", tags="|vip|")
    db.session.commit()
    edited = call_as("PATCH", f"/contacts/{contact.id}", json={"name": "Глеб Иванов", "tags": ["vip", "опт"]})
    assert edited.status_code == 200, edited.get_json()
    assert edited.get_json()["changed"] == ["name", "tags", "first_name", "last_name"]
    assert edited.get_json()["name"] == "Глеб Иванов" and edited.get_json()["last_name"] == "Иванов"
    refused = call_as("PATCH", f"/contacts/{contact.id}", json={"phone": "+7"})
    assert refused.status_code == 400 and refused.get_json()["errors"][0]["field"] == "phone"
    assert call_as("PATCH", f"/contacts/{contact.id}", "reviewer", json={"name": "x"}).status_code == 403
    retagged = call_as("POST", "/contacts/tags", json={"contact_ids": [contact.id], "remove": ["vip"]})
    assert retagged.status_code == 200 and retagged.get_json()["counts"] == {"removed:vip": 1}
    assert tags_of(contact) == ["|опт|"]
    assert call_as("POST", "/contacts/tags", json={"segment": "нет", "add": ["x"]}).status_code == 400


def test_a_marketer_edits_a_contact_on_its_page_and_a_reviewer_cannot(app, make_user):
    from tests.helpers import post_form, signed_in_client

    contact = add_contact("+79031000400", "Дина", tags="|vip|", attributes={"Карта": "золотая"})
    db.session.commit()
    marketer = signed_in_client(app, make_user("marketer").email)
    page = marketer.get(f"/audience/contacts/{contact.id}").get_data(as_text=True)
    assert "Карта: золотая" in page and 'value="vip"' in page
    url = f"/audience/contacts/{contact.id}"
    saved = post_form(marketer, url, {
        "name": "Дина Сергеевна", "city": "", "tags": "vip, опт", "attributes": "Карта: серебряная\nПокупок: 7"})
    assert saved.status_code == 302
    db.session.expire_all()
    found = db.session.get(Contact, contact.id)
    assert (found.name, found.tags, found.attributes) == ("Дина Сергеевна", "|vip|опт|",
                                                          {"Карта": "серебряная", "Покупок": "7"})
    too_long = post_form(marketer, url, {"name": "Д" * 201, "city": "", "tags": "", "attributes": ""})
    assert too_long.status_code == 400 and "200" in too_long.get_data(as_text=True)
    reviewer = signed_in_client(app, make_user("reviewer").email)
    assert post_form(reviewer, url, {"name": "x"}).status_code == 403
    assert "Edit the contact" not in reviewer.get(f"/audience/contacts/{contact.id}").get_data(as_text=True)


def test_a_marketer_retags_ticked_contacts_or_a_segment_from_the_list(app, make_user):
    from tests.helpers import post_form, signed_in_client

    first, second, third = (add_contact(f"+7903100050{n}", f"Клиент {n}", country="RU") for n in range(3))
    segments.create_segment("Все русские", {"countries": ["RU"]})
    db.session.commit()
    marketer = signed_in_client(app, make_user("marketer").email)
    listing = marketer.get("/audience/contacts").get_data(as_text=True)
    assert 'name="contact_ids"' in listing and "Все русские" in listing
    ticked = post_form(marketer, "/audience/contacts/tags", {"add": "vip", "remove": "", "scope": "selected",
                                                              "contact_ids": [first.id, third.id]},
                       page="/audience/contacts")
    assert ticked.status_code == 302
    assert tags_of(first, second, third) == ["|vip|", "", "|vip|"]
    segment_id = segments.find_segment("Все русские").id
    whole = post_form(marketer, "/audience/contacts/tags", {"add": "осень", "remove": "vip", "scope": "segment",
                                                             "segment": segment_id}, page="/audience/contacts")
    assert whole.status_code == 302
    assert tags_of(first, second, third) == ["|осень|", "|осень|", "|осень|"]
    nothing = post_form(marketer, "/audience/contacts/tags", {"add": "x", "scope": "selected"},
                        page="/audience/contacts", follow_redirects=True)
    assert "Choose the contacts (or a segment) to change." in nothing.get_data(as_text=True)
    reviewer = signed_in_client(app, make_user("reviewer").email)
    assert 'name="contact_ids"' not in reviewer.get("/audience/contacts").get_data(as_text=True)


def test_the_cli_retags_a_segment_and_says_what_is_wrong(app):
    first, second = (add_contact(f"+7903100060{n}", f"Клиент {n}", country="RU", tags="|old|") for n in range(2))
    segments.create_segment("Для CLI", {"countries": ["RU"]})
    db.session.commit()
    runner = app.test_cli_runner()
    done = runner.invoke(args=["audience", "tag", "--segment", "Для CLI", "--add", "new", "--remove", "old"])
    assert done.exit_code == 0, done.output
    assert "added:new\t2" in done.output and "removed:old\t2" in done.output
    assert tags_of(first, second) == ["|new|", "|new|"]
    refused = runner.invoke(args=["audience", "tag", "--add", "x"])
    assert refused.exit_code == 1 and "Choose the contacts (or a segment) to change." in refused.output


def test_a_new_full_name_is_split_into_its_parts_and_new_parts_compose_the_name(app):
    contact = add_contact("+79031000700", "Петрова Анна", first_name="Анна", last_name="Петрова")
    db.session.commit()
    contact_edits.edit_contact(contact, {"name": "Сидорова Мария Ивановна"})
    assert (contact.last_name, contact.first_name, contact.patronymic) == ("Сидорова", "Мария", "Ивановна")
    contact_edits.edit_contact(contact, {"name": contact.name, "first_name": "Мария", "patronymic": "Петровна",
                                         "last_name": "Сидорова"})
    assert contact.name == "Сидорова Мария Петровна"
    contact_edits.edit_contact(contact, {"name": "Маша", "patronymic": ""})
    assert (contact.name, contact.patronymic) == ("Маша", None)
    db.session.commit()
