"""The WhatsApp Cloud API: the adapter (``client``), its wire format (``payloads``, ``responses``,
``webhooks``) and Meta's error codes (``errors``). ``testdata/`` holds real captured payloads."""

from channels.whatsapp_cloud.client import WhatsAppCloud

__all__ = ["WhatsAppCloud"]
