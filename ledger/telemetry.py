"""Prometheus counters, counted where things happen (see ``ledger.web.metrics`` for /metrics)."""

from __future__ import annotations

from prometheus_client import Counter

PROXY_REQUESTS = Counter(
    "ledger_proxy_requests_total",
    "Calls to the Magic Hour compatible side, by endpoint and outcome",
    ["endpoint", "outcome"],
)
UPSTREAM_ERRORS = Counter(
    "ledger_upstream_errors_total",
    "Upstream calls without a usable answer: unreachable, unknown (no answer), or 5xx",
    ["kind"],
)
UPSTREAM_CREDITS_EXHAUSTED = Counter(
    "ledger_upstream_credits_exhausted_total",
    "Creates Magic Hour refused with 402 because the company's Magic Hour account is out of "
    "credits (each hold released; the caller got upstream_credits_exhausted)",
)
POLLS = Counter("ledger_polls_total", "Project polls by reconciliation, by outcome", ["outcome"])

FALLBACK_ESTIMATES = Counter(
    "ledger_fallback_estimates_total",
    "Estimates at the fallback (the endpoint's highest rate): a model or resolution without a "
    "published rate, by endpoint and model",
    ["endpoint", "model"],
)
