"""``python -m db``: migrate the database and manage tenants, users and tokens.

Commands print only their result on stdout (ids, tokens), so scripts can capture them;
everything else goes to stderr (log lines as JSON, through :mod:`logconfig`).

The demo tenant is seeded by ``python -m demo seed`` (the database room knows no demo).
"""

from __future__ import annotations

import argparse
import logging
import sys

from sqlalchemy import select

from db.auth import create_api_token, create_user, generate_password
from db.engine import make_engine, make_session_factory
from db.migrate import upgrade
from db.models import Tenant, User
from db.secrets_rotation import rotate_secrets
from logconfig import configure_logging
from settings import ConfigurationError, Settings, load_settings

log = logging.getLogger("zixly.db")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m db", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("upgrade", help="apply all migrations (idempotent)")
    p = sub.add_parser("create-tenant", help="create a tenant; prints its id")
    p.add_argument("name")
    p.add_argument("--timezone", default="UTC")
    p = sub.add_parser("create-user", help="create a staff user; prints a generated password once")
    p.add_argument("email")
    p.add_argument("--role", required=True, type=str.upper, choices=["ADMIN", "EDITOR", "VIEWER"])
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p = sub.add_parser("create-token", help="create an API token for a user; prints it once")
    p.add_argument("email")
    p.add_argument("--name", default="api")
    p.add_argument("--tenant", type=int, help="limit the token to this tenant id's jobs (a client's integration)")
    sub.add_parser(
        "rotate-secrets", help="re-encrypt every stored token and webhook secret with the first ZIXLY_SECRET_KEY key"
    )
    args = parser.parse_args(argv)

    try:
        settings = load_settings()
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)  # no settings, so no logging to say it with
        return 2
    configure_logging(settings, "db")
    try:
        return _run(args, settings)
    except (ConfigurationError, ValueError) as exc:
        log.error("%s failed: %s", args.command, exc)  # (not "create-token: …", which reads as a secret)
        return 2


def _run(args: argparse.Namespace, settings: Settings) -> int:
    engine = make_engine(settings)
    if args.command == "upgrade":
        upgrade(engine)
        log.info("database is up to date")
        return 0
    with make_session_factory(engine)() as session:
        if args.command == "create-tenant":
            if session.scalar(select(Tenant.id).where(Tenant.name == args.name)) is not None:
                raise ValueError(f"a tenant named {args.name!r} already exists")
            tenant = Tenant(name=args.name, timezone=args.timezone)
            session.add(tenant)
            session.commit()
            print(tenant.id)
        elif args.command == "create-user":
            generated = not args.password_stdin
            password = generate_password() if generated else sys.stdin.readline().rstrip("\n")
            if len(password) < 8:
                raise ValueError("the password must be at least 8 characters")
            user = create_user(session, args.email, args.role, password)
            session.commit()
            log.info("created %s (%s)", user.email, user.role)
            if generated:
                print(password)
        elif args.command == "create-token":
            owner = session.scalar(select(User).where(User.email == args.email.strip().lower()))
            if owner is None:
                raise ValueError(f"no user with email {args.email}")
            token = create_api_token(session, owner, name=args.name, tenant_id=args.tenant)
            session.commit()
            print(token)
        elif args.command == "rotate-secrets":
            counts, unreadable = rotate_secrets(session, settings.cipher())
            session.commit()
            print(f"rotated {counts['rotated']} secrets; {counts['in_aws']} kept in AWS Secrets Manager")
            if unreadable:
                ids = ", ".join(str(i) for i in unreadable)
                raise ValueError(f"no key decrypts the secrets of connections {ids}: add their key, or reconnect them")
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
