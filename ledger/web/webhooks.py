"""``POST /webhooks/magic-hour``: upstream says a project changed; poll it now.

The body only names the project. What the job is charged always comes from a GET of the project,
never from the webhook body.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from ledger.errors import InvalidInput, NotFound, Unauthorized

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
    project_id = project_id_of(request.get_data(cache=False))
    found = services.reconciler.poll_now(project_id)
    if found is None:
        return jsonify({"project": project_id, "job": None, "outcome": "not a ledger job"})
    job_id, outcome = found
    return jsonify({"project": project_id, "job": job_id, "outcome": outcome})


def project_id_of(raw: bytes) -> str:
    """The project a webhook names: ``payload.id``, ``data.id``, ``project_id`` or ``id``."""
    try:
        document: Any = json.loads(raw)
    except ValueError:
        raise InvalidInput("the webhook body must be JSON") from None
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
