"""The Magic Hour compatible side: everything under ``/v1/``. Routes parse and delegate."""

from __future__ import annotations

import json
import logging
import time

from flask import Blueprint, Response, current_app, g, request

from ledger.errors import LedgerError, NotProxied
from ledger.proxy import PROJECT_KINDS, Caller, Proxy, Reply
from ledger.proxy_input import parse_flag
from ledger.telemetry import PROXY_REQUESTS

log = logging.getLogger("ledger.access")
blueprint = Blueprint("proxy", __name__, url_prefix="/v1")


def _proxy() -> Proxy:
    return current_app.extensions["ledger"].proxy  # type: ignore[no-any-return]


def _caller() -> Caller:
    caller = _proxy().authenticate(request.headers.get("Authorization"))
    g.caller = caller
    return caller


def _respond(reply: Reply) -> Response:
    response = Response(reply.body, status=reply.status)
    for name, value in reply.headers.items():
        response.headers[name] = value
    g.reply = reply
    if reply.caller is not None:
        g.caller = reply.caller
    return response


@blueprint.post("/<endpoint>")
def create(endpoint: str) -> Response:
    g.endpoint = endpoint
    authorization = request.headers.get("Authorization")
    try:
        dry_run = parse_flag(request.headers.get("X-Ledger-Dry-Run"), "X-Ledger-Dry-Run")
    except LedgerError:
        _proxy().authenticate(authorization)  # auth first: a stranger hears 401, not 422
        raise
    reply = _proxy().create(
        authorization,
        endpoint,
        request.get_data(cache=False),
        idempotency_key=request.headers.get("Idempotency-Key"),
        tags_header=request.headers.get("X-Ledger-Tags"),
        dry_run=dry_run,
    )
    return _respond(reply)


@blueprint.route("/<kind_projects>/<project_id>", methods=["GET", "DELETE"])
def project(kind_projects: str, project_id: str) -> Response:
    kind = kind_projects.removesuffix("-projects")
    if not kind_projects.endswith("-projects") or kind not in PROJECT_KINDS:
        _caller()  # a stranger hears 401 first
        raise NotProxied(f"/v1/{kind_projects}/... is not forwarded by ledger")
    g.endpoint = kind_projects
    owned = _proxy().project_of(request.headers.get("Authorization"), kind, project_id)
    g.caller = owned.caller
    return _respond(_proxy().project(owned, request.method, kind, project_id))


@blueprint.post("/files/upload-urls")
def upload_urls() -> Response:
    caller = _caller()
    g.endpoint = "files/upload-urls"
    return _respond(_proxy().upload_urls(caller, request.get_data(cache=False)))


@blueprint.post("/face-detection")
def face_detection() -> Response:
    caller = _caller()
    g.endpoint = "face-detection"
    return _respond(_proxy().face_detection(caller, request.get_data(cache=False)))


@blueprint.get("/face-detection/<detection_id>")
def face_detection_result(detection_id: str) -> Response:
    caller = _caller()
    g.endpoint = "face-detection"
    return _respond(_proxy().face_detection_result(caller, detection_id))


@blueprint.get("/account")
def account() -> Response:
    caller = _caller()
    g.endpoint = "account"
    return _respond(_proxy().account(caller))


@blueprint.route("/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def not_proxied(rest: str) -> Response:
    _caller()
    raise NotProxied(f"/v1/{rest} is not forwarded by ledger")


@blueprint.before_request
def _start_clock() -> None:
    g.started = time.perf_counter()


@blueprint.after_request
def _access_log(response: Response) -> Response:
    """One structured line per proxied call; never a secret (keys appear only as key ids)."""
    reply: Reply | None = g.get("reply")
    caller: Caller | None = g.get("caller")
    error = g.get("error")
    record = {
        "event": "proxy",
        "method": request.method,
        "path": request.path,
        "endpoint": g.get("endpoint"),
        "team": caller.team_slug if caller else (error.details.get("team") if error else None),
        "key": caller.id if caller else None,
        "job": reply.job_id if reply else (error.details.get("job_id") if error else None),
        "estimate": reply.estimate if reply else _estimate_of(error),
        "outcome": reply.outcome if reply else (error.code if error else "error"),
        "status": response.status_code,
        "latency_ms": round((time.perf_counter() - g.get("started", time.perf_counter())) * 1e3, 2),
    }
    log.info(json.dumps(record, separators=(",", ":")))
    PROXY_REQUESTS.labels(record["endpoint"] or "other", record["outcome"]).inc()
    return response


def _estimate_of(error: LedgerError | None) -> int | None:
    return error.details.get("estimated_credits") if error else None
