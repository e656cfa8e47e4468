"""``python -m webhook``: the listener under gunicorn on ``ZIXLY_WEBHOOK_BIND``."""

from __future__ import annotations

import sys


def main() -> int:
    # First of all: prometheus-client picks its multiprocess mode when it is imported.
    from webhook.server import prepare_metrics_dir

    metrics_dir, owned = prepare_metrics_dir()

    import logconfig
    from settings import ConfigurationError, load_settings
    from webhook.server import ListenerServer

    try:
        settings = load_settings()
    except ConfigurationError as exc:
        print(f"webhook: {exc}", file=sys.stderr)
        return 2
    logconfig.configure_logging(settings, "webhook")
    ListenerServer(settings, metrics_dir, owns_metrics_dir=owned).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
