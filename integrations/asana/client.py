"""Asana client: tasks (create, read, recently modified in a project), projects, webhooks.

``base_url`` is the API root: ``https://app.asana.com/api/1.0`` (or the sandbox's
``…/asana/api/1.0``). Payloads are wrapped in ``{"data": …}``; lists page with ``offset``.
Rate limits (https://developers.asana.com/docs/rate-limits): 429 with ``Retry-After``, which the base policy honours.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any, ClassVar

from integrations.asana.models import Project, Task, Webhook
from integrations.http import ApiClient

TASK_FIELDS = (
    "name,notes,completed,completed_at,due_on,due_at,assignee.name,projects.name,workspace.name,"
    "created_at,modified_at,permalink_url"
)
PROJECT_FIELDS = "name,archived,workspace.name,modified_at,permalink_url"


class AsanaClient(ApiClient):
    system: ClassVar[str] = "asana"
    default_headers: ClassVar[Mapping[str, str]] = {"Accept": "application/json"}

    def _data(self, method: str, path: str, path_params: Mapping[str, str] | None = None, **kwargs: Any) -> Any:
        return self.request(method, path, path_params=path_params, **kwargs).json()["data"]

    def _pages(
        self, path: str, params: dict[str, Any], path_params: Mapping[str, str] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Follow ``next_page.offset`` until Asana stops giving one."""
        params = {**params, "limit": params.get("limit", 100)}
        while True:
            body = self.request("GET", path, path_params=path_params, params=params).json()
            yield from body["data"]
            next_page = body.get("next_page")
            if not next_page or not next_page.get("offset"):
                return
            params = {**params, "offset": next_page["offset"]}

    # -- tasks ------------------------------------------------------------------------------
    def me(self, opt_fields: str) -> dict[str, Any]:
        """The user the token acts for, with ``opt_fields`` (e.g. ``workspaces.name``)."""
        body = self.request("GET", "/users/me", params={"opt_fields": opt_fields}).json()
        data: dict[str, Any] = body.get("data") or {}
        return data

    def create_task(
        self,
        project_gid: str,
        name: str,
        *,
        assignee: str | None = None,
        due_on: date | None = None,
        notes: str | None = None,
        workspace: str | None = None,
    ) -> Task:
        """Create a task in a project (the workspace is inferred from the project).

        ``assignee`` is a user gid, an email or ``"me"``. Not retried on failure: a repeated
        POST would create a second task (Asana has no idempotency key).
        """
        data: dict[str, Any] = {"name": name, "projects": [project_gid]}
        if assignee:
            data["assignee"] = assignee
        if due_on:
            data["due_on"] = due_on.isoformat()
        if notes is not None:
            data["notes"] = notes
        if workspace:
            data["workspace"] = workspace
        created = self._data("POST", "/tasks", json={"data": data}, params={"opt_fields": TASK_FIELDS})
        return Task.model_validate(created)

    def get_task(self, task_gid: str) -> Task:
        data = self._data("GET", "/tasks/{task_gid}", {"task_gid": task_gid}, params={"opt_fields": TASK_FIELDS})
        return Task.model_validate(data)

    def update_task(self, task_gid: str, changes: Mapping[str, Any]) -> Task:
        data = self._data(
            "PUT",
            "/tasks/{task_gid}",
            {"task_gid": task_gid},
            json={"data": dict(changes)},
            params={"opt_fields": TASK_FIELDS},
        )
        return Task.model_validate(data)

    def tasks_modified_since(self, project_gid: str, since: datetime, *, page_size: int = 100) -> Iterator[Task]:
        """Tasks of the project modified after ``since`` — the fallback poller Asana recommends,
        since webhook delivery is at-most-once."""
        params = {
            "project": project_gid,
            "modified_since": since.isoformat(),
            "limit": page_size,
            "opt_fields": TASK_FIELDS,
        }
        for item in self._pages("/tasks", params):
            yield Task.model_validate(item)

    # -- projects ---------------------------------------------------------------------------
    def get_project(self, project_gid: str) -> Project:
        data = self._data(
            "GET", "/projects/{project_gid}", {"project_gid": project_gid}, params={"opt_fields": PROJECT_FIELDS}
        )
        return Project.model_validate(data)

    def list_projects(self, workspace_gid: str, *, archived: bool = False) -> list[Project]:
        params = {"workspace": workspace_gid, "archived": str(archived).lower(), "opt_fields": PROJECT_FIELDS}
        return [Project.model_validate(p) for p in self._pages("/projects", params)]

    # -- webhooks ---------------------------------------------------------------------------
    def create_webhook(self, resource_gid: str, target: str, filters: Sequence[Mapping[str, Any]] = ()) -> Webhook:
        """Subscribe ``target`` to ``resource_gid``. Asana performs the X-Hook-Secret handshake
        with ``target`` before this call returns, so the receiver must already be serving."""
        data: dict[str, Any] = {"resource": resource_gid, "target": target}
        if filters:
            data["filters"] = [dict(f) for f in filters]
        body = self.request("POST", "/webhooks", json={"data": data}).json()
        return Webhook.model_validate({**body["data"], "secret": body.get("X-Hook-Secret")})

    def get_webhook(self, webhook_gid: str) -> Webhook:
        """The webhook as Asana sees it (``NotFound`` once Asana has deleted it)."""
        data = self._data("GET", "/webhooks/{webhook_gid}", {"webhook_gid": webhook_gid})
        return Webhook.model_validate(data)

    def delete_webhook(self, webhook_gid: str) -> None:
        self.request("DELETE", "/webhooks/{webhook_gid}", path_params={"webhook_gid": webhook_gid})
