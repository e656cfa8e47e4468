"""``python -m sandbox``: serve the vendor emulators on ZIXLY_SANDBOX_HOST:ZIXLY_SANDBOX_PORT.

The demo's event trickle runs with ``python -m demo sandbox`` instead (it needs the database).
"""

from __future__ import annotations

import argparse

from logconfig import configure_logging
from sandbox.server import serve
from settings import load_settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--port", type=int, default=None, help="overrides ZIXLY_SANDBOX_PORT")
    args = parser.parse_args(argv)
    settings = load_settings()
    configure_logging(settings, "sandbox")
    serve(settings, args.port)


if __name__ == "__main__":
    main()
