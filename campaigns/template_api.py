"""(routes follow)"""

from __future__ import annotations

from campaigns.api import bp  # noqa: F401
