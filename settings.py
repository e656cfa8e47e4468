"""Zixly's one settings object, read from ``ZIXLY_*`` environment variables and ``.env``.

Each process entry point builds it once with :func:`load_settings` and passes it down;
nothing in the project reads the environment or connects anywhere at import time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from cryptography.fernet import Fernet, MultiFernet
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

VENDORS = ("xero", "hubspot", "shopify", "asana")

# Real vendor endpoints (production defaults). Keys are the settings' field names.
REAL_URLS: dict[str, str] = {
    "xero_api_url": "https://api.xero.com",
    "xero_identity_url": "https://identity.xero.com",
    "xero_login_url": "https://login.xero.com",
    "hubspot_api_url": "https://api.hubapi.com",
    "hubspot_app_url": "https://app.hubspot.com",
    # Shopify is per shop: "{shop}" is replaced by the shop's myshopify domain.
    "shopify_api_url": "https://{shop}",
    "asana_api_url": "https://app.asana.com",
}

# The sandbox serves each vendor under its own prefix (sandbox/).
SANDBOX_PATHS: dict[str, str] = {
    "xero_api_url": "/xero",
    "xero_identity_url": "/xero/identity",
    "xero_login_url": "/xero/login",
    "hubspot_api_url": "/hubspot",
    "hubspot_app_url": "/hubspot/app",
    "shopify_api_url": "/shopify/{shop}",
    "asana_api_url": "/asana",
}


class ConfigurationError(RuntimeError):
    """The settings cannot run this process; the message names what to fix."""


class Settings(BaseSettings):
    """Every knob of Zixly. Field ``foo_bar`` is read from ``ZIXLY_FOO_BAR``."""

    model_config = SettingsConfigDict(env_prefix="ZIXLY_", env_file=".env", extra="ignore", validate_default=True)

    # -- core ---------------------------------------------------------------------------
    env: Literal["development", "test", "production"] = Field(
        "development", description="development, test or production; production demands real secrets"
    )
    var_dir: Path = Field(Path("var"), description="Folder for the embedded database, blobs and the generated key")
    database_url: str = Field(
        "sqlite:///var/zixly.db", description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://…"
    )
    secret_key: SecretStr | None = Field(
        None,
        description="Fernet keys encrypting tokens and webhook secrets at rest, comma-separated: the first "
        "encrypts, all decrypt (rotate with python -m db rotate-secrets); generated into var/ when unset "
        "(not in production)",
    )
    blob_url: str = Field("var/blobs", description="Blob store: a local folder, or s3://bucket/prefix")
    public_url: str = Field(
        "http://127.0.0.1:3000",
        description="Externally visible base URL of the webhook service (OAuth redirects, HubSpot v3)",
    )
    log_level: str = Field("INFO", description="Log level of every process")
    log_json: bool = Field(True, description="Write logs as JSON lines")
    secrets_backend: Literal["db", "aws"] = Field(
        "db", description="Where OAuth tokens live: db (Fernet-encrypted column) or aws (Secrets Manager)"
    )

    # -- webhook listener ------------------------------------------------------------
    webhook_bind: str = Field("127.0.0.1:3000", description="host:port gunicorn binds the webhook listener to")
    webhook_workers: int = Field(2, ge=1, description="gunicorn worker processes of the listener")
    webhook_max_bytes: int = Field(1_048_576, ge=1024, description="Largest accepted request body in bytes")
    callback_max_bytes: int = Field(
        65_536, ge=1024, description="Largest accepted callback body (POST /webhook/callbacks/<token>) in bytes"
    )
    webhook_read_timeout_s: float = Field(
        10.0, gt=0, description="Seconds a request may take to send its headers, then its body, before a 408"
    )
    webhook_rate_limit_per_minute: int = Field(100, ge=1, description="Requests per tenant per minute before 429")
    webhook_group_commit: bool = Field(
        True,
        description="On PostgreSQL, write the deliveries that arrive together in one transaction (each answered "
        "after its commit)",
    )
    webhook_unmatched_per_minute: int = Field(
        600,
        ge=0,
        description="Deliveries for unknown organisations stored per minute (all vendors); past it they are "
        "acknowledged but not stored",
    )
    hubspot_webhook_url: str | None = Field(
        None,
        description="URL HubSpot v3 signs, for path-rewriting proxies (unset: ZIXLY_PUBLIC_URL + /webhook/hubspot)",
    )

    # -- runner ---------------------------------------------------------------------
    runner_concurrency: int = Field(
        4,
        ge=1,
        description="Worker slots per runner process (raise for many tiny jobs: a claim starts one for each "
        "free worker)",
    )
    runner_poll_s: float = Field(
        1.0, gt=0, description="Polling interval when no NOTIFY arrives (the only way on SQLite)"
    )
    resume_per_minute: int = Field(
        60, ge=1, description="Held jobs a resumed client releases per minute (paced, in order; see the Clients board)"
    )
    runner_grace_s: float = Field(30.0, ge=0, description="Seconds running jobs get to finish after SIGTERM")
    runner_lease_s: float = Field(30.0, gt=0, description="Lease of a claimed job; heartbeats extend it")
    runner_prefetch: int = Field(
        0,
        ge=0,
        description="Jobs a runner may claim beyond its free slots, ready to start (their starts are a statement "
        "of their own)",
    )
    runner_metrics_host: str = Field(
        "127.0.0.1", description="Address the runner's /metrics binds to (0.0.0.0 inside containers)"
    )
    runner_metrics_port: int = Field(9102, ge=0, description="Port of the runner's /metrics (0 turns it off)")
    quota_max_wait_s: float = Field(
        5.0,
        ge=0,
        description="Longest a job waits in its worker slot for a vendor quota window; longer waits requeue it "
        "for the window's opening without spending an attempt",
    )
    quota_time_scale: float = Field(
        1.0,
        gt=0,
        le=1,
        description="Shortens every vendor limit's rolling window, and ZIXLY_QUOTA_MAX_WAIT_S, by this factor "
        "(tests and the sandbox bench run Xero's minute as seconds); 1 outside tests",
    )
    job_retention_days: int = Field(90, ge=1, description="Finished jobs older than this are pruned, with their steps")
    job_partition_size: int = Field(
        1_000_000,
        ge=1000,
        description="PostgreSQL: job ids per history partition; retention drops a partition once all its jobs "
        "are finished and past the retention (db/jobs/partitions.py says why 1,000,000)",
    )

    # -- dashboard ------------------------------------------------------------------
    session_timeout_min: int = Field(60, ge=1, description="Idle minutes before a dashboard login expires")
    session_max_hours: int = Field(
        12, ge=1, description="Hours a dashboard login lasts at most, however busy (its cookie expires then)"
    )
    login_free_failures: int = Field(
        3, ge=0, description="Failed logins per account or address before each retry must wait"
    )
    login_max_delay_s: int = Field(60, ge=1, description="Longest wait between tries (the delay doubles per failure)")
    login_lockout_failures: int = Field(
        10, ge=1, description="Failed logins in a row that lock the account for login_lockout_minutes"
    )
    login_address_lockout_failures: int = Field(
        50, ge=1, description="Failed logins from one address (any accounts) that lock the address"
    )
    login_lockout_minutes: int = Field(15, ge=1, description="How long a lockout lasts; an ADMIN can lift it sooner")

    # -- alerts (sent by the runner; channels are configured on the Admin page) ----------
    alert_check_s: float = Field(10.0, gt=0, description="Seconds between the runner's alert checks and deliveries")
    alert_interval_s: float = Field(
        900.0, ge=0, description="At most one message per alert group per this many seconds"
    )
    alert_group_wait_s: float = Field(
        30.0, ge=0, description="Seconds a new failure group gathers failures before its first message"
    )
    alert_resolve_after_s: float = Field(
        600.0, ge=0, description="Quiet seconds (and a success of the job type since) before a failure group resolves"
    )
    alert_failure_share: float = Field(
        0.5, gt=0, le=1, description="Share of a workflow's jobs failing in the last hour that raises an alert"
    )
    alert_failure_share_min_jobs: int = Field(
        10, ge=1, description="Jobs a workflow must have finished in the hour before its failure share counts"
    )
    alert_backlog_threshold: int = Field(500, ge=1, description="Queued jobs of one tenant that raise a backlog alert")
    alert_expiry_warn_days: int = Field(
        7, ge=0, description="Days before a connection's refresh token dies that an alert warns"
    )
    smtp_host: str = Field("127.0.0.1", description="SMTP server for email alerts")
    smtp_port: int = Field(1025, ge=1, description="SMTP port (1025: a local development server)")
    smtp_from: str = Field("zixly@localhost", description="Sender address of email alerts")
    smtp_username: str | None = Field(None, description="SMTP login (unset: no AUTH)")
    smtp_password: SecretStr | None = Field(None, description="SMTP password")
    smtp_starttls: bool = Field(False, description="Upgrade the SMTP connection with STARTTLS")

    # -- sandbox --------------------------------------------------------------------
    sandbox_host: str = Field("127.0.0.1", description="Address the sandbox binds to (0.0.0.0 inside containers)")
    sandbox_port: int = Field(3900, ge=1, description="Port of the vendor sandbox")
    sandbox_events_per_min: float = Field(
        0.0, ge=0, description="Demo trickle of signed vendor events the sandbox sends (0 = off)"
    )
    prices_url: str | None = Field(None, description="Daily price API; defaults to the sandbox in development")
    trading_url: str | None = Field(
        None, description="Trading API that runs sweeps and calls back; defaults to the sandbox in development"
    )

    # -- vendors (credentials and endpoints) ---------------------------------------------
    xero_client_id: str | None = Field(None, description="Xero app client id")
    xero_client_secret: SecretStr | None = Field(None, description="Xero app client secret")
    xero_webhook_key: SecretStr | None = Field(None, description="Xero webhook signing key (used as a literal string)")
    xero_scopes: str = Field(
        "offline_access accounting.transactions accounting.contacts accounting.settings.read",
        description="Space-separated Xero scopes (granular scopes such as accounting.invoices work too)",
    )
    xero_api_url: str | None = Field(None, description="Xero API base (sandbox in development)")
    xero_identity_url: str | None = Field(None, description="Xero identity (token) base")
    xero_login_url: str | None = Field(None, description="Xero login (authorize) base")

    hubspot_client_id: str | None = Field(None, description="HubSpot app client id")
    hubspot_client_secret: SecretStr | None = Field(None, description="HubSpot app client secret (also signs webhooks)")
    hubspot_scopes: str = Field(
        "crm.objects.contacts.read crm.objects.contacts.write crm.objects.deals.read crm.objects.deals.write",
        description="Space-separated HubSpot scopes",
    )
    hubspot_api_url: str | None = Field(None, description="HubSpot API base")
    hubspot_app_url: str | None = Field(None, description="HubSpot app (authorize) base")

    shopify_client_id: str | None = Field(None, description="Shopify app API key")
    shopify_client_secret: SecretStr | None = Field(None, description="Shopify app secret (also signs webhooks)")
    shopify_scopes: str = Field("read_orders,read_customers", description="Comma-separated Shopify scopes")
    shopify_api_url: str | None = Field(None, description="Shopify shop base; {shop} is the shop domain")

    asana_client_id: str | None = Field(None, description="Asana app client id")
    asana_client_secret: SecretStr | None = Field(None, description="Asana app client secret")
    asana_scopes: str = Field("default", description="Space-separated Asana scopes")
    asana_api_url: str | None = Field(None, description="Asana base (API under /api/1.0, OAuth under /-/)")

    @model_validator(mode="after")
    def _default_vendor_urls(self) -> Settings:
        sandbox = f"http://127.0.0.1:{self.sandbox_port}"
        for field, real in REAL_URLS.items():
            if getattr(self, field) is None:
                value = real if self.env == "production" else sandbox + SANDBOX_PATHS[field]
                object.__setattr__(self, field, value)
        if self.prices_url is None and self.env != "production":
            object.__setattr__(self, "prices_url", sandbox + "/prices")
        if self.trading_url is None and self.env != "production":
            object.__setattr__(self, "trading_url", sandbox + "/trading")
        return self

    # -- derived values ------------------------------------------------------------------
    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def fernet_keys(self) -> list[bytes]:
        """The encryption keys, newest first: the setting's, or one generated once into var/."""
        if self.secret_key is not None:
            keys = [k.strip().encode() for k in self.secret_key.get_secret_value().split(",") if k.strip()]
            if keys:
                return keys
        return [self._generated_key()]

    def fernet_key(self) -> bytes:
        """The key new secrets are encrypted with (the first of :meth:`fernet_keys`)."""
        return self.fernet_keys()[0]

    def cipher(self) -> MultiFernet:
        """Encrypts with the first key, decrypts with any: what rotating a key needs."""
        return MultiFernet([Fernet(k) for k in self.fernet_keys()])

    def _generated_key(self) -> bytes:
        path = self.var_dir / "secret.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(Fernet.generate_key())
        return path.read_bytes().strip()

    def check_production(self) -> None:
        """Refuse to run production on embedded defaults or half-configured vendors."""
        if self.env != "production":
            return
        missing: list[str] = []
        if self.secret_key is None and self.secrets_backend == "db":
            missing.append("ZIXLY_SECRET_KEY")
        if self.is_sqlite:
            missing.append("ZIXLY_DATABASE_URL (a PostgreSQL URL)")
        if self.public_url.startswith("http://127.0.0.1"):
            missing.append("ZIXLY_PUBLIC_URL")
        for vendor in VENDORS:
            parts = {
                f"ZIXLY_{vendor.upper()}_CLIENT_ID": getattr(self, f"{vendor}_client_id"),
                f"ZIXLY_{vendor.upper()}_CLIENT_SECRET": getattr(self, f"{vendor}_client_secret"),
            }
            if vendor == "xero":
                parts["ZIXLY_XERO_WEBHOOK_KEY"] = self.xero_webhook_key
            present = [name for name, value in parts.items() if value]
            if present and len(present) < len(parts):
                missing += [f"{name} (the {vendor} app is half-configured)" for name, v in parts.items() if not v]
        if missing:
            raise ConfigurationError("ZIXLY_ENV=production needs these settings: " + ", ".join(missing))


def load_settings(**overrides: object) -> Settings:
    """Build the settings once per process; production checks run here."""
    settings = Settings(**overrides)  # type: ignore[arg-type]
    settings.check_production()
    return settings


def _env_rows() -> list[tuple[str, str, str]]:
    rows = []
    for name, field in Settings.model_fields.items():
        default = field.default
        shown = "" if default is None else str(default.value if hasattr(default, "value") else default)
        rows.append((f"ZIXLY_{name.upper()}", shown, field.description or ""))
    return rows


def render_env_example() -> str:
    """The text of .env.example (a test keeps the committed file equal to this)."""
    lines = ["# Zixly settings: every variable, with its default. Copy to .env and edit.", ""]
    for var, default, description in _env_rows():
        lines += [f"# {description}", f"# {var}={default}"]
    return "\n".join(lines) + "\n"


def render_markdown_table() -> str:
    """The README's configuration table (a test keeps the README in step with this)."""
    lines = ["| variable | default | what it does |", "|---|---|---|"]
    for var, default, description in _env_rows():
        lines.append(f"| `{var}` | `{default}` | {description} |" if default else f"| `{var}` | | {description} |")
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    print(render_markdown_table() if "--markdown" in sys.argv else render_env_example(), end="")
