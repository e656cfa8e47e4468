"""The Asana emulator's webhooks: the X-Hook-Secret handshake, signed events, heartbeats.

Asana's webhooks guide: the handshake runs synchronously inside ``POST /webhooks`` (the target
must echo ``X-Hook-Secret`` with 200/204); events are ``{"events": [...]}`` signed with the
webhook's secret as lowercase hex HMAC-SHA256 in ``X-Hook-Signature``; a heartbeat
(``{"events": []}``) follows the handshake and repeats every ``heartbeat_interval_s``. A
webhook whose deliveries keep failing for ``failure_deletion_s`` (Asana: 24 hours) is deleted.
Events propagate upwards: a webhook on a project hears its tasks' events.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from sandbox.vendor_signing import asana_webhooks as webhooks
from sandbox.webhook_sender import deliver

CONFIG: dict[str, float | None] = {}
DEFAULTS: dict[str, float | None] = {
    "heartbeat_delay_s": 1.0,
    "heartbeat_interval_s": 8 * 3600.0,
    "retry_delay_s": 0.2,
    "retries": 3,
    "failure_deletion_s": 24 * 3600.0,
}
HOOKS: dict[str, dict[str, Any]] = {}
_timers: list[threading.Timer] = []
_lock = threading.RLock()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def reset() -> None:
    with _lock:
        for timer in _timers:
            timer.cancel()
        _timers.clear()
        HOOKS.clear()
        CONFIG.clear()
        CONFIG.update(DEFAULTS)


def handshake(target: str) -> tuple[str | None, str]:
    """POST the handshake to ``target``; returns (secret, "") or (None, why it failed)."""
    secret = secrets.token_hex(32)
    try:
        answer = httpx.post(
            target, content=b"", headers={webhooks.HEADER_SECRET: secret}, timeout=10.0, trust_env=False
        )
    except httpx.HTTPError as exc:
        return None, f"The remote server could not be reached ({type(exc).__name__})."
    if answer.status_code not in (200, 204) or answer.headers.get(webhooks.HEADER_SECRET) != secret:
        return None, "The remote server did not respond with the handshake secret."
    return secret, ""


def register(hook: dict[str, Any]) -> None:
    with _lock:
        HOOKS[hook["gid"]] = hook
        delay = CONFIG.get("heartbeat_delay_s")
        if delay is not None:
            _schedule(hook["gid"], float(delay))


def _schedule(gid: str, delay: float) -> None:
    timer = threading.Timer(delay, _heartbeat, args=(gid,))
    timer.daemon = True
    _timers.append(timer)
    timer.start()


def _heartbeat(gid: str) -> None:
    with _lock:
        hook = HOOKS.get(gid)
    if hook is None:
        return
    send(hook, [])
    interval = CONFIG.get("heartbeat_interval_s")
    if interval:
        with _lock:
            if gid in HOOKS:
                _schedule(gid, float(interval))


def send(hook: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    """Deliver ``events`` to one webhook, signed with its secret; records success/failure."""
    body = json.dumps({"events": events}, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", webhooks.HEADER_SIGNATURE: webhooks.signature(hook["secret"], body)}
    log: dict[str, Any] = deliver(
        hook["target"],
        lambda _attempt: (body, headers),
        retries=int(CONFIG.get("retries") or 0),
        delay_s=float(CONFIG.get("retry_delay_s") or 0.0),
    )
    with _lock:
        if log["delivered"]:
            hook["last_success_at"] = now_iso()
            hook["delivery_retry_count"] = 0
            hook.pop("_failing_since", None)
        else:
            hook["last_failure_at"] = now_iso()
            hook["last_failure_content"] = str(log["attempts"][-1])
            hook["delivery_retry_count"] = len(log["attempts"])
            since = hook.setdefault("_failing_since", time.monotonic())
            window = CONFIG.get("failure_deletion_s")
            if window is not None and time.monotonic() - since >= float(window):
                give_up(hook["gid"])
    return log


def give_up(gid: str) -> bool:
    """Delete a webhook as Asana does when its deliveries have failed for too long."""
    with _lock:
        return HOOKS.pop(gid, None) is not None


def _matches(hook: dict[str, Any], event: dict[str, Any], containers: set[str]) -> bool:
    if hook["resource"]["gid"] not in containers:
        return False
    filters = hook.get("filters") or []
    if not filters:
        return True
    change = event.get("change") or {}
    for flt in filters:
        if flt.get("resource_type") not in (None, event["resource"]["resource_type"]):
            continue
        if flt.get("action") not in (None, event["action"]):
            continue
        if flt.get("fields") and change.get("field") not in flt["fields"]:
            continue
        return True
    return False


def publish(events: list[dict[str, Any]], containers: set[str], *, wait: bool = False) -> list[dict[str, Any]]:
    """Send ``events`` to every webhook on one of ``containers`` (the task and its projects).

    Asynchronous like Asana (a background thread) unless ``wait``; then the logs are returned.
    """
    with _lock:
        targets = [(hook, [e for e in events if _matches(hook, e, containers)]) for hook in HOOKS.values()]
    targets = [(hook, matched) for hook, matched in targets if matched]
    if wait:
        return [send(hook, matched) for hook, matched in targets]
    for hook, matched in targets:
        threading.Thread(target=send, args=(hook, matched), daemon=True).start()
    return []


def event(
    resource: dict[str, Any],
    action: str,
    user_gid: str,
    *,
    field: str | None = None,
    parent: dict[str, Any] | None = None,
    new_value: Any = None,
) -> dict[str, Any]:
    """A compact EventResponse as Asana delivers it (user, resource, action, parent, change)."""
    item: dict[str, Any] = {
        "user": {"gid": user_gid, "resource_type": "user"},
        "created_at": now_iso(),
        "action": action,
        "resource": {
            "gid": resource["gid"],
            "resource_type": resource["resource_type"],
            "resource_subtype": resource.get("resource_subtype", "default_task"),
        },
        "parent": None if parent is None else {"gid": parent["gid"], "resource_type": parent["resource_type"]},
    }
    if action == "changed" and field is not None:
        change: dict[str, Any] = {"field": field, "action": "changed"}
        if isinstance(new_value, dict) and "gid" in new_value:
            change["new_value"] = {"gid": new_value["gid"], "resource_type": new_value.get("resource_type")}
        item["change"] = change
    return item
