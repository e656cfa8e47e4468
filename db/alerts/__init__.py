"""Alerts' storage: channels (secrets encrypted), failure and condition groups, the delivery outbox.

Functions take a ``Session`` and never commit: the caller owns the transaction. What counts as
an alert and when a message is due is decided by the runner (``sync/alerts``); the dashboard
only configures channels, asks for test messages and reads what happened.
"""
