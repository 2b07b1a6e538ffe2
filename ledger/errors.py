"""Domain errors. Each carries the stable ``code`` of the JSON error shape; the web layer maps
codes to HTTP statuses and the CLI to exit codes, in one place each."""

from __future__ import annotations

from typing import Any


class LedgerError(Exception):
    code = "invalid_request"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidInput(LedgerError):
    code = "invalid_request"


class NotFound(LedgerError):
    code = "not_found"


class Conflict(LedgerError):
    code = "conflict"


class HoldEnded(Conflict):
    """The job's hold has already been settled or released; nothing was changed."""


class BudgetExceeded(LedgerError):
    code = "budget_exceeded"

    def __init__(self, message: str, *, team: str, estimated_credits: int, available_credits: int):
        super().__init__(
            message,
            team=team,
            estimated_credits=estimated_credits,
            available_credits=available_credits,
        )


class Unauthorized(LedgerError):
    code = "unauthorized"


class Forbidden(LedgerError):
    code = "forbidden"


class NotProxied(LedgerError):
    """A path under /v1/ that the proxy does not forward (no unpriced call reaches upstream)."""

    code = "not_proxied"


class Unavailable(LedgerError):
    """The database cannot be reached; nothing was sent upstream."""

    code = "unavailable"


class UpstreamError(LedgerError):
    """Upstream could not be reached; the request was not sent and the hold was released."""

    code = "upstream_error"


class UpstreamCreditsExhausted(LedgerError):
    """Magic Hour refused a create with 402: the company's Magic Hour account (not the team's
    budget) is out of credits. Nothing was charged; the hold was released."""

    code = "upstream_credits_exhausted"


class UpstreamOutcomeUnknown(LedgerError):
    """The request was sent but no answer came back; the hold is kept until the job is found."""

    code = "upstream_unknown"


def whole_number(value: Any) -> int | None:
    """``value`` as an int if it is a whole number (JSON's ``5`` or ``5.0``), else None.
    Booleans are not numbers, whatever Python thinks."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:
        return int(value)
    return None
