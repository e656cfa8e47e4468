"""Alert channels keep their URL and secrets encrypted with the token keys, and rotate with them."""

from __future__ import annotations

from cryptography.fernet import Fernet, MultiFernet
from sqlalchemy.orm import Session

from db.alerts import channels
from db.models import AlertChannel
from db.secrets_rotation import rotate_secrets


def test_a_channel_is_stored_encrypted_and_re_encrypted_by_rotate_secrets(session: Session) -> None:
    old, new = Fernet.generate_key(), Fernet.generate_key()
    channel_id, stored = channels.create_channel(
        session, MultiFernet([Fernet(old)]), name="hook", kind="webhook", events=["job_failed"],
        config={"url": "https://receiver.example/alerts?token=abc"},
    )  # fmt: skip
    session.commit()
    row = session.get(AlertChannel, channel_id)
    assert row is not None and "token=abc" not in row.config_ciphertext and stored["secret"].startswith("whsec_")
    counts, unreadable = rotate_secrets(session, MultiFernet([Fernet(new), Fernet(old)]))
    session.commit()
    assert counts["rotated"] == 1 and unreadable == []
    target = channels.target(session, MultiFernet([Fernet(new)]), channel_id)  # the old key is retired
    assert target is not None and target.config == stored
