"""Xero: the Accounting API client, its models, webhooks and OAuth description."""
