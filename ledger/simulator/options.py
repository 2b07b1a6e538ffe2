"""How a simulator behaves: render times, prices, cost drift, job failures, faults, webhooks.

:class:`SimulatorOptions` is fixed when the app is made. :class:`Faults` can also be changed at
run time through ``PATCH /_simulator/faults``, so they are validated from plain mappings too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ledger.simulator.choices import MODEL_NAMES

FAULT_SCOPES = ("create", "get", "all")
ACCOUNT_TIERS = ("free", "creator", "pro", "business")
CREATE_CHARGES = ("published", "30fps")
MAX_START_CREDITS = 2**53  # charges and balances stay exact in a double and fit SQLite


class OptionsError(ValueError):
    """An option has a bad value; the message names it."""


def _check_rate(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and not isinstance(value, bool)):
        raise OptionsError(f"{name} must be a number from 0 to 1, got {value!r}")
    if not 0.0 <= value <= 1.0:
        raise OptionsError(f"{name} must be from 0 to 1, got {value!r}")


def _check_seconds(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and not isinstance(value, bool)):
        raise OptionsError(f"{name} must be a number of seconds, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise OptionsError(f"{name} must be a finite number >= 0, got {value!r}")


def _check_price_changes(changes: tuple[tuple[str, float], ...]) -> None:
    seen: set[str] = set()
    for entry in changes:
        if not (isinstance(entry, tuple) and len(entry) == 2):
            raise OptionsError(f"price_changes must hold (model, factor) pairs, got {entry!r}")
        model, factor = entry
        if model not in MODEL_NAMES:
            raise OptionsError(f"price change: unknown model {model!r}")
        if model in seen:
            raise OptionsError(f"price change: {model} is given twice")
        seen.add(model)
        if not (isinstance(factor, int | float) and not isinstance(factor, bool)):
            raise OptionsError(f"price change: {model}'s factor must be a number, got {factor!r}")
        if not (math.isfinite(factor) and factor > 0):
            raise OptionsError(f"price change: {model}'s factor must be > 0, got {factor!r}")


def parse_price_change(text: str) -> tuple[str, float]:
    """``MODEL=FACTOR`` (``kling-3.0=1.25``) as a checked ``price_changes`` entry."""
    model, sep, factor = text.partition("=")
    try:
        if not sep:
            raise ValueError
        value = float(factor)
    except ValueError:
        raise OptionsError(f"expected MODEL=FACTOR, got {text!r}") from None
    change = (model.strip(), value)
    _check_price_changes((change,))
    return change


@dataclass(frozen=True)
class Faults:
    """Injected failures of ``/v1/`` calls, each drawn independently per request, in this order:

    - ``rate_limit_rate``: 429 with ``Retry-After: retry_after``; nothing is created.
    - ``error_rate``: ``error_status`` (500 by default) with a JSON body; nothing is created.
    - ``drop_rate``: the call takes effect (a create makes and charges its job), then the
      connection is closed without any response, so the caller never learns the id.
    - ``timeout_rate``: the call takes effect, then the response is held ``timeout_seconds``
      (longer than any sane client timeout) before it is sent.
    - ``slow_rate``: the call takes effect and is answered after ``slow_seconds``.

    ``scope`` says which calls are affected: ``create`` (POST of a create endpoint), ``get``
    (project and face-detection GETs, and the account) or ``all`` (every ``/v1/`` call).
    """

    rate_limit_rate: float = 0.0
    retry_after: int = 1
    error_rate: float = 0.0
    error_status: int = 500
    drop_rate: float = 0.0
    timeout_rate: float = 0.0
    timeout_seconds: float = 120.0
    slow_rate: float = 0.0
    slow_seconds: float = 2.0
    scope: str = "create"

    def __post_init__(self) -> None:
        for name in ("rate_limit_rate", "error_rate", "drop_rate", "timeout_rate", "slow_rate"):
            _check_rate(name, getattr(self, name))
        _check_seconds("timeout_seconds", self.timeout_seconds)
        _check_seconds("slow_seconds", self.slow_seconds)
        if not isinstance(self.retry_after, int) or self.retry_after < 0:
            raise OptionsError(f"retry_after must be a whole number >= 0, got {self.retry_after!r}")
        if not isinstance(self.error_status, int) or not 400 <= self.error_status <= 599:
            raise OptionsError(f"error_status must be 400-599, got {self.error_status!r}")
        if self.scope not in FAULT_SCOPES:
            raise OptionsError(f"scope must be one of {', '.join(FAULT_SCOPES)}")

    def applies_to(self, call: str) -> bool:
        """``call`` is ``create``, ``get`` or ``other``."""
        return self.scope == "all" or self.scope == call

    def updated(self, changes: Mapping[str, Any]) -> Faults:
        """A copy with ``changes`` applied; unknown names raise :class:`OptionsError`."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise OptionsError(f"unknown fault option(s): {', '.join(unknown)}")
        return replace(self, **dict(changes))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SimulatorOptions:
    """Everything a simulator is made with. Times are in seconds of simulated time; the wall
    time is that times ``time_scale`` (0.01 makes a 10 s render take 0.1 s).

    A project stays ``queued`` for ``queue_seconds``, then ``rendering`` for
    ``render_base_seconds + render_seconds_per_second x clip seconds`` (images count 1 s per
    image), each stretched by a random factor within ``1 +/- jitter``.

    Prices are Magic Hour's published ones (``costs``). ``create_charge="30fps"`` makes the
    create response of image-to-video and text-to-video a 30 FPS estimate (1.25x for a 24 fps
    model), corrected to the published charge when the render ends. ``drift_rate`` of the
    lip-sync, image-to-video and text-to-video renders come out at one of ``drift_fps`` and are
    charged for it. ``price_changes`` multiply every charge of a job on that model (rounded up):
    Magic Hour raising a price that ledger's table still has at the old one.

    Webhooks go to ``webhook_url``, signed with ``webhook_secret`` as Magic Hour signs them (it
    always does, so a URL needs a secret). A delivery without a 2xx answer within
    ``webhook_timeout`` seconds of wall time is retried with backoff (see ``webhooks``).
    """

    token: str | None = field(default=None, repr=False)  # None: any bearer token is accepted
    start_credits: int = 1_000_000
    tier: str = "creator"
    time_scale: float = 1.0
    queue_seconds: float = 1.0
    render_base_seconds: float = 2.0
    render_seconds_per_second: float = 0.5
    jitter: float = 0.2
    job_error_rate: float = 0.0  # renders that fail: status error, credits refunded
    cancel_rate: float = 0.0  # renders canceled by hand mid-way: status canceled, refunded
    drift_rate: float = 0.0  # lip-sync, i2v and t2v renders whose output fps is one of drift_fps
    drift_fps: tuple[float, ...] = (24.0, 25.0)
    create_charge: str = "published"  # i2v/t2v create charge: published, or a 30 fps estimate
    price_changes: tuple[tuple[str, float], ...] = ()  # (model, factor): its charges x factor
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)  # signs every webhook
    webhook_timeout: float = 10.0  # wall seconds a delivery may take before it is retried
    faults: Faults = field(default_factory=Faults)
    # Wall seconds before every answer to a create / a GET of /v1/ (Magic Hour's own latency;
    # 0.3 and 0.1 are what the benchmarks use), before any fault's delay.
    create_latency: float = 0.0
    get_latency: float = 0.0
    seed: int | None = None
    state_path: Path | None = None  # SQLite file shared by workers; None: a private temp file
    public_url: str | None = None  # base of upload/download URLs; None: the request's host

    def __post_init__(self) -> None:
        if not isinstance(self.start_credits, int) or isinstance(self.start_credits, bool):
            raise OptionsError("start_credits must be a whole number")
        if not 0 <= self.start_credits <= MAX_START_CREDITS:
            raise OptionsError(f"start_credits must be from 0 to {MAX_START_CREDITS}")
        if self.tier not in ACCOUNT_TIERS:
            raise OptionsError(f"tier must be one of {', '.join(ACCOUNT_TIERS)}")
        if not (math.isfinite(self.time_scale) and self.time_scale > 0):
            raise OptionsError(f"time_scale must be > 0, got {self.time_scale!r}")
        for name in (
            "queue_seconds",
            "render_base_seconds",
            "render_seconds_per_second",
            "create_latency",
            "get_latency",
        ):
            _check_seconds(name, getattr(self, name))
        for name in ("jitter", "job_error_rate", "cancel_rate", "drift_rate"):
            _check_rate(name, getattr(self, name))
        if self.job_error_rate + self.cancel_rate > 1:
            raise OptionsError("job_error_rate + cancel_rate must be at most 1")
        if not self.drift_fps or any(not (0 < fps <= 240) for fps in self.drift_fps):
            raise OptionsError("drift_fps must list frame rates between 0 and 240")
        if self.create_charge not in CREATE_CHARGES:
            raise OptionsError(f"create_charge must be one of {', '.join(CREATE_CHARGES)}")
        _check_price_changes(self.price_changes)
        if self.webhook_url is not None and not self.webhook_url.startswith(
            ("http://", "https://")
        ):
            raise OptionsError(f"webhook_url must be an http(s) URL, got {self.webhook_url!r}")
        if self.webhook_secret is not None and (
            not isinstance(self.webhook_secret, str) or not self.webhook_secret
        ):
            raise OptionsError("webhook_secret must be a non-empty string")
        if self.webhook_url is not None and self.webhook_secret is None:
            raise OptionsError("webhook_url needs webhook_secret: Magic Hour signs every webhook")
        timeout = self.webhook_timeout
        if not (
            isinstance(timeout, int | float)
            and not isinstance(timeout, bool)
            and math.isfinite(timeout)
            and timeout > 0
        ):
            raise OptionsError(f"webhook_timeout must be a number of seconds > 0, got {timeout!r}")

    def price_factor(self, model: str | None) -> float:
        """What ``price_changes`` multiply the charges of a job on ``model`` by."""
        return dict(self.price_changes).get(model or "", 1.0)

    def to_json(self) -> dict[str, Any]:
        """The options as ``/_simulator/state`` shows them (never the token nor the secret)."""
        # the faults in force (they change at run time) are shown beside these, not here
        hidden = ("token", "faults", "webhook_secret")
        shown = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in hidden}
        return shown | {
            "token_required": self.token is not None,
            "drift_fps": list(self.drift_fps),
            "price_changes": dict(self.price_changes),
            "webhook_signed": self.webhook_secret is not None,
            "state_path": str(self.state_path) if self.state_path else None,
        }
