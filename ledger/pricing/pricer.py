"""The price of a request as ledger quotes it: the table for the company's plan, corrected by
what Magic Hour was seen to charge. The proxy, the quote API and the CLI all ask this."""

from __future__ import annotations

from ledger.pricing.learning import Key, LearnedPrices
from ledger.pricing.rules import FALLBACK, LEARNED, TABLE, Estimate
from ledger.pricing.table import PricingTable


class Pricer:
    def __init__(self, table: PricingTable, learned: LearnedPrices) -> None:
        self.table = table
        self.learned = learned

    def endpoints(self) -> list[str]:
        return self.table.endpoints()

    def kind_of(self, endpoint: str) -> str | None:
        return self.table.kind_of(endpoint)

    def estimate(self, endpoint: str, body: object) -> Estimate:
        """The table's estimate, then what was learned of its pricing key (CONTRACT §4a)."""
        return self.learned.apply(self.table.estimate(endpoint, body))

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
