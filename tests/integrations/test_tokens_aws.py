"""Tokens in AWS Secrets Manager (ZIXLY_SECRETS_BACKEND=aws), against moto's server over HTTP."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from cryptography.fernet import Fernet
from moto.server import ThreadedMotoServer

from db.models import Connection
from integrations.tokens import AwsSecretsTokenStore, FernetTokenStore, TokenSet, TokenStoreError, token_store
from settings import Settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def secrets_client() -> Iterator[Any]:
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield boto3.client(
            "secretsmanager",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="ap-southeast-2",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
    finally:
        server.stop()


TOKENS = TokenSet("access-1", "refresh-1", dt.datetime(2026, 11, 26, 12, tzinfo=dt.UTC), "offline_access")


def test_the_row_holds_only_a_reference_and_the_secret_holds_the_tokens(secrets_client: Any) -> None:
    store = AwsSecretsTokenStore(secrets_client, "zixly/test")
    connection = Connection(id=41, tenant_id=1, system="xero")
    store.save(connection, TOKENS)
    assert connection.token_ciphertext == "aws-sm:zixly/test/connections/41"
    assert "access-1" not in (connection.token_ciphertext or "")
    assert store.load(connection) == TOKENS
    assert connection.expires_at == TOKENS.expires_at


def test_saving_again_replaces_the_secret_value(secrets_client: Any) -> None:
    store = AwsSecretsTokenStore(secrets_client, "zixly/test")
    connection = Connection(id=42, tenant_id=1, system="xero")
    store.save(connection, TOKENS)
    rotated = TokenSet("access-2", "refresh-2", TOKENS.expires_at, TOKENS.scope)
    store.save(connection, rotated)
    assert store.load(connection) == rotated


def test_delete_removes_the_secret(secrets_client: Any) -> None:
    store = AwsSecretsTokenStore(secrets_client, "zixly/test")
    connection = Connection(id=43, tenant_id=1, system="xero")
    store.save(connection, TOKENS)
    name = (connection.token_ciphertext or "").removeprefix("aws-sm:")
    store.delete(connection)
    assert connection.token_ciphertext is None
    with pytest.raises(secrets_client.exceptions.ResourceNotFoundException):
        secrets_client.get_secret_value(SecretId=name)


def test_the_settings_pick_the_backend(secrets_client: Any, tmp_path: Any) -> None:
    aws = Settings(env="test", secrets_backend="aws", var_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    assert isinstance(token_store(aws, aws_client=secrets_client), AwsSecretsTokenStore)
    db = Settings(env="test", var_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    assert isinstance(token_store(db), FernetTokenStore)


def test_fernet_ciphertext_never_contains_the_token_and_needs_the_same_key(tmp_path: Any) -> None:
    from cryptography.fernet import Fernet

    connection = Connection(id=1, tenant_id=1, system="xero")
    FernetTokenStore(Fernet.generate_key()).save(connection, TOKENS)
    assert "access-1" not in (connection.token_ciphertext or "")
    assert "refresh-1" not in (connection.token_ciphertext or "")
    with pytest.raises(TokenStoreError):
        FernetTokenStore(Fernet.generate_key()).load(connection)


def test_token_sets_never_print_their_tokens() -> None:
    assert "access-1" not in repr(TOKENS) and "refresh-1" not in str(TOKENS)


def test_webhook_secrets_take_the_same_path_as_tokens(secrets_client: Any) -> None:
    aws = AwsSecretsTokenStore(secrets_client, "zixly/test")
    sealed = aws.seal_webhook_secret(41, "asana-hook-secret")
    assert sealed == "aws-sm:zixly/test/connections/41/webhook-secret"  # the column holds only the name
    assert aws.open_webhook_secret(sealed) == "asana-hook-secret"
    fernet = FernetTokenStore(Fernet.generate_key())
    local = fernet.seal_webhook_secret(41, "asana-hook-secret")
    assert "asana-hook-secret" not in local and fernet.open_webhook_secret(local) == "asana-hook-secret"
    assert fernet.open_webhook_secret(sealed) is None  # another backend's reference is not readable here
    assert FernetTokenStore(Fernet.generate_key()).open_webhook_secret(local) is None  # nor another key's


def test_a_second_key_decrypts_while_the_first_encrypts(tmp_path: Any) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    before = Settings(env="test", var_dir=tmp_path, secret_key=old, _env_file=None)  # type: ignore[call-arg]
    after = Settings(env="test", var_dir=tmp_path, secret_key=f"{new}, {old}", _env_file=None)  # type: ignore[call-arg]
    connection = Connection(id=7, tenant_id=1, system="xero")
    token_store(before).save(connection, TOKENS)
    assert token_store(after).load(connection) == TOKENS  # the old key still decrypts
    token_store(after).save(connection, TOKENS)
    assert Fernet(new.encode()).decrypt((connection.token_ciphertext or "").encode())  # the new key encrypted
