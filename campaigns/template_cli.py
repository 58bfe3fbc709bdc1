"""(commands follow)"""

from __future__ import annotations

from campaigns.cli import group  # noqa: F401
