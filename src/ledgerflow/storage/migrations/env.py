"""Alembic environment: runs on the connection that `ledgerflow init` (or `alembic`) hands it."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from ledgerflow.storage.schema import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    connection = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite:///ledgerflow.db").connect()
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
