"""What a message says, per channel kind: Slack Block Kit, email (text + HTML), webhook JSON.

Every renderer reads the same payload (``db.alerts.groups.make_message``): event, state
(firing, resolved or test), title, detail, count, tenants (name → count) and times.
"""

from __future__ import annotations

import html
from typing import Any

EVENT_LABELS = {
    "job_failed": "Jobs failed",
    "workflow_failing": "Workflow failing",
    "connection_broken": "Connection broken",
    "connection_expiring": "Connection expiring",
    "sync_stale": "Sync stale",
    "queue_backlog": "Queue backlog",
    "test": "Test",
}
ICONS = {"firing": "\N{LARGE RED CIRCLE}", "resolved": "\N{WHITE HEAVY CHECK MARK}", "test": "\N{BELL}"}
SLACK_HEADER_MAX = 150  # Block Kit: a header's plain_text is at most 150 characters
SLACK_TEXT_MAX = 3000  # a section's text
SLACK_FIELD_MAX = 2000  # each section field


def headline(p: dict[str, Any]) -> str:
    state = p.get("state", "firing")
    if state == "test":
        return str(p["title"])
    label = EVENT_LABELS.get(p["event"], p["event"])
    if state == "resolved":
        return f"Resolved: {label}: {p['title']}"
    if p["event"] == "job_failed":
        return f"{label} ({p['count']}): {p['title']}"
    return f"{label}: {p['title']}"


def facts(p: dict[str, Any]) -> list[tuple[str, str]]:
    """The message's labelled facts, in order (shared by every renderer)."""
    rows: list[tuple[str, str]] = []
    tenants: dict[str, int] = p.get("tenants") or {}
    if p["event"] == "job_failed":
        rows.append(("Failures", str(p["count"])))
    if tenants:
        shown = ", ".join(
            f"{name} ({n})" if p["event"] == "job_failed" else name for name, n in list(tenants.items())[:20]
        )
        more = f" and {len(tenants) - 20} more" if len(tenants) > 20 else ""
        rows.append((f"Tenants affected ({len(tenants)})", shown + more))
    if p.get("job_type"):
        rows.append(("Job type", str(p["job_type"])))
    if p.get("sample_job_id"):
        rows.append(("Sample job", f"#{p['sample_job_id']}"))
    if p.get("first_seen"):
        rows.append(("First seen", str(p["first_seen"])))
    if p.get("state") == "resolved" and p.get("resolved_at"):
        rows.append(("Resolved at", str(p["resolved_at"])))
    elif p.get("last_seen"):
        rows.append(("Last seen", str(p["last_seen"])))
    return rows


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\N{HORIZONTAL ELLIPSIS}"


def slack(p: dict[str, Any]) -> dict[str, Any]:
    """An incoming-webhook message: ``text`` (notifications' fallback) plus Block Kit ``blocks``."""
    state = p.get("state", "firing")
    title = _cut(f"{ICONS.get(state, '')} {headline(p)}".strip(), SLACK_HEADER_MAX)
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": title}}]
    if p.get("detail"):
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": _cut(f"```{p['detail']}```", SLACK_TEXT_MAX)}}
        )
    fields = [{"type": "mrkdwn", "text": _cut(f"*{k}*\n{v}", SLACK_FIELD_MAX)} for k, v in facts(p)[:10]]
    if fields:
        blocks.append({"type": "section", "fields": fields})
    context = f"Zixly alert · {p['event']}" + (f" · group #{p['group_id']}" if p.get("group_id") else "")
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    return {"text": _cut(headline(p), SLACK_TEXT_MAX), "blocks": blocks}


def email(p: dict[str, Any]) -> tuple[str, str, str]:
    """Subject, plain text and HTML of an email alert."""
    state = p.get("state", "firing")
    subject = f"[Zixly] {state.upper()}: {headline(p)}"[:200]
    lines = [headline(p), ""] + [f"{k}: {v}" for k, v in facts(p)]
    if p.get("detail"):
        lines += ["", "Error:", str(p["detail"])]
    text_body = "\n".join(lines) + "\n"
    rows = "".join(f"<tr><th align='left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in facts(p))
    detail = f"<pre>{html.escape(str(p['detail']))}</pre>" if p.get("detail") else ""
    html_body = (
        f"<html><body><h2>{html.escape(headline(p))}</h2><table>{rows}</table>{detail}"
        f"<p style='color:#757575'>Zixly alert · {html.escape(str(p['event']))}</p></body></html>"
    )
    return subject, text_body, html_body


def webhook(p: dict[str, Any]) -> dict[str, Any]:
    """The JSON a webhook receiver gets (Standard Webhooks' ``type``/``timestamp``/``data`` shape)."""
    return {"type": f"alert.{p['event']}.{p.get('state', 'firing')}", "timestamp": p.get("at"), "data": p}
