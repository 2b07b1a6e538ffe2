"""ledger: a budget guard and cost ledger for the Magic Hour API."""

__version__ = "0.1.0"
