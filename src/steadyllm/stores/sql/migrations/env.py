"""Alembic's entry point, run by ``steadyllm.stores.sql.migrate`` on a live connection.

There is no alembic.ini and no URL here: ``migrate.upgrade`` opens the connection
(async engine, ``run_sync``), takes the migration lock, starts the transaction and
passes the connection in ``config.attributes["connection"]``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from steadyllm.stores.sql.schema import METADATA, VERSION_TABLE


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=METADATA,
        version_table=VERSION_TABLE,
        # SQLite alters tables by copying them; batch mode writes that for us.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


_connection = context.config.attributes.get("connection")
if not isinstance(_connection, Connection):
    raise RuntimeError(
        "steadyllm migrations run through steadyllm.stores.sql.migrate.upgrade "
        "(or `steadyllm migrate`), not the alembic command line"
    )
run_migrations(_connection)
