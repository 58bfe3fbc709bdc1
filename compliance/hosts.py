"""Which listed domain a link goes to, subdomains included (www.bit.ly is bit.ly)."""

from __future__ import annotations

import re
from collections.abc import Container

_SCHEME = re.compile(r"^https?://", re.IGNORECASE)


def listed_domain(link: str, domains: Container[str]) -> str | None:
    """The entry of ``domains`` that ``link``'s host is, or is a subdomain of; None when there is none."""
    labels = _SCHEME.sub("", link).split("/", 1)[0].lower().split(".")
    # Longest suffix first, stopping before the bare top-level domain.
    return next((host for host in (".".join(labels[cut:]) for cut in range(len(labels) - 1)) if host in domains), None)
