"""Alembic's environment for every renkei database (docs/schema.md).

One linear history per kind of database ("store", "timeline", "devices", "matrix", "webhook": the
sections of alembic.ini, each with its folder under versions/); each database records its own revision.
The kind is the ini section (`alembic -n store`, or what `renkei db upgrade` opens), which gives the
target metadata for autogenerate; the connection comes from `renkei db upgrade` (config.attributes), or
on the alembic command line from `-x url=SQLALCHEMY_URL`.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import context

from renkei.pipelines.migrations.catalog import schema_of

config = context.config
x_args = context.get_x_argument(as_dictionary=True)
kind = config.config_ini_section
target_metadata = schema_of(kind).metadata


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Autogenerate compares only this kind's tables: a shared PostgreSQL database may hold others'."""
    if type_ == "table" and reflected:
        return name in target_metadata.tables
    return True


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite alters tables by copying them; on PostgreSQL batch ops are plain ALTERs
        include_object=include_object,
        compare_type=True,
        **kwargs,
    )


def run_offline() -> None:
    _configure(url=x_args.get("url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:  # renkei db upgrade: its own transaction around the whole upgrade
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = x_args.get("url")
    if not url:
        raise SystemExit("give the database: alembic -n KIND -x url=SQLALCHEMY_URL …")
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        _configure(connection=conn)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
