"""The sandbox provider: a local process that speaks the WhatsApp Cloud API wire format (and MAX's).

``python -m channels.sandbox`` serves the Cloud API's paths (sends, number info, template
submission and reading) on aiohttp, validates requests as Meta does, decides templates, calls back
with signed status webhooks, simulates recipients by number pattern and injects faults on demand.
It also speaks the MAX Bot API (``max_routes``: sends, the bot, webhook subscriptions, MAX's limits,
simulated people who start, stop, write and press buttons). A control API under ``/_sandbox/`` resets
and configures it and reads its ledger. See
``docs/sandbox.md``. It imports nothing of the project outside ``channels``.
"""
