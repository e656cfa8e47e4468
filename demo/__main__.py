"""``python -m demo``: seed the demo tenant, serve the sandbox with the demo's event trickle,
or connect a tenant to the sandbox's vendors. Development only: every command refuses to run
with ``ZIXLY_ENV=production``.

Commands print only their result on stdout; logs go to stderr.
"""

from __future__ import annotations

import argparse
import logging
import sys

from db.engine import make_engine, make_session_factory
from demo import trickle
from demo.connect import connect_named_tenant
from demo.seed import DEMO_EMAIL, DEMO_PASSWORD, DEMO_TENANT, seed_demo
from logconfig import configure_logging
from sandbox.server import serve
from settings import ConfigurationError, Settings, load_settings

log = logging.getLogger("zixly.demo")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("seed", help="demo tenant, user, connection rows and a week of history (idempotent)")
    p = sub.add_parser("sandbox", help="serve the sandbox; with ZIXLY_SANDBOX_EVENTS_PER_MIN > 0 also the trickle")
    p.add_argument("--port", type=int, default=None, help="overrides ZIXLY_SANDBOX_PORT")
    p = sub.add_parser("connect", help="connect a tenant to the sandbox's vendors through the OAuth flow")
    p.add_argument("--tenant", default=DEMO_TENANT, help="tenant name (default: the demo tenant)")
    p.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the sandbox and listener")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings, "sandbox" if args.command == "sandbox" else "demo")
    if settings.env == "production":
        log.error("the demo is for development; refusing `%s` in production", args.command)
        return 2
    if args.command == "seed":
        return _seed(settings)
    if args.command == "sandbox":
        serve(settings, args.port, [trickle.companion(settings)] if settings.sandbox_events_per_min > 0 else [])
        return 0
    outcome = connect_named_tenant(settings, args.tenant, wait_s=args.wait)
    for system, status in outcome.items():
        print(f"{system:8s} {status}")
    return 0 if outcome and all(v == "connected" for v in outcome.values()) else 1


def _seed(settings: Settings) -> int:
    engine = make_engine(settings)
    try:
        with make_session_factory(engine)() as session:
            created = seed_demo(session)
            session.commit()
    finally:
        engine.dispose()
    log.info("demo data seeded" if created else "demo data already present")
    log.info("demo login: %s / %s", DEMO_EMAIL, DEMO_PASSWORD)
    return 0


if __name__ == "__main__":
    sys.exit(main())
