"""``POST /webhooks/magic-hour``: Magic Hour's own webhook calls, exactly as it sends them.

The signature is checked on the raw body before anything is parsed (401, nothing done, if it is
missing, wrong or stale); a verified call is kept in the inbox (:mod:`ledger.webhooks.inbox`) and
answered at once. What it means for money (a settlement, bypass spend, a relay to the team) is
worked out after the answer, from the inbox, by the reconciliation scheduler: a restart in between
loses nothing, and Magic Hour's repeats of one event are processed once.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from ledger.errors import NotFound
from ledger.webhooks import inbox
from ledger.webhooks.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify

blueprint = Blueprint("webhooks", __name__)


@blueprint.post("/webhooks/magic-hour")
def magic_hour_webhook() -> Response:
    services = current_app.extensions["ledger"]
    secret = services.settings.webhook_secret
    if not secret:
        raise NotFound("webhooks are not enabled (LEDGER_WEBHOOK_SECRET is not set)")
    body = request.get_data(cache=False)
    verify(
        secret,
        request.headers.get(TIMESTAMP_HEADER),
        request.headers.get(SIGNATURE_HEADER),
        body,
    )
    event, new = inbox.receive(services.database, body)
    return jsonify(
        {
            "event": event.event_type,
            "project": event.project_id,
            "outcome": "received" if new else "duplicate: already received",
        }
    )
