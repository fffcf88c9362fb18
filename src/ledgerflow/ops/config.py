"""Settings, read once at startup from the environment and an optional `ledgerflow.toml` (SPEC §7).

Environment variables win over the file; the file uses the same keys (`LEDGERFLOW_SMTP_URL = "..."`).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ledgerflow.domain.attachments import ALLOWED_TYPES, ATTACHMENTS, MAX_ATTACHMENT_BYTES, AttachmentLimits
from ledgerflow.domain.durations import parse_duration
from ledgerflow.domain.errors import InvalidInput
from ledgerflow.domain.limits import DEFAULT, MAX_BYTES, MAX_DEPTH, Limits

KEYS = ("LEDGERFLOW_DB", "LEDGERFLOW_SMTP_URL", "LEDGERFLOW_MAIL_FROM", "LEDGERFLOW_SLACK_WEBHOOK_URL",
        "LEDGERFLOW_BASE_URL", "LEDGERFLOW_SIGNING_KEY", "LEDGERFLOW_RETRY_MAX", "LEDGERFLOW_LLM_BASE_URL",
        "LEDGERFLOW_LLM_MODEL", "LEDGERFLOW_WEBHOOK_URL", "LEDGERFLOW_WEBHOOK_SECRET", "LEDGERFLOW_SESSION_SECRET",
        "LEDGERFLOW_MAX_INPUT_BYTES", "LEDGERFLOW_MAX_INPUT_DEPTH",
        "LEDGERFLOW_CHECKPOINT_EVERY", "LEDGERFLOW_CHECKPOINT_DIR", "LEDGERFLOW_WITNESS_URLS",
        "LEDGERFLOW_TRUSTED_KEYS", "LEDGERFLOW_WITNESS_KEYS", "LEDGERFLOW_OIDC_ISSUER", "LEDGERFLOW_OIDC_CLIENT_ID",
        "LEDGERFLOW_OIDC_CLIENT_SECRET", "LEDGERFLOW_OIDC_CLAIM", "LEDGERFLOW_SESSION_HOURS", "LEDGERFLOW_LOG_FORMAT",
        "LEDGERFLOW_MAX_ATTACHMENT_BYTES", "LEDGERFLOW_ATTACHMENT_TYPES", "LEDGERFLOW_ATTACHMENT_SCAN",
        "LEDGERFLOW_ATTACHMENT_DIR", "LEDGERFLOW_ORPHAN_GRACE", "LEDGERFLOW_ACTION_LINK_TTL",
        "LEDGERFLOW_SLACK_BOT_TOKEN", "LEDGERFLOW_SLACK_SIGNING_SECRET", "LEDGERFLOW_SLACK_API_URL",
        "LEDGERFLOW_TRACES")
ACTION_LINK_TTL = timedelta(hours=72)
SLACK_API_URL = "https://slack.com/api/"

OTHER_KEYS = ("LEDGERFLOW_TOKEN", "LEDGERFLOW_WITNESS_SIGNING_KEY", "LEDGERFLOW_DEBUG", "LEDGERFLOW_TEST_BACKENDS",
              "LEDGERFLOW_TEST_PG", "LEDGERFLOW_TEST_WORKERS", "LEDGERFLOW_FUZZ_SEED", "LEDGERFLOW_BENCH_SNAPSHOT")
"""Variables read from the environment only, by one command or by the test and benchmark tooling: known, so
`config show` does not warn about them."""

SECRETS = frozenset({"LEDGERFLOW_SIGNING_KEY", "LEDGERFLOW_WEBHOOK_SECRET", "LEDGERFLOW_SESSION_SECRET",
                     "LEDGERFLOW_SLACK_WEBHOOK_URL", "LEDGERFLOW_TOKEN", "LEDGERFLOW_WITNESS_SIGNING_KEY",
                     "LEDGERFLOW_OIDC_CLIENT_SECRET", "LEDGERFLOW_SLACK_BOT_TOKEN",
                     "LEDGERFLOW_SLACK_SIGNING_SECRET"})
"""Values never shown: keys, secrets, tokens, and a Slack webhook URL (whoever has it may post)."""
URLS_WITH_PASSWORDS = frozenset({"LEDGERFLOW_DB", "LEDGERFLOW_SMTP_URL", "LEDGERFLOW_WEBHOOK_URL",
                                 "LEDGERFLOW_LLM_BASE_URL", "LEDGERFLOW_WITNESS_URLS"})
"""URLs shown with any password in them masked."""
DEFAULTS = {"LEDGERFLOW_DB": "sqlite:///ledgerflow.db", "LEDGERFLOW_MAIL_FROM": "ledgerflow@localhost",
            "LEDGERFLOW_BASE_URL": "http://127.0.0.1:8000", "LEDGERFLOW_RETRY_MAX": "300",
            "LEDGERFLOW_MAX_INPUT_BYTES": str(MAX_BYTES), "LEDGERFLOW_MAX_INPUT_DEPTH": str(MAX_DEPTH),
            "LEDGERFLOW_OIDC_CLAIM": "email", "LEDGERFLOW_SESSION_HOURS": "12",
            "LEDGERFLOW_LOG_FORMAT": "json unless stderr is a terminal", "LEDGERFLOW_ACTION_LINK_TTL": "72h",
            "LEDGERFLOW_SLACK_API_URL": SLACK_API_URL, "LEDGERFLOW_TRACES": "off"}
MASK = "********"


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    db: str | None = None
    smtp_url: str | None = None
    mail_from: str = "ledgerflow@localhost"
    slack_webhook_url: str | None = None
    webhook_url: str | None = None
    """Generic outbound webhook for every notification (an extension of SPEC §7)."""
    webhook_secret: str | None = None
    """Standard Webhooks secret (`whsec_<base64>` or plain text) for `webhook_url`."""
    base_url: str = "http://127.0.0.1:8000"
    signing_key: str | None = None
    retry_max: float = 300.0
    llm_base_url: str | None = None
    llm_model: str | None = None
    session_secret: str | None = None
    """Signs the web UI's session cookies; set the same value on every `serve` process (else one per process)."""
    limits: Limits = DEFAULT
    """The input gate's size and depth limits (SPEC §10)."""
    checkpoint_every: timedelta | None = None
    """How often the worker signs and publishes a checkpoint (needs `signing_key`)."""
    checkpoint_dir: str | None = None
    """Where published checkpoints are kept, one append-only file each."""
    witness_urls: tuple[str, ...] = ()
    trusted_keys: str | None = None
    """Trust anchors for `audit verify` and `check-pack` when `--trust` is not given: a key or a file of keys."""
    witness_keys: str | None = None
    log_format: str | None = None
    """`json` or `console` for the server's and the worker's logs; unset, JSON unless stderr is a terminal."""
    oidc_issuer: str | None = None
    """An OpenID provider people sign in to the web UI with (SPEC §13), with its client id and secret."""
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_claim: str = "email"
    """The ID token claim that names a directory person: a verified `email`, or a claim holding person ids."""
    session_hours: int = 12
    """How long a web UI sign-in lasts."""
    attachments: AttachmentLimits = ATTACHMENTS
    """The size limit and allowed media types of documents (SPEC §14)."""
    attachment_scan: str | None = None
    """A scanning hook every document passes before it is stored: an http(s) URL that answers 2xx to accept, or a
    command that reads the document on stdin and exits 0 to accept."""
    attachment_dir: str | None = None
    """Where document files are kept (default: beside a SQLite database; a PostgreSQL installation's table)."""
    orphan_grace: timedelta = timedelta(days=1)
    """How long a stored document no run refers to is kept before the sweep removes it (an upload waiting for
    the command that will refer to it)."""
    action_link_ttl: timedelta = ACTION_LINK_TTL
    """How long an e-mail decision link works (SPEC §13), on the database clock."""
    slack_bot_token: str | None = None
    """A Slack app's bot token: decisions reach their assignee as Block Kit messages (SPEC §13)."""
    slack_signing_secret: str | None = None
    """Verifies the requests Slack sends to `/slack/interactions`."""
    slack_api_url: str = SLACK_API_URL
    """Slack's Web API base URL (tests point it at a local recorder)."""
    traces: str = "off"
    """`otlp`: the server and the worker send OpenTelemetry spans to the collector the standard `OTEL_EXPORTER_OTLP_*`
    variables name (see ops/tracing.py); `off` by default."""

    @property
    def slack_app(self) -> bool:
        """Decisions go to Slack as interactive messages: a bot token and a signing secret are set."""
        return bool(self.slack_bot_token and self.slack_signing_secret)

    @property
    def channels(self) -> tuple[str, ...]:
        """The notification channels configured: email, slack (the incoming webhook), slack-app (direct messages
        from the bot, SPEC §13), webhook."""
        found = []
        if self.smtp_url:
            found.append("email")
        if self.slack_webhook_url:
            found.append("slack")
        if self.slack_app:
            found.append("slack-app")
        if self.webhook_url:
            found.append("webhook")
        return tuple(found)


