"""Sentences that can be kept and said again later, in another reader's language.

A report stored in the database (a campaign's preflight) is read long after it was written, by people
who speak other languages than the one it was written in. So what it keeps is a code and the
parameters of each sentence, and a page words it when it is shown. A ``Sentence`` is a ``str`` (the
words in the language of the moment, so every caller that shows it now needs nothing new) that also
remembers its code and parameters for ``stored``.

Each module keeps its own table of ``code → lazy_gettext`` template (or a function of the parameters,
where a parameter must itself be worded, such as a number in the reader's format); ``say`` words a
stored sentence with the tables that may hold its code. Parameters must be JSON-ready.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Self

Template = Any | Callable[[Mapping[str, Any]], str]  # a lazy string with %(name)s, or a function
Stored = str | dict[str, Any]


def _word(template: Template, params: Mapping[str, Any]) -> str:
    if callable(template):
        return str(template(params))
    return str(template) % params if params else str(template)


class Sentence(str):
    """A sentence worded now, which remembers its ``code`` and ``params`` so that it can be stored."""

    code: str
    params: dict[str, Any]

    def __new__(cls, templates: Mapping[str, Template], code: str, **params: Any) -> Self:
        sentence = super().__new__(cls, _word(templates[code], params))
        sentence.code, sentence.params = code, params
        return sentence

    def stored(self) -> dict[str, Any]:
        return {"code": self.code, "params": self.params}


def stored(text: str) -> Stored:
    """What to keep of ``text``: a sentence's code and parameters, or (any other string) the text itself."""
    return text.stored() if isinstance(text, Sentence) else str(text)


def say(kept: Stored, *tables: Mapping[str, Template]) -> str:
    """A kept sentence in the reader's language. Text kept as text (reports stored before sentences had
    codes) is shown as it was written; a code no table knows any more is shown as the code."""
    if isinstance(kept, str):
        return kept
    code, params = kept.get("code", ""), kept.get("params") or {}
    template = next((table[code] for table in tables if code in table), None)
    return code if template is None else _word(template, params)
