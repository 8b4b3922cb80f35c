"""Alembic environment: runs on the connection handed over by db.migrate."""

from alembic import context
from sqlmodel import SQLModel

import db.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from db.search import not_search

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `wolaiban db upgrade`")
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    include_name=not_search,  # the search index is the migration's own: autogenerate leaves it
)
with context.begin_transaction():
    context.run_migrations()
