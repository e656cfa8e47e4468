"""The Asana emulator (served under /asana), per CONTRACTS.md §5 and Asana's OpenAPI document.

API under ``/asana/api/1.0``: tasks (create, read, update, list by project and
``modified_since``), projects, workspaces, webhooks (with the handshake, see
:mod:`integrations.sandbox.asana_hooks`). ``{"data": …}`` envelopes, ``opt_fields``,
``offset`` paging, 429 + ``Retry-After`` past 150 calls a minute per token. OAuth under
``/asana/-/oauth_authorize|oauth_token|oauth_revoke``. Personal access tokens (``2/…``) work too.
Sandbox controls: ``POST /asana/_sandbox/tasks/<gid>/complete`` (sends the events and answers
with the delivery logs), ``POST /asana/_sandbox/config`` (heartbeat and retry timing).
"""

from __future__ import annotations

import base64
import itertools
import math
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from integrations.sandbox import asana_hooks as hooks
from integrations.sandbox import control
from integrations.sandbox.oauth_server import OAuthServer, register_oauth_routes

blueprint = Blueprint("asana", __name__, url_prefix="/asana")
API = "/api/1.0"
APP = "https://app.asana.com/0"

WORKSPACE = {"gid": "1201000000000001", "resource_type": "workspace", "name": "Zixly Demo Workspace"}
_users: dict[str, dict[str, Any]] = {}
_projects: dict[str, dict[str, Any]] = {}
_tasks: dict[str, dict[str, Any]] = {}
_gids = itertools.count()
_PAT = re.compile(r"^[012]/\d+(/\d+)?:[0-9a-f]+$")

control.set_default_budgets("asana", [("minute", 150, 60.0)])
OAUTH = OAuthServer(
    "asana",
    access_ttl=3600,
    rotate_refresh=False,  # Asana refresh tokens are long-lived
    orgs=lambda: [WORKSPACE["gid"]],
    token_extra=lambda grant: {
        "token_type": "bearer",
        "data": {
            "id": 1201000000000101,
            "gid": "1201000000000101",
            "name": "Ana Operator",
            "email": "ana@zixly.example",
        },
    },
)
register_oauth_routes(
    blueprint,
    OAUTH,
    authorize="/-/oauth_authorize",
    token="/-/oauth_token",  # noqa: S106
    revoke="/-/oauth_revoke",
)


def _stamp(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _gid() -> str:
    return str(next(_gids))


def reset() -> None:
    """Seed: one workspace, three users, two projects, six tasks with staggered modified_at."""
    global _gids
    hooks.reset()
    with control.LOCK:
        _gids = itertools.count(1201000000001000)
        for store in (_users, _projects, _tasks):
            store.clear()
        for gid, name, email in (
            ("1201000000000101", "Ana Operator", "ana@zixly.example"),
            ("1201000000000102", "Ben Account", "ben@zixly.example"),
            ("1201000000000103", "Cleo Designer", "cleo@zixly.example"),
        ):
            _users[gid] = {"gid": gid, "resource_type": "user", "name": name, "email": email}
        base = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
        for gid, name in (("1201000000000201", "Client onboarding"), ("1201000000000202", "Invoices to chase")):
            _projects[gid] = {
                "gid": gid,
                "resource_type": "project",
                "name": name,
                "archived": False,
                "created_at": _stamp(base),
                "modified_at": _stamp(base),
                "workspace": WORKSPACE,
                "permalink_url": f"{APP}/{gid}",
                "notes": "",
            }
        seed = [
            ("Kick-off call with Northwind", "1201000000000201", "1201000000000101", 1),
            ("Collect Xero access", "1201000000000201", "1201000000000102", 2),
            ("Map HubSpot pipeline stages", "1201000000000201", "1201000000000103", 3),
            ("Chase INV-0042 (Blue Fern)", "1201000000000202", "1201000000000102", 4),
            ("Chase INV-0057 (Kestrel)", "1201000000000202", None, 5),
            ("Reconcile Shopify payouts", "1201000000000202", "1201000000000101", 6),
        ]
        for name, project, assignee, day in seed:
            task = _new_task({"name": name, "assignee": assignee, "due_on": f"2026-12-{day:02d}"}, [project])
            task["created_at"] = task["modified_at"] = _stamp(base + timedelta(days=day))


def _new_task(data: dict[str, Any], projects: list[str]) -> dict[str, Any]:
    gid = _gid()
    now = _stamp(datetime.now(UTC))
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
        "assignee": _users.get(str(data.get("assignee"))) if data.get("assignee") else None,
        "projects": [_projects[p] for p in projects],
        "workspace": WORKSPACE,
        "memberships": [{"project": _compact(_projects[p])} for p in projects],
        "created_at": now,
        "modified_at": now,
        "permalink_url": f"{APP}/{projects[0] if projects else 0}/{gid}",
    }
    _tasks[gid] = task
    return task


