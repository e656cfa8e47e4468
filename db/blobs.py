"""Blob storage for job documents, sweep results and large CSV exports.

A local folder by default (``ZIXLY_BLOB_URL=var/blobs``), S3 through boto3 when
``ZIXLY_BLOB_URL=s3://bucket/prefix``; boto3 honours ``AWS_ENDPOINT_URL``, so LocalStack,
moto or any S3-compatible store work unchanged. Keys are ``<tenant>/<job>/<name>`` (build them
with :func:`blob_key`); every key is validated, so no key can escape its store.

Every failure of the backing store surfaces as :class:`BlobError` naming the store, the
operation and the key; a missing blob is :class:`BlobNotFound`.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any, BinaryIO, Protocol, runtime_checkable
from urllib.parse import urlsplit

from settings import Settings

# One path segment: letters, digits, dot, dash, underscore; not starting with a dot (no ".",
# "..", hidden files). Vendor ids and UUIDs fit; callers slugify free text first.
_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}")
CHUNK_BYTES = 1024 * 1024
# S3 multipart upload above this size, in parts of this size (S3's minimum part is 5 MiB).
MULTIPART_BYTES = 8 * 1024 * 1024


class BlobError(RuntimeError):
    """The blob store failed; the message names the store, the operation and the key."""


class BlobNotFound(BlobError):
    """No blob under this key."""


class InvalidBlobKey(ValueError):
    """A key that is not ``<tenant>/<job>/<name>`` with safe segments."""


def blob_key(tenant: object, job: object, name: str) -> str:
    """The key of blob ``name`` of ``job`` of ``tenant`` (ids may be ints, strings or UUIDs)."""
    return check_key(f"{tenant}/{job}/{name}")


def check_key(key: str) -> str:
    """Return ``key`` if it is exactly three safe segments, else raise :class:`InvalidBlobKey`."""
    parts = key.split("/")
    if len(parts) != 3 or not all(_SEGMENT.fullmatch(p) for p in parts):
        raise InvalidBlobKey(f"blob key must be <tenant>/<job>/<name> of [A-Za-z0-9._-] segments, got {key!r}")
    return key


@runtime_checkable
class BlobStore(Protocol):
    """What job code needs from blob storage."""

    def put(self, key: str, data: bytes | IO[bytes], content_type: str | None = None) -> str:
        """Store ``data`` (bytes, or a binary file object streamed in chunks) under ``key``; return the key."""
        ...

    def get(self, key: str) -> bytes:
        """The whole blob (for small ones; use :meth:`open` for large ones)."""
        ...

    def open(self, key: str) -> BinaryIO:
        """A readable binary stream of the blob; close it (or use ``with``) when done."""
        ...

    def url(self, key: str, expires_s: int = 3600) -> str:
        """A URL to fetch the blob (a file:// URI locally, a presigned HTTPS URL on S3)."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove the blob; deleting a missing blob is not an error."""
        ...


class LocalBlobStore:
    """Blobs as files under ``root``; writes go to a temporary file and are renamed into place."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()

    def __repr__(self) -> str:
        return f"LocalBlobStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        if not path.is_relative_to(self.root):  # belt and braces: check_key already forbids ".."
            raise InvalidBlobKey(f"blob key {key!r} escapes {self.root}")
        return path

    def _fail(self, op: str, key: str, exc: Exception) -> BlobError:
        return BlobError(f"local blob store {self.root}: {op} {key!r} failed: {exc}")

    def put(self, key: str, data: bytes | IO[bytes], content_type: str | None = None) -> str:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
            try:
                with os.fdopen(fd, "wb") as out:
                    if isinstance(data, bytes | bytearray | memoryview):
                        out.write(data)
                    else:
                        shutil.copyfileobj(data, out, CHUNK_BYTES)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise self._fail("put", key, exc) from exc
        return key

    def get(self, key: str) -> bytes:
        with self.open(key) as stream:
            return stream.read()

    def open(self, key: str) -> BinaryIO:
        path = self._path(key)
        try:
            return path.open("rb")
        except FileNotFoundError as exc:
            raise BlobNotFound(f"local blob store {self.root}: no blob {key!r}") from exc
        except OSError as exc:
            raise self._fail("open", key, exc) from exc

    def url(self, key: str, expires_s: int = 3600) -> str:
        return self._path(key).as_uri()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise self._fail("delete", key, exc) from exc


class S3BlobStore:
    """Blobs as objects in ``bucket`` under ``prefix``; large uploads go multipart."""

    def __init__(self, bucket: str, prefix: str = "", client: Any = None) -> None:
        # Imported here so that processes without S3 (the dashboard on SQLite) start faster.
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client or boto3.client(
            "s3",
            config=Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"}),
        )
        self._transfer = TransferConfig(multipart_threshold=MULTIPART_BYTES, multipart_chunksize=MULTIPART_BYTES)

    def __repr__(self) -> str:
        return f"S3BlobStore('s3://{self.bucket}/{self.prefix}')"

    def _object_key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _fail(self, op: str, key: str, exc: Exception) -> BlobError:
        from botocore.exceptions import ClientError

        where = f"S3 blob store s3://{self.bucket}/{self.prefix}"
        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in {"404", "NoSuchKey", "NotFound"}:
                return BlobNotFound(f"{where}: no blob {key!r}")
            return BlobError(f"{where}: {op} {key!r} failed: {code or exc}")
        return BlobError(f"{where}: {op} {key!r} failed: {exc}")

    def put(self, key: str, data: bytes | IO[bytes], content_type: str | None = None) -> str:
        from io import BytesIO

        object_key = self._object_key(key)
        stream: IO[bytes] = BytesIO(bytes(data)) if isinstance(data, bytes | bytearray | memoryview) else data
        extra = {"ContentType": content_type} if content_type else None
        try:
            self.client.upload_fileobj(stream, self.bucket, object_key, ExtraArgs=extra, Config=self._transfer)
        except Exception as exc:  # botocore errors, and boto3's S3UploadFailedError wrapping them
            raise self._fail("put", key, exc) from exc
        return key

    def get(self, key: str) -> bytes:
        with self.open(key) as stream:
            return stream.read()

    def open(self, key: str) -> BinaryIO:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._object_key(key))
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("open", key, exc) from exc
        body: BinaryIO = response["Body"]  # botocore's StreamingBody is an io.IOBase
        return body

    def url(self, key: str, expires_s: int = 3600) -> str:
        url: str = self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self._object_key(key)}, ExpiresIn=expires_s
        )
        return url

    def exists(self, key: str) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._object_key(key))
        except (BotoCoreError, ClientError) as exc:
            error = self._fail("exists", key, exc)
            if isinstance(error, BlobNotFound):
                return False
            raise error from exc
        return True

    def delete(self, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._object_key(key))
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("delete", key, exc) from exc


def make_blob_store(settings: Settings | str) -> BlobStore:
    """The store named by ``settings.blob_url`` (or a blob URL given directly)."""
    url = settings if isinstance(settings, str) else settings.blob_url
    if url.startswith("s3://"):
        parts = urlsplit(url)
        if not parts.netloc:
            raise ValueError(f"blob URL {url!r} names no bucket (expected s3://bucket/prefix)")
        return S3BlobStore(parts.netloc, parts.path)
    if "://" in url and not url.startswith("file://"):
        raise ValueError(f"unsupported blob URL {url!r}: use a folder or s3://bucket/prefix")
    return LocalBlobStore(urlsplit(url).path if url.startswith("file://") else url)
