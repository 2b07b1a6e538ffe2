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
