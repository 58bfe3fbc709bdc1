"""SMSC.ru (smsc.ru): the adapter (``client``), its wire format (``payloads``, ``webhooks``) and its error codes
and statuses (``errors``). ``testdata/`` holds SMSC's answers and callbacks in their documented shapes.
docs/channels-sms.md says why SMSC and not SMS Aero."""

from channels.sms.smsc.client import BASE_URL, SmscGateway

__all__ = ["BASE_URL", "SmscGateway"]
