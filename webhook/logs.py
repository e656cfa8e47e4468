"""The request id on every log line the listener writes during a request."""

from __future__ import annotations

import logging

from flask import g, has_app_context


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = g.get("request_id") if has_app_context() else None
        return True


def install_request_id_filter() -> None:
    """Attach the filter to the root handlers (once), so JSON lines carry ``request_id``."""
    root = logging.getLogger()
    for handler in root.handlers:
        if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
            handler.addFilter(RequestIdFilter())
