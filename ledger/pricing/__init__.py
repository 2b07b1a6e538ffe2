"""What a Magic Hour create call will cost, estimated before it is sent.

The estimate is what the proxy reserves against a team's budget; the hold later settles to what
Magic Hour actually charged, so the table errs on the side of covering the real charge.

- :mod:`ledger.pricing.table` reads and checks the pricing table (TOML) for the company's plan,
  with :mod:`~ledger.pricing.reader` (TOML tables, one-line errors) and
  :mod:`~ledger.pricing.choices` (rates, picks, aliases, the audio surcharge);
- :mod:`ledger.pricing.rules` turns one request into credits (rates by model and resolution,
  surcharges, what Magic Hour picks when the request leaves a field out, the fallback);
- :mod:`ledger.pricing.request` reads the request fields a cost depends on;
- :mod:`ledger.pricing.learning` watches what Magic Hour actually charged per pricing key and
  raises later estimates where the table fell short (CONTRACT §4a); :mod:`~ledger.pricing.pricer`
  puts the two together for the proxy, the API and ``ledger pricing`` (:mod:`~ledger.pricing.cli`).
"""

from ledger.pricing.reader import PricingError
from ledger.pricing.rules import FALLBACK, LEARNED, PLANS, TABLE, Estimate
from ledger.pricing.table import BUILTIN_LABEL, PricingTable

__all__ = [
    "BUILTIN_LABEL",
    "FALLBACK",
    "LEARNED",
    "PLANS",
    "TABLE",
    "Estimate",
    "PricingError",
    "PricingTable",
]
