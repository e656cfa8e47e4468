"""The Asana emulator (served under /asana), per Asana's API reference and its OpenAPI document.

API under ``/asana/api/1.0``: tasks (create, read, update, list by project and
``modified_since``), projects, workspaces, users (``/users/me``), webhooks (with the handshake, see
:mod:`sandbox.asana.hooks`). ``{"data": …}`` envelopes, ``opt_fields``,
``offset`` paging, 429 + ``Retry-After`` past 150 calls a minute per token. OAuth under
``/asana/-/oauth_authorize|oauth_token|oauth_revoke``. Personal access tokens (``2/…``) work too.
Sandbox controls: ``POST /asana/_sandbox/tasks/<gid>/complete`` (sends the events and answers
with the delivery logs), ``POST /asana/_sandbox/config`` (heartbeat, retry timing and the
failure window after which a webhook is deleted), ``POST /asana/_sandbox/webhooks/<gid>/fail``
(Asana deletes the webhook now, as after that window).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from sandbox import control
from sandbox import errors as error_shapes
from sandbox.asana import hooks, store, views
from sandbox.asana.views import API, errors
from sandbox.oauth_server import OAuthServer, register_oauth_routes

blueprint = Blueprint("asana", __name__, url_prefix="/asana")

_PAT = re.compile(r"^[012]/\d+(/\d+)?:[0-9a-f]+$")

control.set_default_budgets("asana", [("minute", 150, 60.0)])
OAUTH = OAuthServer(
    "asana",
    access_ttl=3600,
    rotate_refresh=False,  # Asana refresh tokens are long-lived
    orgs=lambda: [store.WORKSPACE["gid"]],
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
error_shapes.install(blueprint, errors)


# -- tasks -------------------------------------------------------------------------------------


@blueprint.get(f"{API}/tasks")
def list_tasks() -> ResponseReturnValue:
    project = request.args.get("project")
    if project is None and not (request.args.get("assignee") and request.args.get("workspace")):
        return errors(400, "Must specify exactly one of project, tag, section, user task list, or assignee + workspace")
    with control.LOCK:
        if project is not None and project not in store.projects:
            return errors(404, f"project: Unknown object: {project}")
        tasks = [
            t
            for t in store.tasks.values()
            if (project is None or any(p["gid"] == project for p in t["projects"]))
            and (request.args.get("assignee") in (None, (t["assignee"] or {}).get("gid")))
        ]
        return views.page(views.task_filter(tasks), "/tasks")


@blueprint.get(f"{API}/projects/<project_gid>/tasks")
def project_tasks(project_gid: str) -> ResponseReturnValue:
    with control.LOCK:
        if project_gid not in store.projects:
            return errors(404, f"project: Unknown object: {project_gid}")
        tasks = [t for t in store.tasks.values() if any(p["gid"] == project_gid for p in t["projects"])]
        return views.page(views.task_filter(tasks), f"/projects/{project_gid}/tasks")


def _user(ref: object) -> dict[str, Any] | str | None:
    """The user an ``assignee`` value names (gid, email or "me"), None to unassign, or an error."""
    if ref is None:
        return None
    text = str(ref)
    if text == "me":
        return store.users["1201000000000101"]
    found = store.users.get(text) or next((u for u in store.users.values() if u["email"] == text), None)
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
        unknown = [p for p in projects if p not in store.projects]
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
        task = store.new_task({**data, "assignee": assignee["gid"] if assignee else None}, projects)
        answer = views.view(task, views.opt_fields(), compact=False)
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
        found = store.tasks.get(task_gid)
        if found is None:
            return errors(404, f"task: Unknown object: {task_gid}")
        if request.method == "GET":
            return jsonify(data=views.view(found, views.opt_fields(), compact=False))
        data = (request.get_json(silent=True) or {}).get("data")
        if not isinstance(data, dict):
            return errors(400, "data: Missing input")
        changed = _apply(found, data)
        if isinstance(changed, Response):
            return changed
        answer = views.view(found, views.opt_fields(), compact=False)
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
        task["completed_at"] = store.stamp(datetime.now(UTC)) if task["completed"] else None
    if changed:
        task["modified_at"] = store.stamp(datetime.now(UTC))
    return changed


def _announce(task: dict[str, Any], fields: list[str], *, wait: bool = False) -> list[dict[str, Any]]:
    events = [hooks.event(task, "changed", _grant_user(), field=f, new_value=task.get(f)) for f in fields]
    return hooks.publish(events, {task["gid"], *(p["gid"] for p in task["projects"])}, wait=wait)


# -- users -------------------------------------------------------------------------------------


def _token_user() -> str:
    """The user a token acts for: the one a personal access token names, else the OAuth user."""
    token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if _PAT.match(token) and token.split("/")[1] in store.users:
        return token.split("/")[1]
    return _grant_user()


@blueprint.get(f"{API}/users/<user_gid>")
def get_user(user_gid: str) -> ResponseReturnValue:
    """A user by gid, email or ``me`` (the token's user), with the workspaces it belongs to."""
    with control.LOCK:
        wanted = _token_user() if user_gid == "me" else user_gid
        found = store.users.get(wanted) or next((u for u in store.users.values() if u["email"] == wanted), None)
        if found is None:
            return errors(404, f"user: Unknown object: {user_gid}")
        user = {**found, "photo": None, "workspaces": [store.compact(store.WORKSPACE)]}
        fields = views.opt_fields()
        return jsonify(data=user if fields is None else views.view(user, fields, compact=False))


# -- projects, workspaces ------------------------------------------------------------------------


@blueprint.get(f"{API}/projects")
def list_projects() -> ResponseReturnValue:
    workspace = request.args.get("workspace")
    archived = request.args.get("archived")
    with control.LOCK:
        items = [
            p
            for p in store.projects.values()
            if workspace in (None, store.WORKSPACE["gid"])
            and (archived is None or str(p["archived"]).lower() == archived)
        ]
        return views.page(items, "/projects")


@blueprint.get(f"{API}/projects/<project_gid>")
def get_project(project_gid: str) -> ResponseReturnValue:
    with control.LOCK:
        found = store.projects.get(project_gid)
        if found is None:
            return errors(404, f"project: Unknown object: {project_gid}")
        return jsonify(data=views.view(found, views.opt_fields(), compact=False))


@blueprint.get(f"{API}/workspaces")
def list_workspaces() -> ResponseReturnValue:
    return views.page([store.WORKSPACE], "/workspaces")


# -- webhooks ----------------------------------------------------------------------------------


def _hook_view(hook: dict[str, Any]) -> dict[str, Any]:
    # The spec types the *_at fields as non-nullable strings: leave out the ones not yet set.
    return {k: v for k, v in hook.items() if k != "secret" and not k.startswith("_") and v is not None}


@blueprint.post(f"{API}/webhooks")
def create_webhook() -> ResponseReturnValue:
    data = (request.get_json(silent=True) or {}).get("data")
    if not isinstance(data, dict) or not data.get("resource") or not data.get("target"):
        return errors(400, "resource and target are required")
    resource_gid = str(data["resource"])
    with control.LOCK:
        resource = store.projects.get(resource_gid) or store.tasks.get(resource_gid)
        if resource is None and resource_gid == store.WORKSPACE["gid"]:
            resource = store.WORKSPACE
    if resource is None:
        return errors(404, f"resource: Unknown object: {resource_gid}")
    if resource is store.WORKSPACE and not data.get("filters"):
        return errors(400, "Webhooks on a workspace must have filters")
    # While this request is open the target must echo the secret (Asana's webhooks guide).
    secret, why = hooks.handshake(str(data["target"]))
    if secret is None:
        return errors(400, why)
    hook = {
        "gid": store.new_gid(),
        "resource_type": "webhook",
        "active": True,
        "resource": store.compact(resource),
        "target": str(data["target"]),
        "created_at": store.stamp(datetime.now(UTC)),
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
    return views.page(items, "/webhooks")


@blueprint.get(f"{API}/webhooks/<webhook_gid>")
def get_webhook(webhook_gid: str) -> ResponseReturnValue:
    with hooks._lock:
        hook = hooks.HOOKS.get(webhook_gid)
        view = _hook_view(hook) if hook is not None else None
    if view is None:
        return errors(404, f"webhook: Unknown object: {webhook_gid}")
    return jsonify(data=view)


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
        found = store.tasks.get(task_gid)
        if found is None:
            return errors(404, f"task: Unknown object: {task_gid}")
        changed = _apply(found, {"completed": True})
    assert isinstance(changed, list)
    return jsonify(deliveries=_announce(found, changed, wait=True))


@blueprint.post("/_sandbox/webhooks/<webhook_gid>/fail")
def fail_webhook(webhook_gid: str) -> ResponseReturnValue:
    """Asana gives up on the webhook, as after 24 h of failed deliveries: it is deleted."""
    if not hooks.give_up(webhook_gid):
        return errors(404, f"webhook: Unknown object: {webhook_gid}")
    return jsonify(deleted=webhook_gid)


@blueprint.post("/_sandbox/config")
def config() -> ResponseReturnValue:
    """``{"heartbeat_delay_s"?: float|null, "heartbeat_interval_s"?, "retries"?, "retry_delay_s"?}``."""
    body = request.get_json(force=True, silent=True) or {}
    with hooks._lock:
        hooks.CONFIG.update({k: body[k] for k in hooks.DEFAULTS if k in body})
    return jsonify(hooks.CONFIG)
