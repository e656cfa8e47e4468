"""Where a connection's OAuth tokens live: Fernet-encrypted in the row, or AWS Secrets Manager.

``connections.token_ciphertext`` never holds a token in clear: with the ``db`` backend it is
the Fernet token of the JSON token set; with ``aws`` it is a reference (``aws-sm:<name>``) to a
secret whose value is that JSON.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.fernet import Fernet, InvalidToken

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

    @classmethod
    def from_response(cls, body: dict[str, Any], *, now: dt.datetime | None = None) -> TokenSet:
        """Build from a vendor token response (``expires_in`` seconds or ``expires_at`` epoch)."""
        now = now or dt.datetime.now(dt.UTC)
        expires_at = None
        if body.get("expires_in") is not None:
            expires_at = now + dt.timedelta(seconds=float(body["expires_in"]))
        elif body.get("expires_at") is not None:
            expires_at = dt.datetime.fromtimestamp(float(body["expires_at"]), dt.UTC)
        scope = body.get("scope")
        if isinstance(scope, list):
            scope = " ".join(scope)
        return cls(
            access_token=str(body["access_token"]),
            refresh_token=body.get("refresh_token"),
            expires_at=expires_at,
            scope=scope,
            token_type=str(body.get("token_type") or "Bearer"),
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
        )

    def __repr__(self) -> str:  # never print tokens
        return f"TokenSet(expires_at={self.expires_at!r}, scope={self.scope!r})"


class TokenStore(Protocol):
    """Reads and writes one connection's tokens; the caller owns the transaction."""

    def save(self, connection: Connection, tokens: TokenSet) -> None: ...

    def load(self, connection: Connection) -> TokenSet | None: ...

    def delete(self, connection: Connection) -> None: ...


class FernetTokenStore:
    """Tokens encrypted with the settings' Fernet key, in ``connections.token_ciphertext``."""

    def __init__(self, key: bytes) -> None:
        self.fernet = Fernet(key)

    def save(self, connection: Connection, tokens: TokenSet) -> None:
        connection.token_ciphertext = self.fernet.encrypt(tokens.to_json().encode()).decode()
        connection.expires_at = tokens.expires_at

    def load(self, connection: Connection) -> TokenSet | None:
        if not connection.token_ciphertext:
            return None
        try:
            return TokenSet.from_json(self.fernet.decrypt(connection.token_ciphertext.encode()).decode())
        except InvalidToken as exc:
            raise TokenStoreError("stored tokens cannot be decrypted with the current ZIXLY_SECRET_KEY") from exc

    def delete(self, connection: Connection) -> None:
        connection.token_ciphertext = None


class AwsSecretsTokenStore:
    """Tokens kept in AWS Secrets Manager, one secret per connection; the row holds its name."""

    def __init__(self, client: Any, prefix: str) -> None:
        self.client = client
        self.prefix = prefix.strip("/")

    def secret_name(self, connection: Connection) -> str:
        return f"{self.prefix}/connections/{connection.id}"

    def save(self, connection: Connection, tokens: TokenSet) -> None:
        name = self.secret_name(connection)
        try:
            self.client.put_secret_value(SecretId=name, SecretString=tokens.to_json())
        except self.client.exceptions.ResourceNotFoundException:
            self.client.create_secret(Name=name, SecretString=tokens.to_json())
        connection.token_ciphertext = AWS_REF_PREFIX + name
        connection.expires_at = tokens.expires_at

    def load(self, connection: Connection) -> TokenSet | None:
        ref = connection.token_ciphertext
        if not ref:
            return None
        if not ref.startswith(AWS_REF_PREFIX):
            raise TokenStoreError("this connection's tokens are not in Secrets Manager; reconnect it")
        value = self.client.get_secret_value(SecretId=ref.removeprefix(AWS_REF_PREFIX))
        return TokenSet.from_json(value["SecretString"])

    def delete(self, connection: Connection) -> None:
        ref = connection.token_ciphertext
        if ref and ref.startswith(AWS_REF_PREFIX):
            with contextlib.suppress(self.client.exceptions.ResourceNotFoundException):
                self.client.delete_secret(SecretId=ref.removeprefix(AWS_REF_PREFIX), ForceDeleteWithoutRecovery=True)
        connection.token_ciphertext = None


class TokenStoreError(RuntimeError):
    """Stored tokens exist but cannot be read (wrong key, wrong backend)."""


def token_store(settings: Settings, *, aws_client: Any = None) -> TokenStore:
    """The store ``settings.secrets_backend`` names (boto3 honours ``AWS_ENDPOINT_URL``)."""
    if settings.secrets_backend == "aws":
        if aws_client is None:
            import boto3

            aws_client = boto3.client("secretsmanager")
        return AwsSecretsTokenStore(aws_client, f"zixly/{settings.env}")
    return FernetTokenStore(settings.fernet_key())
