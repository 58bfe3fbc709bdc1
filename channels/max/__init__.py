"""MAX (VK's messenger) bots: the adapter (``client``), its wire format (``payloads``, ``webhooks``) and
MAX's error codes (``errors``). ``testdata/`` holds MAX's payloads in their documented shapes.

Only legal entities, sole traders and self-employed people registered on business.max.ru may run
bots (docs/channels-max.md).
"""

from channels.max.client import BASE_URL, MaxBot

__all__ = ["BASE_URL", "MaxBot"]
