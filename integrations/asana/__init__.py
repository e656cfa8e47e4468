"""Asana: the API client, its models, webhooks, and the record the shared code reads (``ASANA``)."""

from integrations.asana.vendor import ASANA

__all__ = ["ASANA"]
