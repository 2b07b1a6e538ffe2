"""Alembic environment: the ledger's models are the target; the URL comes from the caller.

``ledger db upgrade`` passes the URL (and on PostgreSQL an open, advisory-locked connection);
plain ``alembic`` run from the repository reads it from the ledger settings.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from ledger.models import Base, UTCDateTime

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from ledger.config import load_settings

    return load_settings().resolved_database_url


def _render_item(type_, obj, autogen_context):  # type: ignore[no-untyped-def]
    # Migrations spell UTCDateTime as the column type it stores, so they never import the models.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_item=_render_item,
        # SQLite cannot ALTER most things; batch mode rebuilds tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(_url())
    try:
        with engine.connect() as connection:
            _configure(connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
