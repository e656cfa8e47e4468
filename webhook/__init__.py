"""The webhook listener: a Flask app that verifies, records and enqueues vendor events."""
