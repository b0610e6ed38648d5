"""Configuration: defaults for a local run, every value overridable by an environment variable."""

import os
import secrets
from datetime import timedelta
from pathlib import Path

import orjson


def _database_url(instance_path: Path) -> str:
    """DATABASE_URL when set (postgresql:// is served by psycopg 3), else SQLite under instance/."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        return f"sqlite:///{instance_path / 'herald.db'}"
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def _secret_key(instance_path: Path) -> str:
    """SECRET_KEY from the environment, else one generated once and kept in instance/secret_key."""
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    path = instance_path / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def engine_options(uri: str, options: dict) -> dict:
    """JSON columns read and written with orjson; SQLite waits up to 30 s for its write lock (delivery workers
    and requests write at the same time)."""
    options = {"json_serializer": _to_json, "json_deserializer": orjson.loads, **options}
    if uri.startswith("sqlite"):
        return {**options, "connect_args": {"timeout": 30, **options.get("connect_args", {})}}
    return options


def _to_json(value) -> str:
    """orjson writes JSON several times faster than the json module (pacing rewrites a robot's recent sends
    twice per batch of messages); keys that are numbers become strings, as with json.dumps."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


class Config:
    """Production and `make run` defaults."""

    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    WTF_CSRF_TIME_LIMIT = None
    REMEMBER_COOKIE_HTTPONLY = True
    # Also how long the server keeps a login it has not been told has ended (services.sessions).
    REMEMBER_COOKIE_DURATION = timedelta(days=365)
    REMEMBER_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    BABEL_DEFAULT_LOCALE = "en"
    LANGUAGES = {"en": "English", "zh": "简体中文"}
    CASES_PER_PAGE = 25
    # "pool": deliveries run after the commit in a few background threads; "inline": right after the commit.
    NOTIFICATIONS_DISPATCH = os.environ.get("HERALD_DISPATCH", "pool")
    NOTIFICATIONS_WORKERS = int(os.environ.get("HERALD_DELIVERY_WORKERS", "4"))
    # Seconds to wait before each retry of a temporary failure; then the message is failed.
    NOTIFICATIONS_BACKOFF = (30, 120, 600, 3600)
    NOTIFICATIONS_SWEEP_SECONDS = 30
    # A server starts sweeping when it starts (what a restart left due goes out with no visitor).
    NOTIFICATIONS_SWEEP_AT_START = True
    # A save's messages go to the pool when its response is closed; should that never happen, a sweep this
    # many seconds later sends them.
    NOTIFICATIONS_HANDOFF_FALLBACK_SECONDS = 2.0
    # How long a worker holds the messages it has claimed before another process may take them over: a dead
    # worker's messages come back after it. A message is only sent while its claim has room for the longest
    # send (the robot timeouts); one that waited longer in the pool is given back to the sweeper unsent.
    NOTIFICATIONS_LEASE_SECONDS = float(os.environ.get("HERALD_DELIVERY_LEASE_SECONDS", "120"))
    # How many reverse proxies (nginx ...) stand in front of Herald and add X-Forwarded-For: their entries are
    # trusted for the client address (login throttling, audit log). 0: the address the connection comes from.
    PROXY_COUNT = int(os.environ.get("HERALD_PROXY_COUNT", "0"))
    # The address users reach Herald at; used for links in notifications.
    BASE_URL = os.environ.get("HERALD_BASE_URL", "http://127.0.0.1:5000")
    # Loopback, link-local or metadata addresses robots, webhooks, the proxy and the SMTP server may use all
    # the same (IP addresses, networks, host names, .domains), besides System settings → Network's list.
    OUTBOUND_ALLOW = os.environ.get("HERALD_OUTBOUND_ALLOW", "")

    def __init__(self, instance_path: Path):
        instance_path.mkdir(parents=True, exist_ok=True)
        self.SQLALCHEMY_DATABASE_URI = _database_url(instance_path)
        self.SECRET_KEY = _secret_key(instance_path)
        self.SESSION_COOKIE_SECURE = os.environ.get("HERALD_SECURE_COOKIES") == "1"
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE


class TestConfig(Config):
    """The test suite's configuration: a database chosen by the fixture, fast password hashes."""

    TESTING = True
    WTF_CSRF_ENABLED = False
    PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"
    NOTIFICATIONS_DISPATCH = "inline"
    # Pool apps of the tests sweep when a test says so (the sweep at start is tested on the production one).
    NOTIFICATIONS_SWEEP_AT_START = False
    SERVER_NAME = None
    # The emulators, nginx, proxies and SMTP servers of the tests listen on loopback.
    OUTBOUND_ALLOW = "127.0.0.0/8, ::1, localhost"
