"""What the sandbox provider is out of the box: its one number and business account, its MAX bot, and their
credentials.

Vestnik's embedded default sender (``campaigns.senders.ensure_sandbox_sender``) points at exactly these,
so they are written once, here.
"""

TOKEN = "sandbox-token"
APP_SECRET = "sandbox-secret"
PHONE_NUMBER_ID = "100000000000001"
WABA_ID = "200000000000001"
PHONE = "+74950000001"  # E.164, as Vestnik stores a sender's number
DISPLAY_PHONE_NUMBER = "+7 495 000-00-01"  # as the provider shows it

# The sandbox's MAX bot (channels/sandbox/max_routes.py): its token (``Authorization: <token>``), its public name in
# deep links (max.ru/<username>?start=…), its display name and user id, and the webhook secret Vestnik's embedded
# default subscribes with (MAX takes [A-Za-z0-9_-]{5,256}).
MAX_TOKEN = "sandbox-max-token"
MAX_BOT_USERNAME = "vestnik_sandbox_bot"
MAX_BOT_NAME = "Vestnik Sandbox"
MAX_BOT_USER_ID = 900000001
MAX_WEBHOOK_SECRET = "sandbox-max-secret"

# The sandbox's Telegram bot (channels.sandbox.telegram_*): its token (``<bot id>:<secret part>``, as @BotFather
# issues them), its public username and name, and the secret token its webhook echoes.
TELEGRAM_TOKEN = "7000000001:AAsandbox-telegram-bot-token-000000"
TELEGRAM_USERNAME = "vestnik_sandbox_bot"
TELEGRAM_FIRST_NAME = "Vestnik Sandbox"
TELEGRAM_SECRET = "sandbox-telegram-secret"

# The sandbox's SMSC.ru account (channels.sandbox.sms_routes): its login and password (``send.php``'s ``login`` and
# ``psw``) and the alpha name Vestnik's embedded default SMS sender sends as.
SMS_LOGIN = "vestnik-sandbox"
SMS_PASSWORD = "sandbox-sms-password"
SMS_ALPHA_NAME = "Vestnik"
