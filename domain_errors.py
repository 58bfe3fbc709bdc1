"""The one base class of every refusal a user reads: sentences, the fields they are about, and an HTTP status.

A leaf (it imports no project package), so that every package may raise it and every edge can map this
one type: the API turns it into a problem details document (``web/problems.py``), the views show its
sentences beside the form, the CLI prints them (``cli_errors.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class DomainError(Exception):
    """A request that the rules refuse; every message is a sentence for the person who asked.

    ``DomainError(sentence, …)`` (or ``DomainError([sentence, …])``) carries sentences (translated, or
    lazy strings translated when read);
    ``field=`` names the input they are about; ``errors=[(field, sentence), …]`` carries sentences
    about several fields at once (``field`` None when a sentence is about no one input). ``status``
    is what the refusal means over HTTP: 400 invalid input (the default), 403 forbidden, 404
    missing, 409 a conflict with the current state (a lost compare-and-set, a step the status does
    not allow), 422 a valid request the rules block. Subclasses set their own default ``status``.
    """

    status: int = 400
    # The kind of problem when it is more specific than the status says (``web/problems.py``).
    kind: str | None = None

    def __init__(self, *messages: Any, field: str | None = None,
                 errors: Iterable[tuple[str | None, Any]] = (), status: int | None = None) -> None:
        if len(messages) == 1 and isinstance(messages[0], list):
            messages = tuple(messages[0])
        self.field_errors: list[tuple[str | None, Any]] = [(field, message) for message in messages] + list(errors)
        super().__init__(*[message for _field, message in self.field_errors])
        if status is not None:
            self.status = status

    @property
    def errors(self) -> list[str]:
        """The sentences, in the order given."""
        return [str(message) for _field, message in self.field_errors]

    def __str__(self) -> str:
        return " ".join(self.errors)

    def about(self, field: str) -> DomainError:
        """This error with its sentences that name no field attributed to ``field``; re-raise the result."""
        self.field_errors = [(name or field, message) for name, message in self.field_errors]
        return self

    def problem_members(self) -> dict[str, Any]:
        """Further members of the problem details document (an extension such as a preflight report)."""
        return {}


class FieldErrors(list):
    """A list of sentences that keeps each with the input being checked when it was added.

    Checks that ``append`` sentences to a list need not know field names: the caller sets ``field``
    before each part it checks, and passes the result as ``DomainError(errors=…)``.
    """

    field: str | None = None

    def append(self, sentence: Any) -> None:
        super().append((self.field, sentence))
