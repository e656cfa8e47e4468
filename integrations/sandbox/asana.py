"""The asana emulator (served under /asana); its owner fills in the endpoints."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("asana", __name__, url_prefix="/asana")


def reset() -> None:
    """Restore the seeded demo state (nothing yet)."""
