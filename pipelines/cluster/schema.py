"""procrastinate's own tables in the store's PostgreSQL database (docs/schema.md).

They are procrastinate's, versioned by procrastinate (its schema.sql and sql/migrations), not by the
store's Alembic history: SQLite stores never have them, and the store's revisions stay independent of
procrastinate's release cycle. `renkei db upgrade` and the first `renkei worker`/`renkei run` on a
PostgreSQL store create them (once: under the store's writer lock) from the installed procrastinate,
whose version pyproject.toml pins to one minor line, so the code and its tables always match.
"""

from __future__ import annotations

from procrastinate.schema import SchemaManager

from renkei.pipelines.store import Store


def job_tables_present(store: Store) -> bool:
    with store.read() as conn:
        return conn.exec_driver_sql("SELECT to_regclass('procrastinate_jobs') IS NOT NULL").scalar() is True


def ensure_job_tables(store: Store) -> bool:
    """Create procrastinate's tables unless they are there; True when this call created them."""
    if job_tables_present(store):
        return False
    with store.write() as conn:  # serialised: two processes starting at once create them once
        if conn.exec_driver_sql("SELECT to_regclass('procrastinate_jobs') IS NOT NULL").scalar():
            return False
        # On the psycopg connection itself: no parameters, so its `%` characters are not placeholders.
        conn.connection.driver_connection.execute(SchemaManager.get_schema())
    return True
