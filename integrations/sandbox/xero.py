"""The Xero emulator (served under /xero)."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("xero", __name__, url_prefix="/xero")


def reset() -> None:
    """Restore the seeded demo state."""
