"""The price of a request as ledger quotes it: the table for the company's plan, corrected by
what Magic Hour was seen to charge. The proxy, the quote API and the CLI all ask this."""

from __future__ import annotations

import threading

from ledger.pricing.learning import Key, LearnedPrices
from ledger.pricing.rules import FALLBACK, LEARNED, TABLE, Estimate
from ledger.pricing.table import PricingTable
from ledger.telemetry import FALLBACK_ESTIMATES

# A model name is the client's to choose: past this many distinct ones, the metric says "other".
MAX_MODEL_LABELS = 100


class Pricer:
    def __init__(self, table: PricingTable, learned: LearnedPrices) -> None:
        self.table = table
        self.learned = learned
        self._labelled: set[str] = set()
        self._lock = threading.Lock()

    def endpoints(self) -> list[str]:
        return self.table.endpoints()

    def kind_of(self, endpoint: str) -> str | None:
        return self.table.kind_of(endpoint)

    def estimate(self, endpoint: str, body: object) -> Estimate:
        """The table's estimate, then what was learned of its pricing key (CONTRACT §4a)."""
        estimate = self.table.estimate(endpoint, body)
        if estimate.basis == FALLBACK:
            FALLBACK_ESTIMATES.labels(endpoint, self._label(estimate.model)).inc()
        return self.learned.apply(estimate)

    def _label(self, model: str | None) -> str:
        name = model or "(none)"
        with self._lock:
            if name in self._labelled or len(self._labelled) < MAX_MODEL_LABELS:
                self._labelled.add(name)
                return name[:64]
        return "other"

    def basis_of(self, key: Key) -> str:
        """How a pricing key is estimated now: ``table``, ``fallback`` or ``learned``."""
        endpoint, model, resolution, _audio = key
        price = self.table.price_of(endpoint)
        basis = TABLE
        if price is not None and price.rates is not None:
            picked = {"model": model, "resolution": resolution}
            if all(name in picked for name in price.rates.names):
                cell = tuple(picked[name] for name in price.rates.names)
                basis = TABLE if cell in price.rates.values else FALLBACK
        learned = self.learned.learned().get(key)
        return LEARNED if learned is not None and learned.applies_to(basis) else basis
