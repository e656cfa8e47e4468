"""The HubSpot emulator: the seeded portal (:mod:`.store`), the CRM API (:mod:`.api`) and its
search (:mod:`.search`), and signed webhooks with their controls (:mod:`.events`)."""

from sandbox.hubspot.api import blueprint
from sandbox.hubspot.events import control_blueprint
from sandbox.hubspot.store import reset

__all__ = ["blueprint", "control_blueprint", "reset"]
