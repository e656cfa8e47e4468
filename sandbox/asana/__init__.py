"""The Asana emulator: seeded workspace, projects and tasks (:mod:`.store`), the response
envelopes and filters (:mod:`.views`), the REST API (:mod:`.api`) and webhooks (:mod:`.hooks`)."""

from sandbox.asana.api import blueprint
from sandbox.asana.store import reset

__all__ = ["blueprint", "reset"]
