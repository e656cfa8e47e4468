"""Alerts, sent by the runner: failures grouped by fingerprint, conditions checked, messages delivered.

``check`` (one runner at a time) turns failed jobs and conditions into groups and due messages
into outbox rows; ``deliver`` (every runner) claims outbox rows and sends them through the
channel's sender (Slack, email, signed webhook). The dashboard never sends anything itself.
"""
