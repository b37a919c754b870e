"""SQLAlchemy engines for renkei's databases, set up the same way everywhere.

SQLite runs in WAL mode with `synchronous=FULL` (a commit survives power loss: required before any
ACK) and writers issue BEGIN IMMEDIATE, so two writers never deadlock upgrading a read lock.

PostgreSQL (`postgresql+psycopg://…`, the store only): an engine made with `pg_writer_lock=True` (the
default) makes every writer transaction first take one transaction-scoped advisory lock, so writers run
one at a time exactly as under BEGIN IMMEDIATE. The store makes its engines without it and takes the lock
itself, per transaction, only where a check-then-write needs it (operators' decisions, registry links,
users: `StoreConnection.write(serialised=True)`, the default); the hot path of many workers (storing,
processing results, delivery outcomes) runs without it and meets only at the audit chain's head
(audit.append locks the audit table) and on the rows it touches (docs/scaling.md). Writers stay READ
COMMITTED on purpose: each statement
after the lock sees every earlier writer's commit (a REPEATABLE READ snapshot would predate the wait);
readers get REPEATABLE READ, one consistent snapshot per read block as on SQLite. Server error texts
are cut to their primary message, because PostgreSQL's DETAIL quotes row values ("Failing row
contains (…)"), which hide_parameters cannot hide.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Final, TypeVar

import orjson
import sqlalchemy as sa

from renkei.errors import ConfigError

T = TypeVar("T")

# Values per `IN (…)` list: under SQLite's default limit of 999 bound parameters with room to spare,
# and short enough that PostgreSQL plans each query quickly.
IN_CHUNK: Final = 500


def chunked(values: Iterable[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    """`values` in consecutive slices of at most `size` (for `column.in_(chunk)` queries and batches)."""
    items = values if isinstance(values, Sequence) else list(values)
    for i in range(0, len(items), size):
        yield items[i : i + size]


def dumps(obj: Any) -> str:
    """The canonical compact JSON text (what content hashes and signed bodies are computed over)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def store_dumps(obj: Any) -> str:
    """JSON columns' serializer: orjson, about 5x faster than json on records and payloads (it was a tenth of
    a batch run's CPU). Its text differs from `dumps` only in how it writes tiny floats (1e-05 as 0.00001),
    and it refuses integers beyond 64 bits and lone surrogates, for which json's text is kept."""
    try:
        return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS).decode("utf-8")
    except (orjson.JSONEncodeError, UnicodeDecodeError):
        return dumps(obj)


def store_loads(text: str | bytes) -> Any:
    """JSON columns' deserializer: orjson, with json's for text orjson refuses (NaN written by json)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


# pg_advisory_xact_lock key serialising renkei's writers in one database (any fixed bigint; "renkei").
PG_WRITER_LOCK: Final = 0x72656E6B6569
PG_LOCK_TIMEOUT_MS: Final = 60_000  # as SQLite's busy_timeout: a stuck writer fails others, not hangs them


def make_engine(
    url: str, *, immediate: bool, durable: bool = True, pg_writer_lock: bool = True, autocheckpoint: int = 1000
) -> sa.Engine:
    """`durable=False` (SQLite): commits survive a crash of the process but may be lost, with the whole
    last transactions, on power loss (WAL with synchronous=NORMAL). Only for writes that are safe to redo
    (processing results, delivery outcomes: the input stays RECEIVED, a delivery is re-sent under its
    idempotency key), never for what an acknowledgement or an operator's decision relies on.
    `autocheckpoint` (SQLite): the WAL pages after which a commit also checkpoints (0: never; SQLite's
    default is 1000)."""
    # hide_parameters: a database error's text would otherwise quote the bound values (raw HL7, names)
    # into exception messages and logs.
    if sa.engine.make_url(url).get_backend_name() == "postgresql":
        return _make_pg_engine(url, immediate=immediate, writer_lock=pg_writer_lock)
    engine = sa.create_engine(url, json_serializer=store_dumps, json_deserializer=store_loads, hide_parameters=True)
    if engine.dialect.name == "sqlite":

        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (pysqlite's own is unreliable)
            cur = dbapi_conn.cursor()
            # busy_timeout first, then WAL (see _ensure_wal): a connection opened while another process
            # writes must wait its turn, not fail at once with "database is locked".
            cur.execute("PRAGMA busy_timeout=60000")
            _ensure_wal(cur)
            cur.execute("PRAGMA synchronous=FULL" if durable else "PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA wal_autocheckpoint={int(autocheckpoint)}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _on_begin(conn: sa.Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def take_pg_writer_lock(conn: sa.Connection) -> None:
    """Serialise this transaction with every other one that takes the lock (PostgreSQL only)."""
    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PG_WRITER_LOCK})")


def _make_pg_engine(url: str, *, immediate: bool, writer_lock: bool) -> sa.Engine:
    try:
        engine = sa.create_engine(
            url,
            json_serializer=store_dumps,
            json_deserializer=store_loads,
            hide_parameters=True,
            # Readers: one snapshot per read block, as a SQLite read transaction in WAL mode gives.
            isolation_level="READ COMMITTED" if immediate else "REPEATABLE READ",
            pool_pre_ping=True,  # a server restart leaves dead pooled connections behind
            connect_args={"options": f"-c lock_timeout={PG_LOCK_TIMEOUT_MS}"},
        )
    except ModuleNotFoundError as exc:
        raise ConfigError(f"the PostgreSQL store needs its driver: pip install 'renkei[postgres]' ({exc})") from exc
    if immediate and writer_lock:
        sa.event.listen(engine, "begin", take_pg_writer_lock)

    @sa.event.listens_for(engine, "handle_error")
    def _redact(ctx: sa.engine.ExceptionContext) -> None:
        orig, wrapped = ctx.original_exception, ctx.sqlalchemy_exception
        diag = getattr(orig, "diag", None)
        primary = getattr(diag, "message_primary", None)
        if primary is None:
            return  # not a server error (e.g. raised by the driver itself): nothing quoted
        if (getattr(diag, "sqlstate", None) or "").startswith("22"):
            primary = primary.split(":", 1)[0]  # data exceptions quote the offending value after a colon
        orig.args = (primary,)
        if wrapped is not None and wrapped.args:
            first, _, rest = str(wrapped.args[0]).partition(") ")
            wrapped.args = (f"{first}) {primary}" if rest else primary, *wrapped.args[1:])

    return engine


def upsert(
    conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]], keys: tuple[str, ...], update: tuple[str, ...]
) -> None:
    """INSERT … ON CONFLICT for SQLite and PostgreSQL; `update=()` means do nothing on conflict."""
    conn.execute(_upsert_statement(conn.dialect.name, table, keys, update), rows)


@functools.lru_cache(maxsize=64)
def _upsert_statement(dialect: str, table: sa.Table, keys: tuple[str, ...], update: tuple[str, ...]) -> Any:
    """Built once per table and shape: building `excluded` costs more than running the statement."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(table)
    if update:
        return stmt.on_conflict_do_update(index_elements=list(keys), set_={c: stmt.excluded[c] for c in update})
    return stmt.on_conflict_do_nothing(index_elements=list(keys))


def _ensure_wal(cur: Any) -> None:
    """Put a SQLite file in WAL mode (it stays so). Asking for WAL on a file that already is needs no
    change, but SQLite may still answer SQLITE_BUSY at once (without its busy handler) while another
    process writes or checkpoints; the mode is read first, and a busy answer tried again for up to 60 s."""
    deadline = time.monotonic() + 60
    pause = 0.001
    while True:
        try:
            if str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if ("locked" not in str(exc) and "busy" not in str(exc)) or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.05)

