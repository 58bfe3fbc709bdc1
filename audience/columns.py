"""Which column of an uploaded file holds which contact field: guessed from the usual Russian and
English header names, and overridable by the person importing."""

from __future__ import annotations

import re

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from domain_errors import DomainError

# Field → the header names CRMs and people use for it, compared after ``header_key``.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "phone": ("телефон", "phone", "номер", "номер телефона", "mobile", "мобильный", "мобильный телефон",
              "моб телефон", "сотовый", "тел", "tel", "telephone", "phone number", "msisdn", "whatsapp"),
    "name": ("фио", "name", "full name", "клиент", "контакт", "имя клиента", "фамилия имя", "фамилия имя отчество"),
    # As Bitrix24, amoCRM and 1C export them; a lone name column is split (audience.person_names).
    "first_name": ("имя", "first name", "firstname", "given name", "forename"),
    "patronymic": ("отчество", "middle name", "patronymic", "middlename", "second name"),
    "last_name": ("фамилия", "last name", "surname", "lastname", "family name"),
    "city": ("город", "city", "населенный пункт", "town"),
    "region": ("регион", "region", "область", "субъект", "субъект рф", "state", "province"),
    "country": ("страна", "country"),
    "latitude": ("широта", "lat", "latitude"),
    "longitude": ("долгота", "lon", "lng", "long", "longitude"),
    "consent": ("согласие", "consent", "opt in", "optin", "согласие на рассылку", "подписка", "opted in"),
    "consent_date": ("дата согласия", "consent date", "opt in date", "consent at", "consented at", "дата подписки"),
    "source": ("источник", "source", "источник согласия", "consent source"),
    "tags": ("теги", "тэги", "метки", "tags", "tag"),
    "language": ("язык", "language", "lang", "locale"),
}
FIELDS = tuple(SYNONYMS)
# The first columns of every error report (imports.report_lines), before the file's own.
REPORT_COLUMNS = (_l("Row"), _l("Outcome"), _l("Reason"), _l("Detail"))
FIELD_LABELS = {
    "phone": _l("Phone"), "name": _l("Full name"), "first_name": _l("First name"), "patronymic": _l("Patronymic"),
    "last_name": _l("Last name"), "city": _l("City"), "region": _l("Region"),
    "country": _l("Country"), "latitude": _l("Latitude"), "longitude": _l("Longitude"),
    "consent": _l("Consent"), "consent_date": _l("Consent date"), "source": _l("Consent source"),
    "tags": _l("Tags"), "language": _l("Language"),
}
_PUNCTUATION = re.compile(r"[\s_\-.,:;/()\"'*#№]+")


class MappingError(DomainError):
    """The mapping cannot work for this file; the message is a sentence for the person importing."""


def header_key(header: str) -> str:
    """A header as compared with the synonyms: case, ё, punctuation and spacing do not matter."""
    return _PUNCTUATION.sub(" ", header.casefold().replace("ё", "е")).strip()


_FIELD_BY_KEY = {synonym: name for name, synonyms in SYNONYMS.items() for synonym in synonyms}


def detect(headers: list[str]) -> dict[str, str]:
    """Field → header for every field whose usual name appears among ``headers`` (first one wins)."""
    mapping: dict[str, str] = {}
    for header in headers:
        name = _FIELD_BY_KEY.get(header_key(header))
        if name and name not in mapping:
            mapping[name] = header
    # Имя beside neither Отчество nor Фамилия is most often the whole name ("Иван Петров"): the name, split
    # into its parts on import, as a lone ФИО column is.
    if "first_name" in mapping and not {"name", "patronymic", "last_name"} & mapping.keys():
        mapping["name"] = mapping.pop("first_name")
    return mapping


def resolve(headers: list[str], overrides: dict[str, str] | None = None) -> dict[str, str]:
    """The detected mapping with ``overrides`` (field → header, "" to unmap) applied and checked."""
    mapping = detect(headers)
    for name, header in (overrides or {}).items():
        if name not in SYNONYMS:
            raise MappingError(_("There is no contact field called “%(field)s”; the fields are: %(fields)s.",
                                 field=name, fields=", ".join(FIELDS)))
        if not header:
            mapping.pop(name, None)
        elif header not in headers:
            raise MappingError(_("The file has no column “%(column)s”; its columns are: %(columns)s.",
                                 column=header, columns=", ".join(headers)))
        else:
            mapping[name] = header
    used = list(mapping.values())
    for header in set(used):
        if used.count(header) > 1:
            raise MappingError(_("The column “%(column)s” is mapped to two fields; map it to one.", column=header))
    if "phone" not in mapping:
        raise MappingError(
            _(
                "No column holds the phone numbers; name it Телефон or Phone, or choose it in the mapping. "
                "The columns are: %(columns)s.",
                columns=", ".join(headers),
            )
        )
    return mapping


def attribute_headers(headers: list[str], mapping: dict[str, str]) -> list[str]:
    """The columns no field uses: each becomes a contact attribute under its header."""
    mapped = {*mapping.values(), *report_columns(headers)}
    return [header for header in headers if header and header not in mapped and not header.startswith("Unnamed: ")]


def report_columns(headers: list[str]) -> list[str]:
    """The error report's own columns, when ``headers`` are a report's (in any language of the UI).

    A marketer fixes the rows of a report and imports it again: its notes are not attributes.
    """
    for language in current_app.config["LANGUAGES"]:
        with force_locale(language):
            names = [str(name) for name in REPORT_COLUMNS]
        if headers[:len(names)] == names:
            return names
    return []