def load_settings(environ: Mapping[str, str] | None = None, toml_path: Path | None = None) -> Settings:
    """Settings from `environ` (default: the process environment) over `ledgerflow.toml` in the working folder.

    Raises:
        InvalidInput: the file is not valid TOML, or a value has the wrong form.
    """
    env = dict(os.environ if environ is None else environ)
    path = toml_path if toml_path is not None else Path("ledgerflow.toml")
    values: dict[str, str] = {}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise InvalidInput(f"{path}: {exc}", rule="bad-config") from None
        values.update({k: str(v) for k, v in data.items() if k in KEYS})
    values.update({k: v for k, v in env.items() if k in KEYS and v != ""})
    try:
        retry_max = float(values.get("LEDGERFLOW_RETRY_MAX", "300"))
    except ValueError:
        raise InvalidInput("LEDGERFLOW_RETRY_MAX must be a number of seconds", rule="bad-config") from None
    limits = Limits(max_bytes=_positive(values, "LEDGERFLOW_MAX_INPUT_BYTES", MAX_BYTES),
                    max_depth=_positive(values, "LEDGERFLOW_MAX_INPUT_DEPTH", MAX_DEPTH))
    sso = [key for key in ("LEDGERFLOW_OIDC_ISSUER", "LEDGERFLOW_OIDC_CLIENT_ID", "LEDGERFLOW_OIDC_CLIENT_SECRET")
           if values.get(key)]
    if sso and len(sso) < 3:
        raise InvalidInput("single sign-on needs LEDGERFLOW_OIDC_ISSUER, LEDGERFLOW_OIDC_CLIENT_ID and "
                           f"LEDGERFLOW_OIDC_CLIENT_SECRET; only {', '.join(sso)} is set", rule="bad-config")
    return Settings(
        db=values.get("LEDGERFLOW_DB"), smtp_url=values.get("LEDGERFLOW_SMTP_URL"),
        mail_from=values.get("LEDGERFLOW_MAIL_FROM", "ledgerflow@localhost"),
        slack_webhook_url=values.get("LEDGERFLOW_SLACK_WEBHOOK_URL"), webhook_url=values.get("LEDGERFLOW_WEBHOOK_URL"),
        webhook_secret=values.get("LEDGERFLOW_WEBHOOK_SECRET"),
        base_url=values.get("LEDGERFLOW_BASE_URL", "http://127.0.0.1:8000").rstrip("/"),
        signing_key=values.get("LEDGERFLOW_SIGNING_KEY"), retry_max=retry_max,
        llm_base_url=values.get("LEDGERFLOW_LLM_BASE_URL"), llm_model=values.get("LEDGERFLOW_LLM_MODEL"),
        session_secret=values.get("LEDGERFLOW_SESSION_SECRET"), limits=limits,
        checkpoint_every=_every(values.get("LEDGERFLOW_CHECKPOINT_EVERY"), "LEDGERFLOW_CHECKPOINT_EVERY"),
        checkpoint_dir=values.get("LEDGERFLOW_CHECKPOINT_DIR"),
        witness_urls=tuple(u.rstrip("/") for u in values.get("LEDGERFLOW_WITNESS_URLS", "").replace(",", " ").split()),
        trusted_keys=values.get("LEDGERFLOW_TRUSTED_KEYS"), witness_keys=values.get("LEDGERFLOW_WITNESS_KEYS"),
        log_format=_log_format(values.get("LEDGERFLOW_LOG_FORMAT")),
        oidc_issuer=values.get("LEDGERFLOW_OIDC_ISSUER"), oidc_client_id=values.get("LEDGERFLOW_OIDC_CLIENT_ID"),
        oidc_client_secret=values.get("LEDGERFLOW_OIDC_CLIENT_SECRET"),
        oidc_claim=values.get("LEDGERFLOW_OIDC_CLAIM", "email"),
        session_hours=_positive(values, "LEDGERFLOW_SESSION_HOURS", 12),
        attachments=AttachmentLimits(
            max_bytes=_positive(values, "LEDGERFLOW_MAX_ATTACHMENT_BYTES", MAX_ATTACHMENT_BYTES),
            types=frozenset(values.get("LEDGERFLOW_ATTACHMENT_TYPES", "").replace(",", " ").split())
            or ALLOWED_TYPES),
        attachment_scan=values.get("LEDGERFLOW_ATTACHMENT_SCAN"),
        attachment_dir=values.get("LEDGERFLOW_ATTACHMENT_DIR"),
        orphan_grace=_every(values.get("LEDGERFLOW_ORPHAN_GRACE"), "LEDGERFLOW_ORPHAN_GRACE") or timedelta(days=1),
        action_link_ttl=_every(values.get("LEDGERFLOW_ACTION_LINK_TTL"), "LEDGERFLOW_ACTION_LINK_TTL")
        or ACTION_LINK_TTL,
        slack_bot_token=values.get("LEDGERFLOW_SLACK_BOT_TOKEN"),
        slack_signing_secret=values.get("LEDGERFLOW_SLACK_SIGNING_SECRET"),
        slack_api_url=values.get("LEDGERFLOW_SLACK_API_URL", SLACK_API_URL).rstrip("/") + "/",
        traces=_traces(values.get("LEDGERFLOW_TRACES", "off")),
    )