# -- envelopes, auth, limits -------------------------------------------------------------------


def errors(status: int, message: str) -> Response:
    response = jsonify(
        errors=[
            {
                "message": message,
                "help": "For more information on API status codes and how to "
                "handle them, read the docs on errors: https://developers.asana.com/docs/errors",
            }
        ]
    )
    response.status_code = status
    return response


def _guard() -> Response | None:
    if not request.path.startswith(f"/asana{API}/"):
        return None
    authorization = request.headers.get("Authorization", "")
    token = authorization.removeprefix("Bearer ").strip()
    if OAUTH.grant_for(authorization) is None and not _PAT.match(token):
        return errors(401, "Not Authorized")
    verdicts = control.spend("asana", token)
    for ok, _remaining, wait in verdicts.values():
        if not ok:
            response = errors(
                429, "You've made too many requests and hit a rate limit. Please retry after the given amount of time."
            )
            response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
            return response
    return None


control.install_controls(blueprint, "asana", rate_limit=_guard)


def _compact(resource: dict[str, Any] | None) -> dict[str, Any] | None:
    if resource is None:
        return None
    return {k: resource[k] for k in ("gid", "resource_type", "name") if k in resource}


def _opt_fields() -> list[str] | None:
    raw = request.args.get("opt_fields")
    return [f for f in raw.split(",") if f] if raw else None


def _pick(value: Any, sub: list[str]) -> Any:
    if isinstance(value, list):
        return [_pick(v, sub) for v in value]
    if isinstance(value, dict):
        return {"gid": value.get("gid"), **{s: value.get(s) for s in sub}}
    return value


def view(resource: dict[str, Any], fields: list[str] | None, compact: bool) -> dict[str, Any]:
    """A resource as Asana returns it: compact in lists, full for one, or the ``opt_fields``."""
    if fields is None:
        if compact:
            return _compact(resource) or {}
        return {
            k: (
                _compact(v)
                if isinstance(v, dict) and "gid" in v
                else [_compact(i) if isinstance(i, dict) and "gid" in i else i for i in v]
                if isinstance(v, list)
                else v
            )
            for k, v in resource.items()
            if k != "email"
        }
    out: dict[str, Any] = {"gid": resource["gid"]}
    nested: dict[str, list[str]] = {}
    for field in fields:
        head, _, rest = field.partition(".")
        nested.setdefault(head, [])
        if rest:
            nested[head].append(rest)
    for head, sub in nested.items():
        if head in resource:
            out[head] = _pick(resource[head], sub) if sub else resource[head]
            if not sub and isinstance(resource[head], dict | list):
                out[head] = _pick(resource[head], [])
    return out


def _page(items: list[dict[str, Any]], path: str) -> ResponseReturnValue:
    """``{"data": [...], "next_page": …}``; next_page only when ``limit`` is given (as Asana)."""
    limit_arg = request.args.get("limit")
    fields = _opt_fields()
    if limit_arg is None:
        return jsonify(data=[view(i, fields, compact=True) for i in items])
    limit = int(limit_arg)
    if not 1 <= limit <= 100:
        return errors(400, "limit: Value must be between 1 and 100")
    offset = request.args.get("offset")
    start = int(base64.urlsafe_b64decode(offset.encode()).decode()) if offset else 0
    page = items[start : start + limit]
    next_page = None
    if start + limit < len(items):
        token = base64.urlsafe_b64encode(str(start + limit).encode()).decode()
        query = urlencode({**request.args.to_dict(), "offset": token})
        next_page = {"offset": token, "path": f"{path}?{query}", "uri": f"https://app.asana.com{API}{path}?{query}"}
    return jsonify(data=[view(i, fields, compact=True) for i in page], next_page=next_page)


def _since(name: str) -> datetime | None:
    raw = request.args.get(name)
    if not raw or raw == "now":
        return datetime.now(UTC) if raw == "now" else None
    parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _when(stamp: str | None) -> datetime | None:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None


