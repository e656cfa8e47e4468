"""Offline emulators of the vendors Zixly talks to, and a price feed (``python -m sandbox``).

One package per vendor (:mod:`sandbox.xero`, :mod:`sandbox.hubspot`, :mod:`sandbox.shopify`,
:mod:`sandbox.asana`) plus what they share: the app factory and ``/_sandbox`` controls
(:mod:`sandbox.app`), faults and rate limits (:mod:`sandbox.control`), the OAuth server
(:mod:`sandbox.oauth_server`), webhook delivery (:mod:`sandbox.webhook_sender`) and the
vendors' signing functions (:mod:`sandbox.vendor_signing`, the only import from
``integrations``). The sandbox imports nothing else of ours but ``settings`` and ``logconfig``.
"""
