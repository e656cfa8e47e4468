"""Blob storage behaves the same on a local folder and on S3 (moto's server over real HTTP)."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from db.blobs import (
    BlobError,
    BlobNotFound,
    BlobStore,
    InvalidBlobKey,
    LocalBlobStore,
    S3BlobStore,
    blob_key,
    make_blob_store,
)
from settings import Settings

BUCKET = "zixly-blobs-test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Fake credentials and AWS_ENDPOINT_URL, as the deployed processes get them."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": moto_endpoint,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    s3 = boto3.client("s3")
    if BUCKET not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=BUCKET)
    return moto_endpoint


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return make_blob_store(Settings(env="test", blob_url=str(tmp_path / "blobs"), _env_file=None))
    request.getfixturevalue("aws_env")
    return make_blob_store(Settings(env="test", blob_url=f"s3://{BUCKET}/zixly", _env_file=None))


@pytest.fixture
def key() -> str:
    return blob_key(f"tenant-{uuid.uuid4().hex[:8]}", 42, "invoice.pdf")


def test_it_returns_what_was_stored(store: BlobStore, key: str):
    assert store.put(key, b"%PDF-1.7 hello", content_type="application/pdf") == key
    assert store.exists(key)
    assert store.get(key) == b"%PDF-1.7 hello"


def test_a_new_put_replaces_the_blob(store: BlobStore, key: str):
    store.put(key, b"first")
    store.put(key, b"second")
    assert store.get(key) == b"second"


def test_a_large_file_streams_in_and_out_unchanged(store: BlobStore, tmp_path: Path):
    # 11 MiB: above the 8 MiB multipart threshold, so S3 gets a two-part upload.
    source = tmp_path / "export.csv"
    block = b"tenant,job,amount\n" + os.urandom(1024 * 1024 - 18)
    with source.open("wb") as f:
        for _ in range(11):
            f.write(block)
    key = blob_key("acme", "sweep-9", "export.csv")
    with source.open("rb") as f:
        store.put(key, f, content_type="text/csv")
    digest = hashlib.sha256()
    with store.open(key) as stream:
        while chunk := stream.read(256 * 1024):
            digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256(source.read_bytes()).hexdigest()


def test_s3_uploads_large_files_in_parts_under_the_prefix(aws_env: str):
    store = make_blob_store(f"s3://{BUCKET}/exports")
    key = blob_key("acme", 7, "big.bin")
    store.put(key, io.BytesIO(b"x" * (9 * 1024 * 1024)))
    head = boto3.client("s3").head_object(Bucket=BUCKET, Key=f"exports/{key}")
    assert head["ContentLength"] == 9 * 1024 * 1024
    assert head["ETag"].strip('"').endswith("-2")  # a multipart upload's ETag counts its parts


def test_a_missing_blob_is_reported_as_not_found(store: BlobStore, key: str):
    assert not store.exists(key)
    with pytest.raises(BlobNotFound, match="no blob"):
        store.get(key)


def test_delete_removes_the_blob_and_is_idempotent(store: BlobStore, key: str):
    store.put(key, b"gone soon")
    store.delete(key)
    assert not store.exists(key)
    store.delete(key)


def test_the_url_fetches_the_blob(store: BlobStore, key: str):
    store.put(key, b"fetch me")
    url = store.url(key, expires_s=60)
    assert url.startswith(("file://", "http://127.0.0.1:"))
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - the scheme is checked above
        assert response.read() == b"fetch me"


@pytest.mark.parametrize(
    "bad",
    [
        "../etc/passwd",
        "acme/../../etc/passwd",
        "/etc/passwd/x",
        "acme/1/../../../x",
        "acme/1/.env",
        "acme/1",
        "acme/1/a/b",
        "acme/1/",
        "acme\\1\\x",
        "acme/1/a b",
        "acme/1/x\x00",
    ],
)
def test_it_rejects_keys_that_could_escape_the_store(store: BlobStore, bad: str):
    for call in (lambda: store.put(bad, b"x"), lambda: store.get(bad), lambda: store.exists(bad)):
        with pytest.raises(InvalidBlobKey):
            call()


def test_blob_key_validates_each_part():
    assert blob_key("acme", 12, "sweep-results.csv") == "acme/12/sweep-results.csv"
    with pytest.raises(InvalidBlobKey):
        blob_key("acme", "..", "x")
    with pytest.raises(InvalidBlobKey):
        blob_key("acme", 1, "../../x")


def test_the_local_store_writes_under_its_folder(tmp_path: Path):
    store = LocalBlobStore(tmp_path)
    store.put(blob_key("acme", 3, "a.json"), b"{}")
    assert (tmp_path / "acme" / "3" / "a.json").read_bytes() == b"{}"
    assert [p.name for p in (tmp_path / "acme" / "3").iterdir()] == ["a.json"]  # no temp files left


def test_settings_pick_the_store():
    assert isinstance(make_blob_store(Settings(env="test", _env_file=None)), LocalBlobStore)
    s3 = make_blob_store("s3://my-bucket/some/prefix/")
    assert isinstance(s3, S3BlobStore)
    assert (s3.bucket, s3.prefix) == ("my-bucket", "some/prefix")
    with pytest.raises(ValueError, match="unsupported blob URL"):
        make_blob_store("gs://bucket/x")


def test_an_unreachable_s3_store_raises_a_clear_error(aws_env: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_free_port()}")  # nothing listens there
    store = make_blob_store("s3://zixly-blobs-test/p")
    with pytest.raises(BlobError, match=r"S3 blob store s3://zixly-blobs-test/p: put 'acme/1/x\.csv' failed"):
        store.put("acme/1/x.csv", b"data")
    with pytest.raises(BlobError, match=r"open 'acme/1/x\.csv' failed"):
        store.get("acme/1/x.csv")


def test_a_missing_bucket_raises_a_clear_error(aws_env: str):
    store = make_blob_store("s3://no-such-bucket-here/p")
    with pytest.raises(BlobError, match=r"no-such-bucket-here.*put 'acme/1/x\.csv' failed"):
        store.put("acme/1/x.csv", b"data")


def test_a_broken_local_folder_raises_a_clear_error(tmp_path: Path):
    (tmp_path / "not-a-dir").write_text("a file where the folder should be")
    store = LocalBlobStore(tmp_path / "not-a-dir")
    with pytest.raises(BlobError, match=r"local blob store .*not-a-dir: put 'acme/1/x\.csv' failed"):
        store.put("acme/1/x.csv", b"data")
