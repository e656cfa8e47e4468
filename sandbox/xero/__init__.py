"""The Xero emulator: the accounting API and identity (:mod:`.api`), the seeded organisations
(:mod:`.data`), and signed webhooks with their ``/_sandbox/xero`` controls (:mod:`.hooks`)."""

from sandbox.xero.api import blueprint, reset
from sandbox.xero.hooks import control_blueprint

__all__ = ["blueprint", "control_blueprint", "reset"]
