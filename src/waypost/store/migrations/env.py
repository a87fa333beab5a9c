"""Alembic's entry point: migrate the connection the store hands over, or a URL (CLI).

``Store.open`` passes an open connection, already inside the transaction (and
holding the lock) that the whole upgrade runs in, through
``config.attributes["connection"]``. From the alembic CLI the URL comes from
``-x url=...`` or ``sqlalchemy.url``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from waypost.store.engine import WRITE, create_store_engine, database_url
from waypost.store.tables import Base


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def _cli_url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url")
    url = url or context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("give the database: alembic -x url=sqlite:///path/to/waypost.db ...")
    return url


def run() -> None:
    if context.is_offline_mode():
        context.configure(
            url=database_url(_cli_url()), target_metadata=Base.metadata, literal_binds=True
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    given: Connection | None = context.config.attributes.get("connection")
    if given is not None:
        _configure(given)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_store_engine(_cli_url())
    try:
        with engine.execution_options(**WRITE).begin() as connection:
            _configure(connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


run()
