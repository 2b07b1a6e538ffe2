"""One error shape everywhere: ``{"error": {"code", "message", ...}}``, never HTML or a trace.

Domain errors carry their code; this is the one place that maps codes to HTTP statuses.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, g, jsonify
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from ledger.errors import LedgerError

log = logging.getLogger("ledger.web")

STATUS_OF_CODE = {
    "invalid_request": 422,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "not_proxied": 404,
    "method_not_allowed": 405,
    "conflict": 409,
    "budget_exceeded": 402,
    "payload_too_large": 413,
    "upstream_error": 502,
    "unavailable": 503,
    # The company's Magic Hour account, not the team's budget (that is 402 budget_exceeded).
    "upstream_credits_exhausted": 503,
    "upstream_unknown": 504,
    "internal": 500,
}
CODE_OF_HTTP_STATUS = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    414: "invalid_request",
    415: "invalid_request",
    422: "invalid_request",
    431: "invalid_request",
}


def error_response(
    code: str, message: str, status: int | None = None, **details: object
) -> Response:
    response = jsonify({"error": {"code": code, "message": message, **details}})
    response.status_code = status or STATUS_OF_CODE.get(code, 500)
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(LedgerError)
    def domain_error(error: LedgerError) -> Response:
        g.error = error  # for the access log
        return error_response(error.code, error.message, **error.details)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        code = CODE_OF_HTTP_STATUS.get(status, "invalid_request" if status < 500 else "internal")
        message = error.description or error.name
        if status == 413:
            message = "the request body is too large"
        response = error_response(code, message, status)
        if status == 405 and hasattr(error, "valid_methods") and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @app.errorhandler(OperationalError)
    @app.errorhandler(PoolTimeout)
    def database_unavailable(error: Exception) -> Response:
        log.error("database unavailable: %s", _first_line(error))
        return error_response("unavailable", "the ledger database is unavailable; try again")

    @app.errorhandler(DataError)
    def value_refused(error: DataError) -> Response:
        # The database refused a value we passed on from the request (a NUL byte in text, a
        # number out of range): the request was bad, and nothing was written.
        log.info("database refused a value: %s", _first_line(error))
        return error_response("invalid_request", "a value in the request is not valid here")

    @app.errorhandler(DBAPIError)
    def database_error(error: DBAPIError) -> Response:
        if error.connection_invalidated:
            return database_unavailable(error)
        log.exception("database error")
        return error_response("internal", "internal error")

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        log.exception("unhandled error")
        return error_response("internal", "internal error")


def _first_line(error: Exception) -> str:
    orig = getattr(error, "orig", None) or error
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
