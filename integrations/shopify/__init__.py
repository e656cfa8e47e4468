"""Shopify: the API client, its models, webhooks, and the record the shared code reads (``SHOPIFY``)."""

from integrations.shopify.vendor import SHOPIFY

__all__ = ["SHOPIFY"]
