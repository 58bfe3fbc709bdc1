"""Settings read from the environment, with embedded defaults for a laptop.

Two modes:
- *embedded* (the default): SQLite under ``instance/``, a Redis server of our own on a unix socket in
  ``instance/``, a secret key generated once and kept in ``instance/secret_key``, and the key that
  encrypts senders' secrets generated once in ``instance/secrets_key``.
- *production* (``VESTNIK_ENV=production``): nothing is guessed; a missing ``SECRET_KEY``,
  ``DATABASE_URL``, ``REDIS_URL`` or ``VESTNIK_SECRETS_KEY`` stops start-up with a sentence that says
  what to set.

This module is a leaf: it imports no package of the project.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import click
import phonenumbers

PROJECT_ROOT = Path(__file__).resolve().parent
DEFAULT_INSTANCE_PATH = PROJECT_ROOT / "instance"
LANGUAGES = ("en", "ru")
# A unix socket path must fit in sockaddr_un (108 bytes on Linux).
MAX_UNIX_SOCKET_PATH = 100


class ConfigError(click.ClickException):
    """A setting is missing or wrong; the message is a sentence for the operator.

    A click exception, so `flask …` commands print the sentence instead of a traceback.
    """


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}.") from None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}.") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ConfigError(f"{name} must be a finite number, not {raw!r}.")
    return value


def instance_path(env: Mapping[str, str] | None = None) -> Path:
    """Folder for the embedded database, Redis socket and generated secret."""
    env = os.environ if env is None else env
    return Path(env.get("VESTNIK_INSTANCE_PATH") or DEFAULT_INSTANCE_PATH).resolve()


def embedded_redis_socket(instance: Path) -> Path:
    """Where the embedded Redis listens; falls back to the temp dir when the path is too long."""
    socket = instance / "redis.sock"
    if len(str(socket)) <= MAX_UNIX_SOCKET_PATH:
        return socket
    # Deterministic per instance folder, so the web app, the worker and the server agree on it.
    digest = hashlib.sha256(str(instance).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"vestnik-redis-{digest}.sock"


def _embedded_key(instance: Path, name: str, generate: Callable[[], str]) -> str:
    """The key kept in ``instance/<name>``, generated once, so that what it protects survives restarts."""
    path = instance / name
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    key = generate()
    # O_EXCL: if two processes start together, one writes and both read the same key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def _embedded_secret(instance: Path) -> str:
    """The secret key of the embedded mode: sessions survive restarts."""
    return _embedded_key(instance, "secret_key", lambda: secrets.token_urlsafe(48))


def _embedded_secrets_key(instance: Path) -> str:
    """The key that encrypts senders' secrets in the embedded mode (a Fernet key: 32 bytes, URL-safe base64)."""
    return _embedded_key(instance, "secrets_key", lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())


def _secrets_keys(raw: str) -> tuple[str, ...]:
    """The Fernet keys of ``VESTNIK_SECRETS_KEY``, newest (the one that encrypts) first."""
    keys = tuple(part.strip() for part in raw.split(",") if part.strip())
    for key in keys:
        try:
            valid = len(base64.urlsafe_b64decode(key.encode("ascii"))) == 32
        except (ValueError, UnicodeEncodeError):
            valid = False
        if not valid:
            raise ConfigError(
                "VESTNIK_SECRETS_KEY must hold Fernet keys (32 random bytes in URL-safe base64, 44 characters), "
                "separated by commas; make one with `python -c \"from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())\"`."
            )
    if not keys:
        raise ConfigError("VESTNIK_SECRETS_KEY is empty; give at least one Fernet key.")
    return keys


