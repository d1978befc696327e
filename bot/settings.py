"""Settings of the service: one frozen object built from the environment at start-up.

Every key has a default and a help text (``assessbot config show`` prints them). Values
come from environment variables prefixed ``ASSESSBOT_`` and an optional ``.env`` file in
the working directory. Tests build a :class:`Settings` directly instead of patching.
Secrets are never printed: ``config show`` masks them.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_AUTHORITY = "Myndigheten för civilt försvar (MCF)"


class Settings(BaseSettings):
    """Configuration of assessbot (environment variables ``ASSESSBOT_<NAME>``)."""

    model_config = SettingsConfigDict(env_prefix="ASSESSBOT_", env_file=".env", extra="ignore", frozen=True)
    _secret: bytes | None = PrivateAttr(default=None)  # the key file, read once

    database_url: str = Field(
        "sqlite+aiosqlite:///./assessbot.db",
        description="Database: sqlite+aiosqlite:///PATH (embedded default) or "
        "postgresql+asyncpg://USER@HOST/DB.",
    )
    mail_from: str = Field(
        "Infosäkkollen <infosakkollen@localhost>",
        description="From address of every mail the service sends.",
    )
    reply_domain: str = Field(
        "localhost",
        description="Domain of the reply addresses (svar+TOKEN@REPLY_DOMAIN) that route answers.",
    )
    smtp_url: str = Field(
        "",
        description="Outgoing mail: smtp://user:pass@host:587 (STARTTLS), smtps://…:465 "
        "(implicit TLS). Empty: mail is written to the Maildir ./var/outbox.",
    )
    smtp_rate: float = Field(
        20.0,
        description="Most messages sent per second over SMTP (a provider's limit); 0: no limit.",
    )
    smtp_timeout: float = Field(
        30.0,
        description="Seconds to wait for the SMTP server to connect or answer one command.",
    )
    smtp_ca_file: str = Field(
        "",
        description="PEM file of the certificate authorities trusted for the SMTP server's TLS "
        "certificate. Empty: the system's.",
    )
    mail_max_age_hours: int = Field(
        72,
        description="Hours a message may wait for delivery (server down, 4xx answers) before it "
        "is marked failed and a notice goes out.",
    )
    attachment_max_bytes: int = Field(
        10_000_000,
        description="Largest attachment kept as evidence with an answer mail (bytes); a larger one "
        "is refused with a notice and the rest of the mail is processed.",
    )
    attachment_types: str = Field(
        "application/pdf,image/png,image/jpeg,text/plain,text/csv,"
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document,"
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet,"
        "application/vnd.openxmlformats-officedocument.presentationml.presentation,"
        "application/vnd.oasis.opendocument.text,application/vnd.oasis.opendocument.spreadsheet",
        description="Content types of attachments kept as evidence (comma-separated).",
    )
    mail_listen: str = Field(
        "127.0.0.1:8025",
        description="host:port where `serve` listens for inbound mail from the MTA (LMTP by default). "
        "Empty: no listener.",
    )
    mail_listen_protocol: str = Field("lmtp", description="Protocol of the mail listener: lmtp or smtp.")
    imap_url: str = Field(
        "",
        description="Mailbox to poll for replies: imap://user:pass@host:143/INBOX or imaps://…. "
        "Empty: no polling.",
    )
    base_url: str = Field(
        "http://127.0.0.1:8080",
        description="Public address of the web service, used in links in mails.",
    )
    secret_key: SecretStr = Field(
        SecretStr(""),
        description="Key that signs tokens and cookies. Empty: a random key is created once "
        "in ./var/secret.key.",
    )
    timezone: str = Field("Europe/Stockholm", description="Time zone of dates, deadlines and quiet hours.")
    authority_name: str = Field(
        DEFAULT_AUTHORITY, description="Name of the coordinating authority shown to users."
    )
    model_path: str = Field("", description="Model file to use instead of the bundled msb-2021 model.")
    method_support_url: str = Field(
        "https://www.informationssakerhet.se/metodstodet",
        description="Base address of Metodstödet; the model's links are relative to it.",
    )
    language: str = Field("sv", description="Default language of users who have chosen none.")
    var_dir: str = Field("./var", description="Directory for the Maildir outbox and local state.")
    signin_link_minutes: int = Field(
        30, description="Minutes a mailed sign-in link stays valid; it can be used once."
    )
    signin_limit: int = Field(
        5,
        description="Sign-in links that may be asked for per address, and per client address, "
        "within ASSESSBOT_SIGNIN_WINDOW_MINUTES.",
    )
    signin_window_minutes: int = Field(15, description="The window of ASSESSBOT_SIGNIN_LIMIT, in minutes.")
    session_idle_hours: int = Field(
        12, description="A web session ends after this many hours without use (sign in again)."
    )
    session_max_days: int = Field(
        7, description="A web session ends this many days after sign-in at the latest."
    )
    reminder_days: str = Field(
        "56,28,14,7,2",
        description="Reminder steps, in days before a cycle's deadline (comma-separated). Organisations "
        "with much left hear earlier and more often (see bot/reminders/plan.py).",
    )
    reminder_time: str = Field(
        "09:00", description="Time of day (ASSESSBOT_TIMEZONE) at which a reminder step falls due."
    )
    inactivity_weeks: int = Field(
        3,
        description="Weeks without activity on a started response before one nudge goes to its "
        "coordinators (once per silence); 0: no nudges.",
    )
    escalation_days: int = Field(
        14,
        description="Reminder steps this many days or fewer before the deadline also go to the "
        "organisation's management when the coordinator has stayed silent since the previous reminder.",
    )
    quiet_hours: str = Field(
        "18-08",
        description="Hours (ASSESSBOT_TIMEZONE) in which no reminder goes out, as FROM-TO; a reminder "
        "due then waits for the end. Empty: none.",
    )
    quiet_weekends: bool = Field(True, description="No reminders on Saturdays and Sundays.")
    holidays: str = Field(
        "SE",
        description="Country (ISO 3166 code) whose public holidays, and days off in practice such as "
        "midsommarafton, julafton and nyårsafton, get no reminders, like a weekend. Empty: none.",
    )
    scheduler_interval: float = Field(
        60.0,
        description="Seconds between passes of the scheduler in `serve` (due reminders, deadlines); "
        "0: no scheduler.",
    )

    benchmark_min_group: int = Field(
        5,
        description="Smallest comparison group shown to an organisation in benchmarking: a smaller group "
        "is merged into a wider one (type and size, type, all) or left out. The national report "
        "shows smaller groups, marked.",
    )
    earlier_model_paths: str = Field(
        "",
        description="Model files of earlier cycles run under other model versions (comma-separated), so "
        "that trends can compare the questions that are unchanged.",
    )

    def secret(self) -> bytes:
        """The signing key: configured, or created once under ``var_dir``."""
        value = self.secret_key.get_secret_value()
        if value:
            return value.encode()
        if self._secret is None:
            self._secret = self._secret_file()
        return self._secret

    def _secret_file(self) -> bytes:
        path = Path(self.var_dir) / "secret.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(48))
        return path.read_text().strip().encode()

    def described(self) -> list[tuple[str, str, str, str]]:
        """(variable, value shown, default, help) for every setting; secrets masked."""
        rows = []
        for name, info in type(self).model_fields.items():
            value: Any = getattr(self, name)
            default: Any = info.default
            if isinstance(value, SecretStr):
                value = "********" if value.get_secret_value() else ""
                default = ""
            elif name.endswith("_url") and "@" in str(value):
                value = _mask_url(str(value))
            rows.append((f"ASSESSBOT_{name.upper()}", str(value), str(default), info.description or ""))
        return rows


def _mask_url(url: str) -> str:
    """Hide the password in ``scheme://user:password@host``."""
    head, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    cred, _, host = rest.rpartition("@")
    user = cred.split(":", 1)[0]
    return f"{head}://{user}:****@{host}" if ":" in cred else url
