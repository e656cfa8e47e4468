"""The hubspot emulator (served under /hubspot); its owner fills in the endpoints."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("hubspot", __name__, url_prefix="/hubspot")


def reset() -> None:
    """Restore the seeded demo state (nothing yet)."""
