"""Sentences every channel shares."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l


def unknown_code(code: int | str | None) -> Any:
    """The lazy sentence for a provider's code that no table knows: it names the code for the support desk."""
    return _l("The provider refused the message (code %(code)s).", code=code if code not in (None, "") else "?")
