"""The shopify emulator (served under /shopify); its owner fills in the endpoints."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("shopify", __name__, url_prefix="/shopify")


def reset() -> None:
    """Restore the seeded demo state (nothing yet)."""
