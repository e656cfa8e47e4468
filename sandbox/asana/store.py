"""The emulated Asana workspace: users, projects and tasks, seeded by :func:`reset`.

The API (:mod:`sandbox.asana.api`) reads and changes them under :data:`sandbox.control.LOCK`.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox import control, demo_accounts
from sandbox.asana import hooks

APP = "https://app.asana.com/0"

WORKSPACE = {
    "gid": demo_accounts.ASANA_WORKSPACE_GID,
    "resource_type": "workspace",
    "name": demo_accounts.ASANA_WORKSPACE_NAME,
}
ONBOARDING = demo_accounts.ASANA_ONBOARDING_PROJECT_GID
users: dict[str, dict[str, Any]] = {}
projects: dict[str, dict[str, Any]] = {}
tasks: dict[str, dict[str, Any]] = {}
_gids = itertools.count()


def stamp(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_gid() -> str:
    return str(next(_gids))


def reset() -> None:
    """Seed: one workspace, three users, two projects, six tasks with staggered modified_at."""
    global _gids
    hooks.reset()
    with control.LOCK:
        _gids = itertools.count(1201000000001000)
        for records in (users, projects, tasks):
            records.clear()
        for gid, name, email in (
            ("1201000000000101", "Ana Operator", "ana@zixly.example"),
            ("1201000000000102", "Ben Account", "ben@zixly.example"),
            ("1201000000000103", "Cleo Designer", "cleo@zixly.example"),
        ):
            users[gid] = {"gid": gid, "resource_type": "user", "name": name, "email": email}
        base = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
        for gid, name in ((ONBOARDING, "Client onboarding"), ("1201000000000202", "Invoices to chase")):
            projects[gid] = {
                "gid": gid,
                "resource_type": "project",
                "name": name,
                "archived": False,
                "created_at": stamp(base),
                "modified_at": stamp(base),
                "workspace": WORKSPACE,
                "permalink_url": f"{APP}/{gid}",
                "notes": "",
            }
        seed = [
            ("Kick-off call with Northwind", ONBOARDING, "1201000000000101", 1),
            ("Collect Xero access", ONBOARDING, "1201000000000102", 2),
            ("Map HubSpot pipeline stages", ONBOARDING, "1201000000000103", 3),
            ("Chase INV-0042 (Blue Fern)", "1201000000000202", "1201000000000102", 4),
            ("Chase INV-0057 (Kestrel)", "1201000000000202", None, 5),
            ("Reconcile Shopify payouts", "1201000000000202", "1201000000000101", 6),
        ]
        for name, project, assignee, day in seed:
            task = new_task({"name": name, "assignee": assignee, "due_on": f"2026-12-{day:02d}"}, [project])
            task["created_at"] = task["modified_at"] = stamp(base + timedelta(days=day))


def new_task(data: dict[str, Any], project_gids: list[str]) -> dict[str, Any]:
    gid = new_gid()
    now = stamp(datetime.now(UTC))
    task = {
        "gid": gid,
        "resource_type": "task",
        "resource_subtype": "default_task",
        "name": data.get("name", ""),
        "notes": data.get("notes", ""),
        "completed": False,
        "completed_at": None,
        "due_on": data.get("due_on"),
        "due_at": data.get("due_at"),
        "assignee": users.get(str(data.get("assignee"))) if data.get("assignee") else None,
        "projects": [projects[p] for p in project_gids],
        "workspace": WORKSPACE,
        "memberships": [{"project": compact(projects[p])} for p in project_gids],
        "created_at": now,
        "modified_at": now,
        "permalink_url": f"{APP}/{project_gids[0] if project_gids else 0}/{gid}",
    }
    tasks[gid] = task
    return task


def compact(resource: dict[str, Any] | None) -> dict[str, Any] | None:
    if resource is None:
        return None
    return {k: resource[k] for k in ("gid", "resource_type", "name") if k in resource}
