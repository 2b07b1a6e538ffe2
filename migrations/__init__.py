"""Alembic migrations, installed as ``ledger.migrations``."""
