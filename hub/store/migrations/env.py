"""Alembic environment: runs on the connection the hub hands over (see ``hub.store.engine.migrate``)."""

from alembic import context
from sqlalchemy import create_engine

from hub.store.tables import metadata

config = context.config
connection = config.attributes.get("connection")

if connection is not None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
else:  # `alembic revision --autogenerate` from a developer's shell
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite:///migrations-scratch.db")
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
