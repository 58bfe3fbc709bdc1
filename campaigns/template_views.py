"""(routes follow)"""

from __future__ import annotations

from campaigns.views import bp  # noqa: F401