def _log_format(text: str | None) -> str | None:
    if text is not None and text not in ("json", "console"):
        raise InvalidInput("LEDGERFLOW_LOG_FORMAT is json or console", rule="bad-config")
    return text


def _traces(text: str) -> str:
    if text not in ("otlp", "off"):
        raise InvalidInput(f"LEDGERFLOW_TRACES is otlp or off, not {text!r}", rule="bad-config")
    return text


def show(environ: Mapping[str, str] | None = None, toml_path: Path | None = None) -> dict[str, Any]:
    """`config show`: every setting with its effective value and where it came from (env, file, default), secrets
    masked; and the `LEDGERFLOW_*` variables nothing reads (a misspelt name is otherwise silently ignored).

    Raises:
        InvalidInput: as `load_settings` (the file or a value is malformed).
    """
    env = dict(os.environ if environ is None else environ)
    path = toml_path if toml_path is not None else Path("ledgerflow.toml")
    load_settings(env, path)  # refuse what the server would refuse
    from_file: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    rows = []
    for key in (*KEYS, *OTHER_KEYS[:2]):
        value: str | None
        if env.get(key):
            value, source = env[key], "env"
        elif key in from_file and key in KEYS:
            value, source = str(from_file[key]), f"file {path}"
        else:
            value, source = DEFAULTS.get(key), "default"
        rows.append({"key": key, "value": masked(key, value), "source": source})
    known = {*KEYS, *OTHER_KEYS}
    unknown = sorted({k for k in env if k.startswith("LEDGERFLOW_") and k not in known}
                     | {f"{k} (in {path})" for k in from_file if k not in KEYS})
    return {"settings": rows, "unknown": unknown}


def masked(key: str, value: str | None) -> str | None:
    """A setting's value as `config show` prints it: secrets as `********`, passwords in URLs masked."""
    if value is None or value == "":
        return value
    if key in SECRETS:
        return MASK
    if key in URLS_WITH_PASSWORDS:
        return " ".join(_without_password(part) for part in value.split())
    return value


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = f"{parts.username}:" if parts.username else ":"
    return urlunsplit(parts._replace(netloc=f"{user}{MASK}@{parts.hostname or ''}"
                                     + (f":{parts.port}" if parts.port else "")))


def _every(text: str | None, key: str) -> timedelta | None:
    if text is None:
        return None
    try:
        every = parse_duration(text)
    except (ValueError, OverflowError) as exc:
        raise InvalidInput(f"{key}: {exc}", rule="bad-config") from None
    if every <= timedelta(0):
        raise InvalidInput(f"{key} must be a positive duration, e.g. 15m", rule="bad-config")
    return every


def _positive(values: Mapping[str, str], key: str, default: int) -> int:
    text = values.get(key)
    if text is None:
        return default
    if not text.strip().isdigit() or int(text) < 1:
        raise InvalidInput(f"{key} must be a positive whole number", rule="bad-config")
    return int(text)
