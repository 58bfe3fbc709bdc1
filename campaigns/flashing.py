"""How a page's button or form reports a service's refusal: what the refused change wrote is rolled back and
its sentences are flashed; an accepted change is committed."""

from __future__ import annotations

from collections.abc import Callable

from flask import flash

from domain_errors import DomainError
from extensions import db


def flash_refusal(error: DomainError) -> None:
    """Undo what the refused change wrote and show each of its sentences."""
    db.session.rollback()
    for sentence in error.errors:
        flash(sentence, "error")


def commit_or_flash(change: Callable[[], object], success: str | None = None) -> bool:
    """Run ``change`` and commit it (flashing ``success`` if given); on a refusal flash its sentences instead.
    Returns whether the change was committed."""
    try:
        change()
    except DomainError as error:
        flash_refusal(error)
        return False
    db.session.commit()
    if success:
        flash(success, "info")
    return True
