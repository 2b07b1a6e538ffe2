"""``POST /webhooks/magic-hour``: upstream says a project ended; poll it now.

The body only names the project (and the event). What the job is charged always comes from a GET
of the project, never from the webhook body. The answer comes at once (202) and the poll runs in
the background: a sender that posts events one at a time is not held up by our upstream call.
Events that are not an end (``*.started``) cost nothing: there is nothing to settle yet.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy import select

from ledger.errors import InvalidInput, NotFound, Unauthorized
from ledger.models import Job

blueprint = Blueprint("webhooks", __name__)


@blueprint.post("/webhooks/magic-hour")
def magic_hour_webhook() -> Response:
    services = current_app.extensions["ledger"]
    secret = services.settings.webhook_secret
    if not secret:
        raise NotFound("webhooks are not enabled (LEDGER_WEBHOOK_SECRET is not set)")
    given = request.headers.get("X-Ledger-Webhook-Secret", "")
    if not hmac.compare_digest(given.encode(), secret.encode()):
        raise Unauthorized("missing or wrong X-Ledger-Webhook-Secret")
    document = _json(request.get_data(cache=False))
    project_id = project_id_of(document)
    event = document.get("type") if isinstance(document, dict) else None
    if isinstance(event, str) and event.endswith(".started"):
        return jsonify({"project": project_id, "outcome": "ignored: not an end"})
    with services.database.read() as session:
        job_id = session.scalar(select(Job.id).where(Job.upstream_id == project_id))
    if job_id is None:
        return jsonify({"project": project_id, "job": None, "outcome": "not a ledger job"})
    services.reconciler.poll_soon(project_id)
    response = jsonify({"project": project_id, "job": job_id, "outcome": "poll queued"})
    response.status_code = 202
    return response


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        raise InvalidInput("the webhook body must be JSON") from None


def project_id_of(document: Any) -> str:
    """The project a webhook names: ``payload.id``, ``data.id``, ``project_id`` or ``id``."""
    candidates = []
    if isinstance(document, dict):
        for container in ("payload", "data", "project"):
            inner = document.get(container)
            if isinstance(inner, dict):
                candidates.append(inner.get("id"))
        candidates += [document.get("project_id"), document.get("id")]
    for candidate in candidates:
        if isinstance(candidate, str) and 0 < len(candidate) <= 128:
            return candidate
    raise InvalidInput("the webhook body names no project (payload.id, data.id or id)")
