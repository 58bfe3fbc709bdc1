"""Where the sandbox provider posts a sandbox sender's callbacks: our webhook receiver, at the sender's address.

``point(sender)`` registers the sender's number with the sandbox it talks to (its ``base_url``) with the
callback URL ``WEBHOOK_RECEIVER_URL`` + ``/webhooks/whatsapp/<sender id>`` and the sender's own app secret (the
sandbox signs with it, our intake checks with it). A sandbox that is not running yet — `make run` calls this
before it starts the processes — gets it in its state file (``SANDBOX_STATE_FILE``), which it reads at start.
The sandbox does not do the Cloud API's handshake, so the verify token plays no part here.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from pathlib import Path

from flask import current_app

from campaigns.models import Sender
from campaigns.senders import point_sandbox_sms, settings_for, webhook_url
from channels.sandbox import persistence

log = logging.getLogger(__name__)

CONTROL_TIMEOUT = 2.0


def callback_url(sender: Sender) -> str:
    return f"{current_app.config['WEBHOOK_RECEIVER_URL']}/webhooks/whatsapp/{sender.id}"


def point_sms(sender: Sender) -> str:
    """Have the sandbox's SMSC account of ``sender`` post its statuses to our receiver (the sender's webhook URL,
    its secret in the query); the URL. A sandbox that is not running is left alone: the next run points it."""
    try:
        point_sandbox_sms(sender)
        log.info("event=sandbox_sms_pointed sender_id=%s running=true", sender.id)
    except OSError:
        log.info("event=sandbox_sms_pointed sender_id=%s running=false", sender.id)
    return webhook_url(sender).split("?", 1)[0]


def point(sender: Sender) -> str:
    """Have the sandbox post ``sender``'s callbacks to our receiver, signed with its app secret; the URL."""
    settings = settings_for(sender)
    fields = {"phone_number_id": sender.phone_number_id, "callback_url": callback_url(sender),
              "app_secret": settings.app_secret}
    request = urllib.request.Request(f"{sender.base_url}/_sandbox/numbers", data=json.dumps(fields).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=CONTROL_TIMEOUT):
            pass
        log.info("event=sandbox_callbacks_pointed sender_id=%s url=%s running=true", sender.id, fields["callback_url"])
    except OSError:  # not running (make run starts it next): it reads the number from its state file
        persistence.register(Path(current_app.config["SANDBOX_STATE_FILE"]), fields)
        log.info("event=sandbox_callbacks_pointed sender_id=%s url=%s running=false", sender.id,
                 fields["callback_url"])
    return fields["callback_url"]
