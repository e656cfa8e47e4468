"""Re-encrypting every stored secret with the newest key, so an old key can be retired.

``ZIXLY_SECRET_KEY`` lists keys newest first; the cipher decrypts with any and encrypts with
the first. Rotating a key: put the new one first, run ``python -m db rotate-secrets`` (it
re-encrypts each connection's token set and webhook secret, each alert channel's
configuration, and the HMAC secrets of open signed callback waits), then drop the old key.
Secrets kept in AWS Secrets Manager (``aws-sm:`` references) are AWS's to rotate and are only counted.
"""

from __future__ import annotations

from collections import Counter

from cryptography.fernet import InvalidToken, MultiFernet
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.alerts import channels as alert_channels
from db.models import Connection, JobWait

AWS_REF_PREFIX = "aws-sm:"
COLUMNS = ("token_ciphertext", "webhook_secret_ciphertext")


def rotate_secrets(session: Session, cipher: MultiFernet) -> tuple[Counter[str], list[int]]:
    """Re-encrypt every Fernet secret with the first key; the caller commits.

    Returns the counts (``rotated``, ``in_aws``) and the ids of connections holding a secret
    no key can decrypt (left as they are).
    """
    counts: Counter[str] = Counter(rotated=0, in_aws=0)
    unreadable: list[int] = []
    for connection in session.scalars(select(Connection).order_by(Connection.id)):
        for column in COLUMNS:
            stored: str | None = getattr(connection, column)
            if not stored:
                continue
            if stored.startswith(AWS_REF_PREFIX):
                counts["in_aws"] += 1
                continue
            try:
                setattr(connection, column, cipher.rotate(stored.encode()).decode())
            except InvalidToken:
                unreadable.append(connection.id)
                continue
            counts["rotated"] += 1
    # The HMAC secrets of signed callback waits that are still open (a closed wait's is never read again).
    for wait in session.scalars(
        select(JobWait).where(JobWait.secret_ciphertext.is_not(None), JobWait.outcome.is_(None)).order_by(JobWait.id)
    ):
        assert wait.secret_ciphertext is not None
        try:
            wait.secret_ciphertext = cipher.rotate(wait.secret_ciphertext.encode()).decode()
        except InvalidToken:
            continue  # its callback will be refused (401) and the wait times out
        counts["rotated"] += 1
    # Alert channels' URLs, addresses and signing secrets (always Fernet, never in AWS).
    rotated, _unreadable_channels = alert_channels.rotate(session, cipher)
    counts["rotated"] += rotated
    session.flush()
    return counts, sorted(set(unreadable))
