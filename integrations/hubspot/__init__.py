"""HubSpot: the API client, its models, webhooks, and the record the shared code reads (``HUBSPOT``)."""

from integrations.hubspot.vendor import HUBSPOT

__all__ = ["HUBSPOT"]
