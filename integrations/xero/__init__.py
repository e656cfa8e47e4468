"""Xero: the API client, its models, webhooks, and the record the shared code reads (``XERO``)."""

from integrations.xero.vendor import XERO

__all__ = ["XERO"]
