"""Alert channels: where messages go, with their URL, addresses or secret encrypted at rest.

A channel is global (``tenant_id`` NULL: every tenant's alerts) or one tenant's (only alerts
about that tenant, and the message names only that tenant). ``events`` lists the alert events it
wants (``db.models.ALERT_EVENTS``); a resolved message goes wherever its firing one went.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import MultiFernet
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from db.models import ALERT_CHANNEL_KINDS, ALERT_EVENTS, AlertChannel, Tenant

WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105 (Standard Webhooks' marker, not a secret)


@dataclass(frozen=True)
class ChannelTarget:
    """A channel as the sender needs it: decrypted configuration included."""

    id: int
    tenant_id: int | None
    name: str
    kind: str
    config: dict[str, Any]


def new_webhook_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` + base64 of 24 random bytes."""
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def _check(kind: str, config: dict[str, Any], events: list[str]) -> tuple[dict[str, Any], str]:
    """The configuration to store and the hint to show, or ValueError naming the problem."""
    if kind not in ALERT_CHANNEL_KINDS:
        raise ValueError(f"unknown channel kind {kind!r}; expected one of {', '.join(ALERT_CHANNEL_KINDS)}")
    unknown = sorted(set(events) - set(ALERT_EVENTS))
    if unknown:
        raise ValueError(f"unknown events: {', '.join(unknown)}")
    if not events:
        raise ValueError("pick at least one event")
    if kind == "email":
        to = [a.strip() for a in config.get("to", []) if a.strip()]
        if not to or any("@" not in a for a in to):
            raise ValueError("email: give one or more addresses (name@example.com)")
        return {"to": to}, ", ".join(to)[:255]
    url = str(config.get("url") or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{kind}: the URL must start with https:// (or http:// for a local receiver)")
    if kind == "slack":
        return {"url": url}, f"Slack webhook at {parts.netloc}"  # the path is the secret: never shown
    secret = str(config.get("secret") or "").strip() or new_webhook_secret()
    if not secret.startswith(WEBHOOK_SECRET_PREFIX):
        raise ValueError("webhook: the signing secret must start with whsec_ (leave it empty to generate one)")
    try:
        base64.b64decode(secret.removeprefix(WEBHOOK_SECRET_PREFIX), validate=True)
    except ValueError:
        raise ValueError("webhook: the signing secret after whsec_ must be base64") from None
    # Only the host is shown: receivers' paths often carry a token of their own.
    return {"url": url, "secret": secret}, f"webhook at {parts.scheme}://{parts.netloc}"[:255]


def create_channel(
    session: Session,
    cipher: MultiFernet,
    *,
    name: str,
    kind: str,
    config: dict[str, Any],
    events: list[str],
    tenant_id: int | None = None,
    created_by: str | None = None,
) -> tuple[int, dict[str, Any]]:
    """Store a channel; returns its id and the stored configuration (a generated secret included)."""
    if not name.strip():
        raise ValueError("give the channel a name")
    stored, hint = _check(kind, config, list(events))
    channel = AlertChannel(
        tenant_id=tenant_id, name=name.strip(), kind=kind, target_hint=hint, events=sorted(set(events)),
        config_ciphertext=cipher.encrypt(json.dumps(stored).encode()).decode(), created_by=created_by,
    )  # fmt: skip
    session.add(channel)
    session.flush()
    return channel.id, stored


def set_enabled(session: Session, channel_id: int, enabled: bool) -> None:
    channel = session.get(AlertChannel, channel_id)
    if channel is None:
        raise LookupError(f"alert channel {channel_id} does not exist")
    channel.enabled = enabled
    session.flush()


def delete_channel(session: Session, channel_id: int) -> None:
    channel = session.get(AlertChannel, channel_id)
    if channel is None:
        raise LookupError(f"alert channel {channel_id} does not exist")
    session.delete(channel)
    session.flush()


def list_channels(session: Session) -> list[dict[str, Any]]:
    """Every channel for the dashboard: never the URL path, addresses' secrets or signing secret."""
    rows = session.execute(
        select(AlertChannel, Tenant.name)
        .outerjoin(Tenant, Tenant.id == AlertChannel.tenant_id)
        .order_by(AlertChannel.id)
    ).all()
    return [
        {"id": c.id, "name": c.name, "kind": c.kind, "scope": tenant or "every tenant", "tenant_id": c.tenant_id,
         "target": c.target_hint, "events": list(c.events), "enabled": c.enabled, "created_by": c.created_by}
        for c, tenant in rows
    ]  # fmt: skip


def target(session: Session, cipher: MultiFernet, channel_id: int) -> ChannelTarget | None:
    channel = session.get(AlertChannel, channel_id)
    if channel is None:
        return None
    config = json.loads(cipher.decrypt(channel.config_ciphertext.encode()))
    return ChannelTarget(channel.id, channel.tenant_id, channel.name, channel.kind, config)


def subscribed(session: Session, event: str, tenant_ids: list[int]) -> list[AlertChannel]:
    """Enabled channels that want ``event`` and see at least one of ``tenant_ids`` (global ones see all)."""
    scope: ColumnElement[bool] = AlertChannel.tenant_id.is_(None)
    if tenant_ids:
        scope = or_(scope, AlertChannel.tenant_id.in_(tenant_ids))
    found = session.scalars(select(AlertChannel).where(AlertChannel.enabled, scope).order_by(AlertChannel.id))
    return [c for c in found if event in (c.events or [])]


def rotate(session: Session, cipher: MultiFernet) -> tuple[int, list[int]]:
    """Re-encrypt every channel's configuration with the first key: (rotated, unreadable ids)."""
    from cryptography.fernet import InvalidToken

    rotated, unreadable = 0, []
    for channel in session.scalars(select(AlertChannel).order_by(AlertChannel.id)):
        try:
            channel.config_ciphertext = cipher.rotate(channel.config_ciphertext.encode()).decode()
            rotated += 1
        except InvalidToken:
            unreadable.append(channel.id)
    session.flush()
    return rotated, unreadable
