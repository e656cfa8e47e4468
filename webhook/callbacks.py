"""``POST /webhook/callbacks/<token>``: an external system reports that the work a job started is done.

The token in the URL was made for one wait of one job (``ctx.wait_for_callback``) and is
stored only hashed. The body (JSON, at most ``callback_max_bytes``) is stored on the wait and
the job is queued again, exactly once: a repeated delivery answers 200 ``{"duplicate": true}``
and changes nothing. An unknown or expired token (or one whose job ended) answers 404. A wait
opened with ``signed=True`` also gave the external system a secret: its deliveries must carry
``X-Zixly-Signature: sha256=<hex HMAC-SHA256 of the raw body>``, or they are refused with 401.
"""

from __future__ import annotations

import hashlib
import hmac
import logging

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import Blueprint, Response, jsonify, request

from db.jobs import waits
from integrations.events import load_json
from webhook.body import read_body, require_json
from webhook.context import get_session, listener
from webhook.problems import Problem

log = logging.getLogger("webhook.callbacks")
bp = Blueprint("callbacks", __name__)

SIGNATURE_HEADER = "X-Zixly-Signature"
MAX_TOKEN = 128


def signature(secret: str, body: bytes) -> str:
    """The header value a signed callback carries."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _not_found() -> Problem:
    return Problem(404, "Not Found", "no open callback for this URL (unknown, expired or already ended)")


@bp.post("/webhook/callbacks/<token>")
def callback(token: str) -> Response:
    settings = listener().settings
    if len(token) > MAX_TOKEN:
        raise _not_found()
    body = read_body(settings.callback_max_bytes)  # 413 before anything is looked up
    session = get_session()
    wait = waits.by_token(session, token)
    if wait is None or wait.reason != "callback":
        raise _not_found()
    if wait.secret_ciphertext is not None:
        cipher = MultiFernet([Fernet(k) for k in settings.fernet_keys()])
        try:
            secret = cipher.decrypt(wait.secret_ciphertext.encode()).decode()
        except InvalidToken:
            log.error("callback secret of wait %d cannot be decrypted (rotated key?)", wait.id)
            raise Problem(401, "Unauthorized", "the callback's signature cannot be checked") from None
        given = request.headers.get(SIGNATURE_HEADER, "")
        if not hmac.compare_digest(given.encode(), signature(secret, body).encode()):
            raise Problem(401, "Unauthorized", f"missing or wrong {SIGNATURE_HEADER}")
    require_json()
    try:
        payload = load_json(body)
    except ValueError:
        raise Problem(400, "Bad Request", "the body is not valid JSON") from None
    if not isinstance(payload, dict):
        payload = {"value": payload}
    outcome = waits.deliver(session, token, payload)
    session.commit()
    if outcome == "unknown":
        raise _not_found()
    if outcome == "resumed":
        if (wakeup := listener().wakeup) is not None:
            wakeup.poke()
        log.info("callback received", extra={"job_id": wait.job_id})
    return jsonify(job_id=wait.job_id, duplicate=outcome == "duplicate")