def load(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Build the Flask config mapping from environment variables.

    Raises ConfigError with an operator-readable sentence when something is missing or malformed.
    """
    env = os.environ if env is None else env
    production = env.get("VESTNIK_ENV", "embedded").strip().lower() == "production"
    instance = instance_path(env)

    if production:
        required = ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "VESTNIK_SECRETS_KEY")
        missing = [name for name in required if not env.get(name)]
        if missing:
            raise ConfigError(
                "Vestnik is running in production mode (VESTNIK_ENV=production) but "
                + ", ".join(missing)
                + (" is" if len(missing) == 1 else " are")
                + " not set; set "
                + ("it" if len(missing) == 1 else "them")
                + " in the environment and start again."
            )
        if len(env["SECRET_KEY"]) < 32:
            raise ConfigError("SECRET_KEY is too short; use at least 32 random characters.")

    secret_key = env.get("SECRET_KEY") or _embedded_secret(instance)
    secrets_keys = _secrets_keys(env.get("VESTNIK_SECRETS_KEY") or _embedded_secrets_key(instance))
    # make run starts the sandbox on VESTNIK_SANDBOX_PORT (Procfile): the default sender finds it there.
    sandbox_port = _int(env, "VESTNIK_SANDBOX_PORT", 8025)
    sandbox_url = (env.get("SANDBOX_URL") or f"http://127.0.0.1:{sandbox_port}").strip().rstrip("/")
    if not sandbox_url.startswith(("http://", "https://")):
        raise ConfigError(f"SANDBOX_URL must start with http:// or https://, not {sandbox_url!r}.")
    database_url = env.get("DATABASE_URL") or f"sqlite:///{instance / 'vestnik.db'}"
    if database_url.startswith("postgres://"):
        # Heroku-style URLs; SQLAlchemy only accepts the postgresql scheme.
        database_url = "postgresql://" + database_url[len("postgres://"):]
    if database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://"):]
    if not database_url.startswith(("sqlite:", "postgresql+psycopg:")):
        raise ConfigError(
            f"DATABASE_URL must point at PostgreSQL (postgresql://…) or SQLite (sqlite:///…), "
            f"not {database_url.split(':', 1)[0]!r}."
        )

    redis_url = env.get("REDIS_URL") or ""
    embedded_redis = not redis_url
    if embedded_redis:
        redis_url = f"unix://{embedded_redis_socket(instance)}"
    elif not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError("REDIS_URL must start with redis://, rediss:// or unix://.")

    # make run starts the webhook receiver on VESTNIK_WEBHOOKS_PORT (Procfile): the sandbox posts its callbacks there.
    webhooks_port = _int(env, "VESTNIK_WEBHOOKS_PORT", 8026)
    webhooks_url = (env.get("WEBHOOK_RECEIVER_URL") or f"http://127.0.0.1:{webhooks_port}").strip().rstrip("/")
    if not webhooks_url.startswith(("http://", "https://")):
        raise ConfigError(f"WEBHOOK_RECEIVER_URL must start with http:// or https://, not {webhooks_url!r}.")
    public_url = (env.get("PUBLIC_URL") or f"http://{env.get('VESTNIK_BIND') or '127.0.0.1:5000'}").rstrip("/")
    upload_mb = _int(env, "MAX_UPLOAD_MB", 100)
    default_language = env.get("DEFAULT_LANGUAGE", "en")
    if default_language not in LANGUAGES:
        raise ConfigError(f"DEFAULT_LANGUAGE must be one of {', '.join(LANGUAGES)}.")
    default_region = env.get("DEFAULT_REGION", "RU").strip().upper()
    if default_region not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigError(f"DEFAULT_REGION must be a two-letter country code such as RU, not {default_region!r}.")

    return {
        "VESTNIK_ENV": "production" if production else "embedded",
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": secret_key,
        # Fernet keys that encrypt senders' tokens and secrets at rest; the first encrypts, all decrypt (rotation).
        "SECRETS_KEYS": secrets_keys,
        # Where the local sandbox provider listens (`python -m channels.sandbox`); the embedded sandbox sender uses it.
        "SANDBOX_URL": sandbox_url,
        # Where providers reach the webhook receiver (python webhooks.py): the sandbox sender's callbacks go to
        # <this>/webhooks/whatsapp/<sender id> (`flask campaigns sender ensure-sandbox`).
        "WEBHOOK_RECEIVER_URL": webhooks_url,
        # The sandbox's state file (the Procfile's --state-file): ensure-sandbox records the callback URL there
        # when the sandbox is not running yet.
        "SANDBOX_STATE_FILE": str(instance / "sandbox.json"),
        # Bodies the receiver stores in one INSERT and COMMIT at most (all that arrived during the last commit).
        "WEBHOOK_RECEIVER_BATCH": max(_int(env, "WEBHOOK_RECEIVER_BATCH", 1000), 1),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "REDIS_URL": redis_url,
        "EMBEDDED_REDIS": embedded_redis,
        "PUBLIC_URL": public_url,
        # Cookies: never readable from scripts, not sent on cross-site POSTs, Secure behind HTTPS.
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": public_url.startswith("https://"),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": public_url.startswith("https://"),
        "PERMANENT_SESSION_LIFETIME": _int(env, "SESSION_HOURS", 12) * 3600,
        "TRUST_PROXY_HOPS": _int(env, "TRUST_PROXY_HOPS", 0),
        # The largest file accepted, by the web app and by `flask audience import` alike.
        "MAX_UPLOAD_MB": upload_mb,
        "MAX_CONTENT_LENGTH": upload_mb * 1024 * 1024,
        "MAX_FORM_MEMORY_SIZE": 1024 * 1024,
        "WTF_CSRF_TIME_LIMIT": None,  # tied to the session instead, so long forms don't expire
        "BABEL_DEFAULT_LOCALE": default_language,
        "BABEL_DEFAULT_TIMEZONE": "UTC",
        "LANGUAGES": LANGUAGES,
        # Numbers written without a country code are read as numbers of this country.
        "DEFAULT_REGION": default_region,
        # Argon2id parameters (RFC 9106 "second recommended option" by default).
        "PASSWORD_HASH_TIME_COST": _int(env, "PASSWORD_HASH_TIME_COST", 3),
        "PASSWORD_HASH_MEMORY_KIB": _int(env, "PASSWORD_HASH_MEMORY_KIB", 64 * 1024),
        "PASSWORD_MIN_LENGTH": _int(env, "PASSWORD_MIN_LENGTH", 12),
        "LOGIN_FREE_ATTEMPTS": _int(env, "LOGIN_FREE_ATTEMPTS", 5),
        "LOGIN_MAX_DELAY_SECONDS": _int(env, "LOGIN_MAX_DELAY_SECONDS", 15 * 60),
        "INVITATION_DAYS": _int(env, "INVITATION_DAYS", 7),
        "METRICS_TOKEN": env.get("METRICS_TOKEN") or None,
        # Prometheus' multiprocess folder (its client reads the variable itself, at import): /metrics sums the
        # files every process writes there. `make run` sets it under the instance folder (run.py).
        "METRICS_MULTIPROC_DIR": env.get("PROMETHEUS_MULTIPROC_DIR") or None,
        "LOG_LEVEL": env.get("LOG_LEVEL", "INFO").upper(),
        # On SIGTERM or Ctrl-C the worker gives its running job this long to finish, then kills it (worker.py);
        # `make run` waits for that (run.py) and the embedded Redis outlives it (embedded_redis.py).
        "WORKER_DRAIN_SECONDS": max(_int(env, "WORKER_DRAIN_SECONDS", 30), 1),
        # The cron lease (cron.py): a dead cron scheduler's successor takes over within 4/3 of it.
        "CRON_LEASE_SECONDS": max(_int(env, "CRON_LEASE_SECONDS", 30), 1),
        # Dispatch (campaigns/dispatch, docs/dispatch.md). A batch holds its rows this long and renews the lease
        # while it works; a lease that runs out means its worker died, and the recovery job takes the rows back.
        "DISPATCH_LEASE_SECONDS": max(_int(env, "DISPATCH_LEASE_SECONDS", 60), 1),
        # Message rows one batch job claims. RQ forks per job, and each job pays for its fork, its connections
        # and for filling and draining its pipeline of requests: 2,000 rows keep that under a tenth of the job
        # (bench/send_bench.py: 1,338 msg/s against 925 with 500, 2 workers, 100 ms provider).
        "DISPATCH_BATCH_SIZE": max(_int(env, "DISPATCH_BATCH_SIZE", 2000), 1),
        # Requests one worker keeps in flight at once (a provider answers in ~100 ms).
        "DISPATCH_IN_FLIGHT": max(_int(env, "DISPATCH_IN_FLIGHT", 200), 1),
        # Attempts before a transient failure becomes a permanent one.
        "DISPATCH_MAX_ATTEMPTS": max(_int(env, "DISPATCH_MAX_ATTEMPTS", 8), 1),
        # The first retry waits up to this long (full jitter), each later one twice as long, up to an hour;
        # the provider's Retry-After wins when it is longer.
        "DISPATCH_BACKOFF_SECONDS": max(_float(env, "DISPATCH_BACKOFF_SECONDS", 2.0), 0.0),
        # One send request's time to answer; after it the message may or may not have been accepted. Keep it
        # well under the lease.
        "DISPATCH_SEND_TIMEOUT_SECONDS": max(_float(env, "DISPATCH_SEND_TIMEOUT_SECONDS", 15.0), 0.1),
        # An "unknown" row (the request may have left, no answer was recorded) that no status settles within this
        # long counts as failed-unknown, never as sent.
        "DISPATCH_UNKNOWN_SECONDS": max(_int(env, "DISPATCH_UNKNOWN_SECONDS", 6 * 3600), 1),
        # How often the sweep looks for due rows (deferred rows whose window opened, retries whose time came,
        # jobs Redis lost) and expired leases.
        "DISPATCH_SWEEP_SECONDS": max(_int(env, "DISPATCH_SWEEP_SECONDS", 15), 1),
        # Webhook intake (campaigns/feedback, docs/feedback.md). A callback body larger than this is refused (413)
        # unread: Meta's bodies are a few kilobytes, a batch of 1,000 statuses well under a megabyte.
        "WEBHOOK_MAX_BYTES": max(_int(env, "WEBHOOK_MAX_BYTES", 1024 * 1024), 1),
        # How long a process keeps a sender's verification keys (app secret, verify token) decrypted in memory,
        # so that a burst of callbacks does not decrypt per request; a changed secret is re-read at once when a
        # signature fails against the kept one.
        "WEBHOOK_KEY_CACHE_SECONDS": max(_float(env, "WEBHOOK_KEY_CACHE_SECONDS", 60.0), 0.0),
        # Stored bodies one worker applies in one transaction.
        "WEBHOOK_BATCH_SIZE": max(_int(env, "WEBHOOK_BATCH_SIZE", 500), 1),
        # A drain that ran out of bodies waits this long for more before its job ends (docs/feedback.md).
        "WEBHOOK_DRAIN_LINGER_SECONDS": max(_float(env, "WEBHOOK_DRAIN_LINGER_SECONDS", 0.5), 0.0),
        # Failed applications of one body before it is left for the operator (kept, with its last error).
        "WEBHOOK_MAX_ATTEMPTS": max(_int(env, "WEBHOOK_MAX_ATTEMPTS", 5), 1),
        # How often the sweep applies bodies still pending (a wake-up Redis lost, a worker that died).
        "WEBHOOK_SWEEP_SECONDS": max(_int(env, "WEBHOOK_SWEEP_SECONDS", 30), 1),
        # The complaint circuit breaker (campaigns/feedback/breaker.py; the defaults are argued in
        # docs/feedback.md): over a sending campaign's last BREAKER_WINDOW delivered messages, once at least
        # BREAKER_MIN_DELIVERED were delivered, it pauses when blocks + spam reports pass BREAKER_BLOCK_THRESHOLD
        # of them, or opt-outs + blocks + spam reports pass BREAKER_THRESHOLD; never on fewer than
        # BREAKER_MIN_COMPLAINTS complaints.
        "BREAKER_WINDOW": max(_int(env, "BREAKER_WINDOW", 1000), 1),
        "BREAKER_MIN_DELIVERED": max(_int(env, "BREAKER_MIN_DELIVERED", 200), 1),
        "BREAKER_THRESHOLD": max(_float(env, "BREAKER_THRESHOLD", 0.02), 0.0),
        "BREAKER_BLOCK_THRESHOLD": max(_float(env, "BREAKER_BLOCK_THRESHOLD", 0.003), 0.0),
        "BREAKER_MIN_COMPLAINTS": max(_int(env, "BREAKER_MIN_COMPLAINTS", 3), 1),
    }
