"""What the sandbox provider is out of the box: its one number and business account, and its credentials.

Vestnik's embedded default sender (``campaigns.senders.ensure_sandbox_sender``) points at exactly these,
so they are written once, here.
"""

TOKEN = "sandbox-token"
APP_SECRET = "sandbox-secret"
PHONE_NUMBER_ID = "100000000000001"
WABA_ID = "200000000000001"
PHONE = "+74950000001"  # E.164, as Vestnik stores a sender's number
DISPLAY_PHONE_NUMBER = "+7 495 000-00-01"  # as the provider shows it
