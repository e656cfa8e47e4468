"""The prices emulator (served under /prices); its owner fills in the endpoints."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("prices", __name__, url_prefix="/prices")


def reset() -> None:
    """Restore the seeded demo state (nothing yet)."""
