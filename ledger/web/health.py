"""Liveness and readiness."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy.exc import SQLAlchemyError

from ledger import db
from ledger.scheduler import heartbeat_window, scheduler_alive

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> Response:
    """The process is alive and serving."""
    return jsonify({"status": "ok"})


@blueprint.get("/readyz")
def readyz() -> Response:
    """Ready for traffic: the database answers and is at the newest migration, and a
    reconciliation scheduler (on this host or another) has beaten recently."""
    services = current_app.extensions["ledger"]
    checks: dict[str, str] = {}
    try:
        current = db.current_revision(services.database.engine)
        head = db.head_revision()
        checks["database"] = "ok"
        checks["migrations"] = "ok" if current == head else f"at {current}, newest is {head}"
        window = heartbeat_window(services.settings)
        alive = scheduler_alive(services.database, window)
        checks["scheduler"] = "ok" if alive else f"no heartbeat in {window.total_seconds():g}s"
    except SQLAlchemyError:
        checks["database"] = "unreachable"
    ready = all(value == "ok" for value in checks.values())
    response = jsonify({"status": "ready" if ready else "not ready", "checks": checks})
    response.status_code = 200 if ready else 503
    return response
