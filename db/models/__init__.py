"""Zixly's tables as typed SQLAlchemy 2 models, one module per room of the schema.

The schema is built only by the Alembic migrations in ``db/migrations``; a test checks
that these models and the migrated schema agree. Timestamps are UTC-aware everywhere.
Everything is importable from ``db.models`` itself; importing it registers every table.
"""

from db.models.accounts import ApiToken, AuditEntry, DashboardSession, LoginFailure, Tenant, User
from db.models.alerts import (
    ALERT_CHANNEL_KINDS,
    ALERT_DELIVERY_STATUSES,
    ALERT_EVENTS,
    AlertChannel,
    AlertDelivery,
    AlertGroup,
    AlertGroupJob,
)
from db.models.base import (
    CONNECTION_STATUSES,
    JOB_STATUSES,
    LIVE_ORG,
    NAMING_CONVENTION,
    RECORD_ACTIONS,
    ROLES,
    WAIT_OUTCOMES,
    WAIT_REASONS,
    Base,
)
from db.models.connections import (
    WEBHOOK_STATES,
    Connection,
    ConnectionQuota,
    ConnectionWebhook,
    OAuthState,
    QuotaLease,
    QuotaUsage,
)
from db.models.intake import RateLimitHit, WebhookDelivery
from db.models.jobs import (
    ClientPause,
    JobStep,
    JobWait,
    PipelineJob,
    RelatedRecord,
    Runner,
    Schedule,
    SyncCursor,
    WorkflowSetting,
)
from db.models.rollups import JobHourCount, JobHourDuration, JobLastSuccess, JobRollupDirty

__all__ = [
    "ALERT_CHANNEL_KINDS",
    "ALERT_DELIVERY_STATUSES",
    "ALERT_EVENTS",
    "CONNECTION_STATUSES",
    "JOB_STATUSES",
    "LIVE_ORG",
    "NAMING_CONVENTION",
    "RECORD_ACTIONS",
    "ROLES",
    "WAIT_OUTCOMES",
    "WAIT_REASONS",
    "WEBHOOK_STATES",
    "AlertChannel",
    "AlertDelivery",
    "AlertGroup",
    "AlertGroupJob",
    "ApiToken",
    "AuditEntry",
    "Base",
    "ClientPause",
    "Connection",
    "ConnectionQuota",
    "ConnectionWebhook",
    "DashboardSession",
    "JobHourCount",
    "JobHourDuration",
    "JobLastSuccess",
    "JobRollupDirty",
    "JobStep",
    "JobWait",
    "LoginFailure",
    "OAuthState",
    "PipelineJob",
    "QuotaLease",
    "QuotaUsage",
    "RateLimitHit",
    "RelatedRecord",
    "Runner",
    "Schedule",
    "SyncCursor",
    "Tenant",
    "User",
    "WebhookDelivery",
    "WorkflowSetting",
]