def _task_filter(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    completed_since, modified_since = _since("completed_since"), _since("modified_since")
    kept = []
    for task in tasks:
        if completed_since and task["completed"] and (_when(task["completed_at"]) or completed_since) < completed_since:
            continue
        if modified_since and (_when(task["modified_at"]) or modified_since) < modified_since:
            continue
        kept.append(task)
    return kept


# -- tasks -------------------------------------------------------------------------------------


@blueprint.get(f"{API}/tasks")
def list_tasks() -> ResponseReturnValue:
    project = request.args.get("project")
    if project is None and not (request.args.get("assignee") and request.args.get("workspace")):
        return errors(400, "Must specify exactly one of project, tag, section, user task list, or assignee + workspace")
    with control.LOCK:
        if project is not None and project not in _projects:
            return errors(404, f"project: Unknown object: {project}")
        tasks = [
            t
            for t in _tasks.values()
            if (project is None or any(p["gid"] == project for p in t["projects"]))
            and (request.args.get("assignee") in (None, (t["assignee"] or {}).get("gid")))
        ]
        return _page(_task_filter(tasks), "/tasks")


@blueprint.get(f"{API}/projects/<project_gid>/tasks")
def project_tasks(project_gid: str) -> ResponseReturnValue:
    with control.LOCK:
        if project_gid not in _projects:
            return errors(404, f"project: Unknown object: {project_gid}")
        tasks = [t for t in _tasks.values() if any(p["gid"] == project_gid for p in t["projects"])]
        return _page(_task_filter(tasks), f"/projects/{project_gid}/tasks")


def _user(ref: object) -> dict[str, Any] | str | None:
    """The user an ``assignee`` value names (gid, email or "me"), None to unassign, or an error."""
    if ref is None:
        return None
    text = str(ref)
    if text == "me":
        return _users["1201000000000101"]
    found = _users.get(text) or next((u for u in _users.values() if u["email"] == text), None)
    return found if found is not None else f"assignee: Not a recognized ID: {text}"


@blueprint.post(f"{API}/tasks")
def create_task() -> ResponseReturnValue:
    data = (request.get_json(silent=True) or {}).get("data")
    if not isinstance(data, dict):
        return errors(400, "data: Missing input")
    projects = [str(p) for p in data.get("projects") or []]
    with control.LOCK:
        if not projects and not data.get("workspace") and not data.get("parent"):
            return errors(400, "You should specify one of workspace, parent, projects")
        unknown = [p for p in projects if p not in _projects]
        if unknown:
            return errors(404, f"projects: Unknown object: {unknown[0]}")
        assignee = _user(data.get("assignee"))
        if isinstance(assignee, str):
            return errors(400, assignee)
        if data.get("due_on"):
            try:
                date.fromisoformat(str(data["due_on"]))
            except ValueError:
                return errors(400, f"due_on: Invalid date: {data['due_on']}")
        task = _new_task({**data, "assignee": assignee["gid"] if assignee else None}, projects)
        answer = view(task, _opt_fields(), compact=False)
    control.record_write("asana", f"task:{task['gid']}")
    user = _grant_user()
    events = [hooks.event(task, "added", user, parent=p) for p in task["projects"]]
    hooks.publish(events, {task["gid"], *projects})
    return jsonify(data=answer), 201


def _grant_user() -> str:
    return "1201000000000101"


@blueprint.route(f"{API}/tasks/<task_gid>", methods=["GET", "PUT"])
def task(task_gid: str) -> ResponseReturnValue:
    with control.LOCK:
        found = _tasks.get(task_gid)
        if found is None:
            return errors(404, f"task: Unknown object: {task_gid}")
        if request.method == "GET":
            return jsonify(data=view(found, _opt_fields(), compact=False))
        data = (request.get_json(silent=True) or {}).get("data")
        if not isinstance(data, dict):
            return errors(400, "data: Missing input")
        changed = _apply(found, data)
        if isinstance(changed, Response):
            return changed
        answer = view(found, _opt_fields(), compact=False)
    control.record_write("asana", f"task:{task_gid}")
    _announce(found, changed)
    return jsonify(data=answer)


WRITABLE = ("name", "notes", "completed", "due_on", "due_at", "assignee")


def _apply(task: dict[str, Any], data: dict[str, Any]) -> list[str] | Response:
    changed = []
    for field in WRITABLE:
        if field not in data:
            continue
        value: Any = data[field]
        if field == "assignee":
            value = _user(value)
            if isinstance(value, str):
                return errors(400, value)
        if task.get(field) != value:
            task[field] = value
            changed.append(field)
    if "completed" in changed:
        task["completed_at"] = _stamp(datetime.now(UTC)) if task["completed"] else None
    if changed:
        task["modified_at"] = _stamp(datetime.now(UTC))
    return changed


def _announce(task: dict[str, Any], fields: list[str], *, wait: bool = False) -> list[dict[str, Any]]:
    events = [hooks.event(task, "changed", _grant_user(), field=f, new_value=task.get(f)) for f in fields]
    return hooks.publish(events, {task["gid"], *(p["gid"] for p in task["projects"])}, wait=wait)


# -- projects, workspaces ------------------------------------------------------------------------


@blueprint.get(f"{API}/projects")
def list_projects() -> ResponseReturnValue:
    workspace = request.args.get("workspace")
    archived = request.args.get("archived")
    with control.LOCK:
        items = [
            p
            for p in _projects.values()
            if workspace in (None, WORKSPACE["gid"]) and (archived is None or str(p["archived"]).lower() == archived)
        ]
        return _page(items, "/projects")


@blueprint.get(f"{API}/projects/<project_gid>")
def get_project(project_gid: str) -> ResponseReturnValue:
    with control.LOCK:
        found = _projects.get(project_gid)
        if found is None:
            return errors(404, f"project: Unknown object: {project_gid}")
        return jsonify(data=view(found, _opt_fields(), compact=False))


@blueprint.get(f"{API}/workspaces")
def list_workspaces() -> ResponseReturnValue:
    return _page([WORKSPACE], "/workspaces")


# -- webhooks ----------------------------------------------------------------------------------


def _hook_view(hook: dict[str, Any]) -> dict[str, Any]:
    # The spec types the *_at fields as non-nullable strings: leave out the ones not yet set.
    return {k: v for k, v in hook.items() if k != "secret" and v is not None}


@blueprint.post(f"{API}/webhooks")
def create_webhook() -> ResponseReturnValue:
    data = (request.get_json(silent=True) or {}).get("data")
    if not isinstance(data, dict) or not data.get("resource") or not data.get("target"):
        return errors(400, "resource and target are required")
    resource_gid = str(data["resource"])
    with control.LOCK:
        resource = _projects.get(resource_gid) or _tasks.get(resource_gid)
        if resource is None and resource_gid == WORKSPACE["gid"]:
            resource = WORKSPACE
    if resource is None:
        return errors(404, f"resource: Unknown object: {resource_gid}")
    if resource is WORKSPACE and not data.get("filters"):
        return errors(400, "Webhooks on a workspace must have filters")
    # While this request is open the target must echo the secret (CONTRACTS.md §5.1).
    secret, why = hooks.handshake(str(data["target"]))
    if secret is None:
        return errors(400, why)
    hook = {
        "gid": _gid(),
        "resource_type": "webhook",
        "active": True,
        "resource": _compact(resource),
        "target": str(data["target"]),
        "created_at": _stamp(datetime.now(UTC)),
        "last_success_at": None,
        "last_failure_at": None,
        "last_failure_content": "",
        "delivery_retry_count": 0,
        "next_attempt_after": None,
        "failure_deletion_timestamp": None,
        "filters": data.get("filters") or [],
        "secret": secret,
    }
    hooks.register(hook)
    control.record_write("asana", f"webhook:{hook['gid']}")
    return jsonify({"data": _hook_view(hook), "X-Hook-Secret": secret}), 201


@blueprint.get(f"{API}/webhooks")
def list_webhooks() -> ResponseReturnValue:
    resource = request.args.get("resource")
    with hooks._lock:
        items = [_hook_view(h) for h in hooks.HOOKS.values() if resource in (None, h["resource"]["gid"])]
    return _page(items, "/webhooks")


@blueprint.delete(f"{API}/webhooks/<webhook_gid>")
def delete_webhook(webhook_gid: str) -> ResponseReturnValue:
    with hooks._lock:
        if hooks.HOOKS.pop(webhook_gid, None) is None:
            return errors(404, f"webhook: Unknown object: {webhook_gid}")
    return jsonify(data={})


# -- sandbox controls --------------------------------------------------------------------------


@blueprint.post("/_sandbox/tasks/<task_gid>/complete")
def complete(task_gid: str) -> ResponseReturnValue:
    """Complete a task (as a user would in Asana) and deliver the events; answers with the logs."""
    with control.LOCK:
        found = _tasks.get(task_gid)
        if found is None:
            return errors(404, f"task: Unknown object: {task_gid}")
        changed = _apply(found, {"completed": True})
    assert isinstance(changed, list)
    return jsonify(deliveries=_announce(found, changed, wait=True))


@blueprint.post("/_sandbox/config")
def config() -> ResponseReturnValue:
    """``{"heartbeat_delay_s"?: float|null, "heartbeat_interval_s"?, "retries"?, "retry_delay_s"?}``."""
    body = request.get_json(force=True, silent=True) or {}
    with hooks._lock:
        hooks.CONFIG.update({k: body[k] for k in hooks.DEFAULTS if k in body})
    return jsonify(hooks.CONFIG)
