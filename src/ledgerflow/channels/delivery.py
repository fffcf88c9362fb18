"""Sending what the outbox holds: e-mail over SMTP, Slack-compatible and Standard Webhooks POSTs, action calls.

Every function raises `DeliveryError` on a failure worth retrying; the worker owns retries and backoff.
"""

from __future__ import annotations

import json
import os
import smtplib
from datetime import datetime
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import httpx
from standardwebhooks.webhooks import Webhook

from ledgerflow.channels import decision_mail
from ledgerflow.engine.action_links import DecisionMail
from ledgerflow.engine.actions import resolve
from ledgerflow.ops.config import Settings


class DeliveryError(Exception):
    """A send that failed; `retry` is false when trying again cannot help (e.g. an unregistered callable)."""

    def __init__(self, message: str, *, retry: bool = True):
        super().__init__(message)
        self.retry = retry


def signed_headers(secret: str, message_id: str, body: str, moment: datetime) -> dict[str, str]:
    """Standard Webhooks headers: webhook-id, webhook-timestamp, webhook-signature (HMAC-SHA256)."""
    signature = Webhook(secret if secret.startswith("whsec_") else secret.encode()).sign(message_id, moment, body)
    return {"webhook-id": message_id, "webhook-timestamp": str(int(moment.timestamp())),
            "webhook-signature": signature, "content-type": "application/json"}


def send_email(settings: Settings, row: Any, decision: DecisionMail | None = None) -> None:
    """Send one e-mail; a `decision` adds the data under decision and its links, in plain text and HTML."""
    if not settings.smtp_url:
        raise DeliveryError("LEDGERFLOW_SMTP_URL is not set")
    url = urlsplit(settings.smtp_url)
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = row.recipient
    message["Subject"] = row.subject
    message["Message-ID"] = f"<ledgerflow-{row.id}@{url.hostname or 'localhost'}>"
    if decision is None:
        message.set_content(row.body)
    else:
        message.set_content(decision_mail.text_part(decision, row.body))
        message.add_alternative(decision_mail.html_part(decision, row.subject,
                                                        f"{settings.base_url}/tasks/{decision.case.task}"),
                                subtype="html")
    try:
        smtp_class = smtplib.SMTP_SSL if url.scheme == "smtps" else smtplib.SMTP
        with smtp_class(url.hostname or "127.0.0.1", url.port or 25, timeout=10) as smtp:
            if url.username:
                smtp.login(url.username, url.password or "")
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"SMTP: {exc}") from None


def _post(client: httpx.Client, url: str, body: str, headers: dict[str, str]) -> httpx.Response:
    try:
        response = client.post(url, content=body, headers=headers, timeout=10)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"POST {url}: {exc}") from None
    if not response.is_success:
        raise DeliveryError(f"POST {url}: HTTP {response.status_code}")
    return response


def send_slack(settings: Settings, client: httpx.Client, row: Any) -> None:
    if not settings.slack_webhook_url:
        raise DeliveryError("LEDGERFLOW_SLACK_WEBHOOK_URL is not set")
    _post(client, settings.slack_webhook_url, json.dumps(row.payload), {"content-type": "application/json"})


def send_webhook(settings: Settings, client: httpx.Client, row: Any, now: datetime) -> None:
    if not settings.webhook_url:
        raise DeliveryError("LEDGERFLOW_WEBHOOK_URL is not set")
    body = json.dumps(row.payload, sort_keys=True)
    headers = (signed_headers(settings.webhook_secret, f"msg_{row.id}", body, now) if settings.webhook_secret
               else {"content-type": "application/json", "webhook-id": f"msg_{row.id}"})
    _post(client, settings.webhook_url, body, headers)


def call_action(client: httpx.Client, row: Any, context: dict[str, Any], now: datetime) -> Any:
    """Call an action step: a signed webhook with an idempotency key, or a registered callable."""
    action = row.payload.get("action", {})
    if "callable" in action:
        try:
            function = resolve(str(action["callable"]))
        except LookupError as exc:
            raise DeliveryError(str(exc), retry=False) from None
        try:
            return function(context)
        except Exception as exc:  # the callable's own failure is the action's failure
            raise DeliveryError(f"{action['callable']}: {type(exc).__name__}: {exc}") from None
    secret = os.environ.get(str(action.get("secret_env") or ""), "")
    body = json.dumps(context, sort_keys=True)
    headers = signed_headers(secret, f"msg_{row.id}", body, now) if secret else {"content-type": "application/json"}
    headers["idempotency-key"] = str(row.task)
    response = _post(client, str(action["webhook"]), body, headers)
    try:
        return response.json() if response.content else {}
    except ValueError:
        raise DeliveryError(f"POST {action['webhook']}: the answer is not JSON") from None
