"""Sending one rendered message through one channel: Slack, SMTP or a signed webhook.

A sender raises ``SendError`` with ``permanent=True`` when retrying cannot help (the Slack
webhook was deleted, the receiver refuses with a 4xx other than 408/429, the mail server refuses
a recipient); anything else — timeouts, 5xx, a closed connection — is retried by the outbox.
The webhook is signed per the Standard Webhooks spec: ``webhook-id`` (the same on every retry,
so receivers can drop duplicates), ``webhook-timestamp`` and ``webhook-signature: v1,<base64
HMAC-SHA256 of id.timestamp.body>`` with the channel's ``whsec_`` secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import smtplib
import time
from email.message import EmailMessage
from typing import Any

import httpx

from db.alerts.channels import WEBHOOK_SECRET_PREFIX, ChannelTarget
from settings import Settings
from sync.alerts import render

TIMEOUT_S = 10.0
RETRYABLE_STATUS = {408, 425, 429}


class SendError(RuntimeError):
    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The Standard Webhooks ``webhook-signature`` value for one message."""
    key = base64.b64decode(secret.removeprefix(WEBHOOK_SECRET_PREFIX))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def _post(url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise SendError(f"{type(exc).__name__}: {exc}") from exc
    if response.status_code >= 300:
        permanent = response.status_code < 500 and response.status_code not in RETRYABLE_STATUS
        raise SendError(f"HTTP {response.status_code}: {response.text[:300]}", permanent=permanent)
    return response


def send(settings: Settings, channel: ChannelTarget, delivery_id: int, payload: dict[str, Any]) -> None:
    """Deliver ``payload`` through ``channel`` or raise ``SendError``."""
    if channel.kind == "slack":
        body = json.dumps(render.slack(payload)).encode()
        _post(channel.config["url"], body, {"Content-Type": "application/json"})
    elif channel.kind == "webhook":
        body = json.dumps(render.webhook(payload), separators=(",", ":")).encode()
        msg_id, timestamp = f"msg_zixly_{delivery_id}", int(time.time())
        headers = {
            "Content-Type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(channel.config["secret"], msg_id, timestamp, body),
        }
        _post(channel.config["url"], body, headers)
    elif channel.kind == "email":
        _send_email(settings, channel.config["to"], payload)
    else:
        raise SendError(f"unknown channel kind {channel.kind}", permanent=True)


def _send_email(settings: Settings, to: list[str], payload: dict[str, Any]) -> None:
    subject, text_body, html_body = render.email(payload)
    message = EmailMessage()
    message["Subject"], message["From"], message["To"] = subject, settings.smtp_from, ", ".join(to)
    message.set_content(text_body)
    message.add_alternative(html_body, subtype="html")
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT_S) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_username:
                password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
                smtp.login(settings.smtp_username, password)
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        raise SendError(f"recipients refused: {exc.recipients}", permanent=True) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise SendError(f"{type(exc).__name__}: {exc}") from exc
