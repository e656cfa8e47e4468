"""Where a connection's secrets live: Fernet-encrypted in the row, or AWS Secrets Manager.

One cipher path for every secret Zixly stores (OAuth token sets and webhook secrets alike):
``connections.token_ciphertext`` and ``webhook_secret_ciphertext`` never hold a secret in clear.
With the ``db`` backend they hold Fernet tokens — encrypted with the first of the
``ZIXLY_SECRET_KEY`` keys, decrypted with any, so keys rotate (``python -m db rotate-secrets``);
with ``aws`` they hold a reference (``aws-sm:<name>``) to a secret in Secrets Manager.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from db.models import Connection
from settings import Settings

AWS_REF_PREFIX = "aws-sm:"


@dataclass(frozen=True)
class TokenSet:
    """The tokens of one connection (``expires_at`` is UTC)."""

    access_token: str
    refresh_token: str | None = None
    expires_at: dt.datetime | None = None
    scope: str | None = None
    token_type: str = "Bearer"  # noqa: S105
    # When the refresh token itself dies, where the vendor says so (Shopify's
    # ``refresh_token_expires_in``); read by the connection expiry forecast.
    refresh_expires_at: dt.datetime | None = None

    @classmethod
    def from_response(cls, body: dict[str, Any], *, now: dt.datetime | None = None) -> TokenSet:
        """Build from a vendor token response (``expires_in`` seconds or ``expires_at`` epoch)."""
        now = now or dt.datetime.now(dt.UTC)
        expires_at = None
        if body.get("expires_in") is not None:
            expires_at = now + dt.timedelta(seconds=float(body["expires_in"]))
        elif body.get("expires_at") is not None:
            expires_at = dt.datetime.fromtimestamp(float(body["expires_at"]), dt.UTC)
        refresh_expires_at = None
        if body.get("refresh_token_expires_in") is not None:
            refresh_expires_at = now + dt.timedelta(seconds=float(body["refresh_token_expires_in"]))
        scope = body.get("scope")
        if isinstance(scope, list):
            scope = " ".join(scope)
        return cls(
            access_token=str(body["access_token"]),
            refresh_token=body.get("refresh_token"),
            expires_at=expires_at,
            scope=scope,
            token_type=str(body.get("token_type") or "Bearer"),
            refresh_expires_at=refresh_expires_at,
        )

    def expires_within(self, seconds: float, now: dt.datetime | None = None) -> bool:
        if self.expires_at is None:
            return False
        now = now or dt.datetime.now(dt.UTC)
        return self.expires_at - now <= dt.timedelta(seconds=seconds)

    def to_json(self) -> str:
        return json.dumps(
            {
                "access_token": self.access_token,
                "refresh_token": self.refresh_token,
                "expires_at": self.expires_at.isoformat() if self.expires_at else None,
                "scope": self.scope,
                "token_type": self.token_type,
                "refresh_expires_at": self.refresh_expires_at.isoformat() if self.refresh_expires_at else None,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> TokenSet:
        data = json.loads(text)
        expires = data.get("expires_at")
        return cls(
            access_token=data["access_token"],
            refresh_token=data.get("refresh_token"),
            expires_at=dt.datetime.fromisoformat(expires) if expires else None,
            scope=data.get("scope"),
            token_type=data.get("token_type") or "Bearer",
            refresh_expires_at=(
                dt.datetime.fromisoformat(data["refresh_expires_at"]) if data.get("refresh_expires_at") else None
            ),
        )

    def __repr__(self) -> str:  # never print tokens
        return f"TokenSet(expires_at={self.expires_at!r}, scope={self.scope!r})"


class SecretCipher(Protocol):
    """Where a secret Zixly stores goes: what to keep in its column, and back."""

    def seal(self, name: str, plaintext: str) -> str:
        """Store ``plaintext``; returns the column value (ciphertext or a reference)."""
        ...

    def open(self, stored: str) -> str:
        """The plaintext behind a column value; :class:`TokenStoreError` when unreadable."""
        ...

    def forget(self, stored: str) -> None: ...


class FernetCipher:
    """The column holds the Fernet token; the first key encrypts and every key decrypts."""

    def __init__(self, keys: bytes | MultiFernet) -> None:
        self.fernet = keys if isinstance(keys, MultiFernet) else MultiFernet([Fernet(keys)])

    def seal(self, name: str, plaintext: str) -> str:
        return self.fernet.encrypt(plaintext.encode()).decode()

    def open(self, stored: str) -> str:
        if stored.startswith(AWS_REF_PREFIX):
            raise TokenStoreError("this secret is in AWS Secrets Manager; set ZIXLY_SECRETS_BACKEND=aws")
        try:
            return self.fernet.decrypt(stored.encode()).decode()
        except InvalidToken as exc:
            raise TokenStoreError("a stored secret cannot be decrypted with any ZIXLY_SECRET_KEY key") from exc

    def forget(self, stored: str) -> None:
        return None


class AwsSecretsCipher:
    """The secret lives in AWS Secrets Manager under ``<prefix>/<name>``; the column holds its name."""

    def __init__(self, client: Any, prefix: str) -> None:
        self.client = client
        self.prefix = prefix.strip("/")

    def seal(self, name: str, plaintext: str) -> str:
        full = f"{self.prefix}/{name}"
        try:
            self.client.put_secret_value(SecretId=full, SecretString=plaintext)
        except self.client.exceptions.ResourceNotFoundException:
            self.client.create_secret(Name=full, SecretString=plaintext)
        return AWS_REF_PREFIX + full

    def open(self, stored: str) -> str:
        if not stored.startswith(AWS_REF_PREFIX):
            raise TokenStoreError("this secret is not in Secrets Manager; reconnect it")
        value: str = self.client.get_secret_value(SecretId=stored.removeprefix(AWS_REF_PREFIX))["SecretString"]
        return value

    def forget(self, stored: str) -> None:
        if stored.startswith(AWS_REF_PREFIX):
            with contextlib.suppress(self.client.exceptions.ResourceNotFoundException):
                self.client.delete_secret(SecretId=stored.removeprefix(AWS_REF_PREFIX), ForceDeleteWithoutRecovery=True)


class TokenStore:
    """Every secret of a connection — its OAuth tokens and its webhook secret — through one cipher.

    The caller owns the transaction; the store only sets the row's columns.
    """

    def __init__(self, cipher: SecretCipher) -> None:
        self.cipher = cipher

    def save(self, connection: Connection, tokens: TokenSet) -> None:
        connection.token_ciphertext = self.cipher.seal(f"connections/{connection.id}", tokens.to_json())
        connection.expires_at = tokens.expires_at

    def load(self, connection: Connection) -> TokenSet | None:
        if not connection.token_ciphertext:
            return None
        return TokenSet.from_json(self.cipher.open(connection.token_ciphertext))

    def delete(self, connection: Connection) -> None:
        if connection.token_ciphertext:
            self.cipher.forget(connection.token_ciphertext)
        connection.token_ciphertext = None

    def seal_webhook_secret(self, connection_id: int, secret: str) -> str:
        """The column value for a connection's webhook secret (Asana's handshake secret)."""
        return self.cipher.seal(f"connections/{connection_id}/webhook-secret", secret)

    def open_webhook_secret(self, stored: str | None) -> str | None:
        """The webhook secret, or None when there is none or it cannot be read."""
        if not stored:
            return None
        try:
            return self.cipher.open(stored)
        except TokenStoreError:
            return None


class FernetTokenStore(TokenStore):
    """Secrets Fernet-encrypted in their columns (``ZIXLY_SECRETS_BACKEND=db``)."""

    def __init__(self, keys: bytes | MultiFernet) -> None:
        super().__init__(FernetCipher(keys))


class AwsSecretsTokenStore(TokenStore):
    """Secrets kept in AWS Secrets Manager, one per secret; the columns hold their names."""

    def __init__(self, client: Any, prefix: str) -> None:
        super().__init__(AwsSecretsCipher(client, prefix))


class TokenStoreError(RuntimeError):
    """Stored tokens exist but cannot be read (wrong key, wrong backend)."""


def token_store(settings: Settings, *, aws_client: Any = None) -> TokenStore:
    """The store ``settings.secrets_backend`` names (boto3 honours ``AWS_ENDPOINT_URL``)."""
    if settings.secrets_backend == "aws":
        if aws_client is None:
            import boto3

            aws_client = boto3.client("secretsmanager")
        return AwsSecretsTokenStore(aws_client, f"zixly/{settings.env}")
    return FernetTokenStore(settings.cipher())
