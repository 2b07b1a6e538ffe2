"""Settings: built-in defaults, then the TOML file named by ``LEDGER_CONFIG``, then environment.

Every value is validated once, when the settings are loaded; a bad value raises
:class:`SettingsError` whose message is one line naming the setting and what is wrong.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ledger.zones import zone_named

DEFAULT_UPSTREAM_URL = "https://api.magichour.ai"

# Ceilings of the numeric settings: far above any sane deployment, far below overflow.
MAX_UPSTREAM_TIMEOUT = 3600.0  # seconds
MAX_POLL_INTERVAL = 3600.0  # seconds
MAX_POLL_RATE = 10_000.0  # polls per second
MAX_UNKNOWN_HOLD_HOURS = 8760.0  # a year
MAX_USD_PER_CREDIT = 1000.0


class SettingsError(Exception):
    """A setting has a bad value. The message names the setting."""


@dataclass(frozen=True)
class Settings:
    state_dir: Path = Path("var")
    database_url: str = ""  # empty: a SQLite file `ledger.db` in state_dir
    magic_hour_api_key: str | None = field(default=None, repr=False)
    upstream_url: str = DEFAULT_UPSTREAM_URL
    upstream_timeout: float = 60.0
    admin_token: str | None = field(default=None, repr=False)
    pricing: Path | None = None  # None: the built-in table
    poll_interval: float = 5.0
    poll_rate: float = 20.0
    webhook_secret: str | None = field(default=None, repr=False)
    unknown_hold_hours: float = 24.0
    alert_webhook_url: str | None = None
    usd_per_credit: float | None = None
    secret_key: str | None = field(default=None, repr=False)  # for the relay's team secrets
    metrics_token: str | None = field(default=None, repr=False)  # may read /metrics
    plan: str = "creator"  # the company's Magic Hour plan: what it runs when a request names none
    database_pool_size: int = 10  # connections per engine and process, and no more
    # IANA zone in which day, week and month periods and report buckets begin
    billing_timezone: str = "UTC"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.state_dir / 'ledger.db'}"

    def secrets(self) -> list[str]:
        """Every configured secret, for checks that they never leak."""
        found = (
            self.magic_hour_api_key,
            self.admin_token,
            self.webhook_secret,
            self.secret_key,
            self.metrics_token,
        )
        return [s for s in found if s]


# setting name -> (environment variable, TOML key)
_SOURCES: dict[str, tuple[str, str]] = {
    "state_dir": ("LEDGER_STATE_DIR", "state_dir"),
    "database_url": ("LEDGER_DATABASE_URL", "database_url"),
    "magic_hour_api_key": ("MAGIC_HOUR_API_KEY", "magic_hour_api_key"),
    "upstream_url": ("LEDGER_UPSTREAM_URL", "upstream_url"),
    "upstream_timeout": ("LEDGER_UPSTREAM_TIMEOUT", "upstream_timeout"),
    "admin_token": ("LEDGER_ADMIN_TOKEN", "admin_token"),
    "pricing": ("LEDGER_PRICING", "pricing"),
    "poll_interval": ("LEDGER_POLL_INTERVAL", "poll_interval"),
    "poll_rate": ("LEDGER_POLL_RATE", "poll_rate"),
    "webhook_secret": ("LEDGER_WEBHOOK_SECRET", "webhook_secret"),
    "unknown_hold_hours": ("LEDGER_UNKNOWN_HOLD_HOURS", "unknown_hold_hours"),
    "alert_webhook_url": ("LEDGER_ALERT_WEBHOOK_URL", "alert_webhook_url"),
    "usd_per_credit": ("LEDGER_USD_PER_CREDIT", "usd_per_credit"),
    "plan": ("LEDGER_PLAN", "plan"),
    "secret_key": ("LEDGER_SECRET_KEY", "secret_key"),
    "metrics_token": ("LEDGER_METRICS_TOKEN", "metrics_token"),
    "database_pool_size": ("LEDGER_DATABASE_POOL_SIZE", "database_pool_size"),
    "billing_timezone": ("LEDGER_BILLING_TIMEZONE", "billing_timezone"),
}


def _number(minimum: float, maximum: float, *, strict: bool) -> Callable[[Any], float]:
    """A finite number above ``minimum`` (or at it, unless ``strict``) and at most ``maximum``.

    Every number has a ceiling: a value like ``1e300`` seconds passes as "a number" but would
    overflow the timers and date arithmetic it feeds, far from where it was set.
    """

    def parse(raw: Any) -> float:
        if isinstance(raw, bool):
            raise ValueError("must be a number")
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise ValueError(f"must be a number, got {raw!r}") from None
        relation = ">" if strict else ">="
        if not math.isfinite(value) or value < minimum or (strict and value == minimum):
            raise ValueError(f"must be a finite number {relation} {minimum:g}, got {raw!r}")
        if value > maximum:
            raise ValueError(f"must be at most {maximum:g}, got {raw!r}")
        return value

    return parse


def _http_url(raw: Any) -> str:
    text = _text(raw)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"must be an http(s) URL, got {text!r}")
    return text.rstrip("/")


def _database_url(raw: Any) -> str:
    text = _text(raw)
    scheme = text.split("://", 1)[0] if "://" in text else ""
    backend = scheme.split("+", 1)[0]
    if backend not in ("sqlite", "postgresql", "postgres"):
        raise ValueError("must be a sqlite:/// or postgresql+psycopg:// URL")
    if backend == "postgres":  # the libpq spelling; SQLAlchemy wants the long one
        text = "postgresql" + text[len("postgres") :]
        scheme = text.split("://", 1)[0]
    if scheme in ("postgresql", "postgresql+psycopg2"):
        # psycopg 3 is the driver we ship; accept the plain spelling users copy from libpq docs.
        text = "postgresql+psycopg" + text[len(scheme) :]
    elif scheme.startswith("postgresql+") and scheme != "postgresql+psycopg":
        raise ValueError("PostgreSQL needs the psycopg (3) driver: postgresql+psycopg://...")
    return text


def _text(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError("must be a non-empty string")
    return raw.strip()


def _secret(raw: Any) -> str:
    # Never echo the value back: it is a secret.
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError("must be a non-empty string")
    return raw.strip()


def _path(raw: Any) -> Path:
    return Path(_text(raw)).expanduser().resolve()


def _existing_file(raw: Any) -> Path:
    path = _path(raw)
    if not path.is_file():
        raise ValueError(f"no such file: {path}")
    return path


PLANS = ("free", "creator", "pro", "business")
MAX_POOL_SIZE = 100


def _pool_size(raw: Any) -> int:
    value = _number(1, MAX_POOL_SIZE, strict=False)(raw)
    if value != int(value):
        raise ValueError(f"must be a whole number, got {raw!r}")
    return int(value)


def _plan(raw: Any) -> str:
    text = _text(raw).lower()
    if text not in PLANS:
        raise ValueError(f"must be one of {', '.join(PLANS)}, got {raw!r}")
    return text


def _time_zone(raw: Any) -> str:
    text = _text(raw)
    try:
        zone_named(text)
    except ValueError as exc:
        raise ValueError(f"{exc}, got {raw!r}") from None
    return text


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "state_dir": _path,
    "database_url": _database_url,
    "magic_hour_api_key": _secret,
    "upstream_url": _http_url,
    "upstream_timeout": _number(0, MAX_UPSTREAM_TIMEOUT, strict=True),
    "admin_token": _secret,
    "pricing": _existing_file,
    "poll_interval": _number(0, MAX_POLL_INTERVAL, strict=True),
    "poll_rate": _number(0, MAX_POLL_RATE, strict=True),
    "webhook_secret": _secret,
    "unknown_hold_hours": _number(0, MAX_UNKNOWN_HOLD_HOURS, strict=False),
    "alert_webhook_url": _http_url,
    "usd_per_credit": _number(0, MAX_USD_PER_CREDIT, strict=False),
    "plan": _plan,
    "secret_key": _secret,
    "metrics_token": _secret,
    "database_pool_size": _pool_size,
    "billing_timezone": _time_zone,
}


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build the settings from defaults, the ``LEDGER_CONFIG`` file, the environment and overrides.

    Overrides (keyword arguments named like the fields) win over everything; tests use them.
    """
    env = os.environ if environ is None else environ
    raw: dict[str, tuple[str, Any]] = {}  # field -> (where it came from, value)

    config_file = env.get("LEDGER_CONFIG")
    if config_file:
        for key, value in _read_toml(config_file).items():
            if value != "":  # empty means "use the default", as in the environment
                raw[key] = (f"{key} in {config_file}", value)
    for name, (variable, _) in _SOURCES.items():
        if variable in env and env[variable] != "":
            raw[name] = (variable, env[variable])
    for name, value in overrides.items():
        if name not in _SOURCES:
            raise TypeError(f"unknown setting {name!r}")
        raw[name] = (name, value)

    values: dict[str, Any] = {"state_dir": Path("var").resolve()}
    for name, (origin, value) in raw.items():
        if value is None:
            values[name] = None
            continue
        try:
            values[name] = _PARSERS[name](value)
        except ValueError as exc:
            raise SettingsError(f"{origin}: {exc}") from None
    return Settings(**values)


def _read_toml(path_text: str) -> dict[str, Any]:
    path = Path(path_text).expanduser()
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError:
        raise SettingsError(f"LEDGER_CONFIG: no such file: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"LEDGER_CONFIG: {path} is not valid TOML: {exc}") from None
    known = {toml_key: name for name, (_, toml_key) in _SOURCES.items()}
    unknown = sorted(set(document) - set(known))
    if unknown:
        raise SettingsError(f"LEDGER_CONFIG: {path} has unknown setting {unknown[0]!r}")
    return {known[key]: value for key, value in document.items()}
