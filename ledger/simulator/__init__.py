"""A local stand-in for the Magic Hour API: ``ledger simulator``."""
