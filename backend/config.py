"""Settings from ``XUEJI_*`` environment variables and an optional ``.env`` file.

One frozen object, built once at start-up and passed down, so tests can build their own without touching
the process environment. Secrets are generated on first run and kept under ``var/`` so a fresh clone
works with no configuration, while production refuses to start on anything that is not set on purpose.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "XUEJI_"
SECRET_FIELDS = frozenset({"secret_key", "smtp_password", "sms_http_token", "database_url", "broadcast_url"})


class ConfigError(RuntimeError):
    """The configuration cannot be used (for example a default secret in production)."""


@dataclass(frozen=True)
class Settings:
    var_dir: Path = ROOT / "var"
    database_url: str = ""
    broadcast_url: str = "memory://"
    secret_key: str = ""
    production: bool = False
    timezone: str = "Asia/Shanghai"
    host: str = "127.0.0.1"
    port: int = 8000
    allowed_origins: tuple[str, ...] = ()
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_sender: str = "xueji@localhost"
    smtp_security: str = "none"  # none | starttls | tls
    # SMS: "log" writes a line per message (the last 4 digits of the number, never the text); "http" POSTs
    # {"phone", "text"} as JSON with "Authorization: Bearer <sms_http_token>" to sms_http_url.
    sms_provider: str = "log"  # log | http
    sms_http_url: str = ""
    sms_http_token: str = ""
    # One SMTP or SMS-gateway exchange gives up after this many seconds (and is retried later).
    delivery_timeout_seconds: int = 30
    # Attempts per email or SMS before it is given up (DEAD); waits double from 1 minute up to an hour.
    outbox_max_attempts: int = 10
    password_expiry_days: int = 90
    password_history: int = 5
    lockout_threshold: int = 5
    lockout_minutes: int = 15
    idle_timeout_minutes: int = 10
    session_max_hours: int = 12
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    max_page_size: int = 100
    max_query_depth: int = 12
    max_aliases: int = 100
    max_tokens: int = 3000
    attachment_dir: Path = field(default=ROOT / "var" / "attachments")
    # The local stand-in for the population database (NUM-1, PRB-1): a UTF-8 CSV of "ID number,name" rows;
    # empty for none. ``identity_strict`` makes a number missing from it "does not exist".
    identity_population: str = ""
    identity_strict: bool = False
    # Run the scheduled jobs (workflow sweeps) inside this server process; off when cron runs
    # ``xueji jobs run-due`` instead. Several processes may all have it on: a lease runs each due job once.
    scheduler_enabled: bool = True
    # How long in-app notifications are kept; a client away longer is told to resync.
    notification_retention_days: int = 7

    def __post_init__(self) -> None:
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite+aiosqlite:///{self.var_dir / 'xueji.sqlite3'}")

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    def public_view(self) -> dict[str, str]:
        """The effective configuration with secrets hidden, for ``xueji config``."""
        view: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            text = ",".join(value) if isinstance(value, tuple) else str(value)
            if f.name in SECRET_FIELDS and text:
                text = _hide(f.name, text)
            view[PREFIX + f.name.upper()] = text
        return view


def _hide(name: str, text: str) -> str:
    if name in {"database_url", "broadcast_url"} and "@" in text and "://" in text:
        scheme, rest = text.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in creds else text
    if name in {"database_url", "broadcast_url"}:
        return text
    return "***"


def _coerce(raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        if raw.strip().lower() in {"1", "true", "yes", "on"}:
            return True
        if raw.strip().lower() in {"0", "false", "no", "off", ""}:
            return False
        raise ConfigError(f"not a boolean: {raw!r}")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, Path):
        return Path(raw)
    if isinstance(default, tuple):
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    return raw


def load_settings(env: dict[str, str] | None = None, env_file: Path | None = None) -> Settings:
    """Build settings from ``.env`` then the environment (the environment wins)."""
    merged: dict[str, str] = {}
    dotenv = env_file if env_file is not None else ROOT / ".env"
    if dotenv.is_file():
        merged.update({k: v for k, v in dotenv_values(dotenv).items() if v is not None})
    merged.update(os.environ if env is None else env)
    base = Settings()
    values: dict[str, Any] = {}
    for f in fields(Settings):
        key = PREFIX + f.name.upper()
        if key in merged:
            try:
                values[f.name] = _coerce(merged[key], getattr(base, f.name))
            except ValueError as exc:
                raise ConfigError(f"{key}: {exc}") from exc
    if "var_dir" in values and "attachment_dir" not in values:
        values["attachment_dir"] = values["var_dir"] / "attachments"
    settings = Settings(**values)
    return _with_secret(settings)


def _with_secret(settings: Settings) -> Settings:
    """Use the configured secret; outside production generate one under ``var/`` once."""
    if settings.secret_key:
        if settings.production and len(settings.secret_key) < 32:
            raise ConfigError("XUEJI_SECRET_KEY must be at least 32 characters in production")
        return settings
    if settings.production:
        raise ConfigError("XUEJI_SECRET_KEY must be set in production; refusing to use a default")
    key_file = settings.var_dir / "secret_key"
    if key_file.is_file():
        key = key_file.read_text().strip()
    else:
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        key_file.write_text(key + "\n")
        key_file.chmod(0o600)
    return replace(settings, secret_key=key)
