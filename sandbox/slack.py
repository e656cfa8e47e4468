"""A Slack incoming-webhook emulator (served under /slack): where ``make run``'s alerts can go.

- ``POST /slack/services/<team>/<bot>/<token>`` with a JSON message (``text`` and/or ``blocks``)
  answers ``200 ok`` as Slack does, ``400 invalid_payload`` for a body that is not a JSON
  object and ``400 no_text`` without ``text`` or ``blocks``. Each message is kept (the last 200)
  and logged, so a developer sees alerts arrive in the ``make run`` output.
- ``GET /slack/messages`` lists the kept messages (newest last), with the path they were sent to.
Faults from ``/_sandbox/faults`` (vendor ``slack``) apply, to watch a broken channel retried.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from typing import Any

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from sandbox import control

KEEP = 200
log = logging.getLogger("zixly.sandbox.slack")
blueprint = Blueprint("slack", __name__, url_prefix="/slack")
control.install_controls(blueprint, "slack")

_lock = threading.Lock()
_messages: deque[dict[str, Any]] = deque(maxlen=KEEP)


def reset() -> None:
    with _lock:
        _messages.clear()


@blueprint.post("/services/<team>/<bot>/<token>")
def incoming_webhook(team: str, bot: str, token: str) -> ResponseReturnValue:
    try:
        body = json.loads(request.get_data())
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return Response("invalid_payload", status=400, mimetype="text/plain")
    if not body.get("text") and not body.get("blocks"):
        return Response("no_text", status=400, mimetype="text/plain")
    with _lock:
        _messages.append({"path": f"/services/{team}/{bot}/{token}", "message": body})
    log.info("slack message to %s: %s", team, body.get("text", "(blocks only)"))
    return Response("ok", status=200, mimetype="text/plain")


@blueprint.get("/messages")
def messages() -> ResponseReturnValue:
    with _lock:
        return jsonify(list(_messages))
