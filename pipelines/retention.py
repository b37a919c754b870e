"""Retention: drop the content of finished messages after a pipeline's limit, keep everything that proves
what happened.

A message is finished when it is SENT (every delivery SENT) or FILTERED; any other state (QUARANTINED,
DEAD, AWAITING_APPROVAL, ERROR, QUEUED, ...) may still be reprocessed and is never touched. After
`raw_days` its raw bytes and parsed records go; after `payload_days` its deliveries' payloads go. A
document's file (PDF, CDA, image) is stored once, as the raw input (pipelines/documents.py: payloads hold a
reference only), so it goes with the raw input and the message notes "documents" among what was dropped. The
message row stays with its state, ids, patient id, data type, times and a note of what was dropped and
when (`pruned`, `pruned_at`); delivery receipts, the idempotency ledger, the source ledger (so no file is
ever read again) and the audit log are kept. One audit entry per run, with counts.

On SQLite the file only shrinks when rebuilt: a pruned row leaves its ~1 KB of inline raw bytes as free
space inside half-empty b-tree pages, which `PRAGMA incremental_vacuum` cannot give back (it only returns
whole free pages, and needs auto_vacuum set when the file was created). So a run that dropped anything
ends with a full `VACUUM` and a WAL checkpoint(TRUNCATE) (VACUUM in WAL mode writes the new file through
the WAL). It holds the write lock for its duration (seconds per 100 MB), once a day at night. On
PostgreSQL the freed space is reused by new rows after autovacuum; nothing is rebuilt.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from renkei.config.schema import RetentionSettings
from renkei.db import chunked
from renkei.pipelines.audit import AuditEntry
from renkei.pipelines.documents import POST_ATTACHMENT
from renkei.pipelines.schema import DeliveryState, MessageState, deliveries, messages
from renkei.pipelines.store import Store

DAY = 86400.0
FINISHED_STATES = (MessageState.SENT.value, MessageState.FILTERED.value)
SENT = (MessageState.SENT.value,)  # only SENT messages have payloads (a FILTERED one has no deliveries)
RAW_PARTS = ("raw", "records")
PAYLOAD_PART = "payloads"
DOCUMENTS_PART = "documents"  # noted with the raw input when it held a document's file
PART_ORDER = (*RAW_PARTS, PAYLOAD_PART, DOCUMENTS_PART)
_BATCH = 2000


@dataclass(slots=True)
class PruneReport:
    dry_run: bool
    messages: int = 0  # messages that had something dropped in this run
    raw_messages: int = 0
    raw_bytes: int = 0
    document_messages: int = 0  # messages whose document file went with their raw input
    payload_messages: int = 0
    deliveries: int = 0
    per_pipeline: dict[str, int] = field(default_factory=dict)
    vacuumed: bool = False
    file_bytes_before: int | None = None
    file_bytes_after: int | None = None
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"messages {self.messages}, raw {self.raw_messages} ({self.raw_bytes} bytes; document files "
            f"{self.document_messages}), payloads {self.payload_messages} ({self.deliveries} deliveries)"
        )


def pruned_parts(pruned: str) -> list[str]:
    return [p for p in pruned.split(",") if p]


def prune(
    store: Store,
    retention: Mapping[str, RetentionSettings],
    *,
    now: float | None = None,
    older_than_days: float | None = None,
    dry_run: bool = False,
    vacuum: bool = True,
) -> PruneReport:
    """Prune every finished message past its pipeline's limits (`retention`: pipeline -> settings; a
    pipeline not in it, e.g. one removed from the config, gets the default). `older_than_days` replaces
    every limit (also "keep forever") for this run, e.g. 0 to prune everything finished now."""
    started = time.monotonic()
    now = time.time() if now is None else now
    report = PruneReport(dry_run=dry_run)
    with store.read() as conn:
        pipelines = [r[0] for r in conn.execute(sa.select(messages.c.pipeline).distinct())]
    for name in pipelines:
        settings = retention.get(name) or RetentionSettings()
        raw_days, payload_days = settings.raw_days, settings.payload_days
        if older_than_days is not None:
            raw_days = payload_days = older_than_days
        n = _prune_pipeline(store, name, raw_days, payload_days, now, dry_run, report)
        if n:
            report.per_pipeline[name] = n
    if report.messages and not dry_run:
        store.audit([AuditEntry("retention.prune", "", "store", report.summary())])
        if vacuum:
            _vacuum(store, report)
    report.seconds = time.monotonic() - started
    return report


def _unfinished_delivery() -> sa.Exists:
    return sa.exists().where(deliveries.c.message_id == messages.c.id, deliveries.c.state != DeliveryState.SENT)


def _candidates(
    store: Store, pipeline: str, cutoff: float, already: str, states: tuple[str, ...]
) -> list[tuple[int, str, int]]:
    """(id, pruned, raw length) of the pipeline's messages in `states` last changed before `cutoff` whose
    `already` part is not yet dropped, and none of whose deliveries is anything but SENT."""
    q = sa.select(messages.c.id, messages.c.pruned, sa.func.length(messages.c.raw)).where(
        messages.c.pipeline == pipeline,
        messages.c.state.in_(states),
        messages.c.updated_at < cutoff,
        ~messages.c.pruned.contains(already),
        ~_unfinished_delivery(),
    )
    with store.read() as conn:
        return [(r[0], r[1], r[2] or 0) for r in conn.execute(q)]


def _prune_pipeline(
    store: Store,
    pipeline: str,
    raw_days: float | None,
    payload_days: float | None,
    now: float,
    dry_run: bool,
    report: PruneReport,
) -> int:
    plan: dict[int, set[str]] = {}  # message id -> parts to drop now
    pruned_before: dict[int, str] = {}
    raw_size: dict[int, int] = {}
    if raw_days is not None:
        for mid, pruned, size in _candidates(store, pipeline, now - raw_days * DAY, "raw", FINISHED_STATES):
            plan.setdefault(mid, set()).update(RAW_PARTS)
            pruned_before[mid], raw_size[mid] = pruned, size
    for mid in _with_document_files(store, [m for m, parts in plan.items() if "raw" in parts]):
        plan[mid].add(DOCUMENTS_PART)
    if payload_days is not None:
        for mid, pruned, _ in _candidates(store, pipeline, now - payload_days * DAY, PAYLOAD_PART, SENT):
            plan.setdefault(mid, set()).add(PAYLOAD_PART)
            pruned_before[mid] = pruned
    if not dry_run:
        plan = _apply(store, plan, pruned_before, now)
    payload_ids = sorted(mid for mid, parts in plan.items() if PAYLOAD_PART in parts)
    with store.read() as conn:
        for chunk in chunked(payload_ids):
            report.deliveries += conn.execute(
                sa.select(sa.func.count()).select_from(deliveries).where(deliveries.c.message_id.in_(chunk))
            ).scalar_one()
    report.payload_messages += len(payload_ids)
    report.raw_messages += sum(1 for parts in plan.values() if "raw" in parts)
    report.document_messages += sum(1 for parts in plan.values() if DOCUMENTS_PART in parts)
    report.raw_bytes += sum(raw_size.get(mid, 0) for mid, parts in plan.items() if "raw" in parts)
    report.messages += len(plan)
    return len(plan)


def _apply(store: Store, plan: dict[int, set[str]], pruned_before: dict[int, str], now: float) -> dict[int, set[str]]:
    """Drop the planned parts, batch by batch; returns what was dropped. Each update checks again, under
    the write lock, that the message is still as planned: one reprocessed since is left alone."""
    done: dict[int, set[str]] = {}
    order = PART_ORDER
    ids = sorted(plan)
    for i in range(0, len(ids), _BATCH):
        batch = ids[i : i + _BATCH]
        with store.write() as conn:
            for mid in batch:
                parts = set(pruned_parts(pruned_before[mid])) | plan[mid]
                values: dict[str, object] = {"pruned": ",".join(p for p in order if p in parts), "pruned_at": now}
                if "raw" in plan[mid]:
                    values.update(raw=b"", records=None)
                states = SENT if PAYLOAD_PART in plan[mid] else FINISHED_STATES
                hit = conn.execute(
                    messages.update()
                    .where(
                        messages.c.id == mid,
                        messages.c.state.in_(states),
                        messages.c.pruned == pruned_before[mid],
                        ~_unfinished_delivery(),
                    )
                    .values(**values)
                ).rowcount
                if hit:
                    done[mid] = plan[mid]
            drop = [mid for mid in batch if PAYLOAD_PART in done.get(mid, ())]
            for chunk in chunked(drop):
                conn.execute(deliveries.update().where(deliveries.c.message_id.in_(chunk)).values(payload={}))
    return done


def _with_document_files(store: Store, ids: list[int]) -> set[int]:
    """The messages among `ids` whose records name a document file kept in their raw input."""
    out: set[int] = set()
    with store.read() as conn:
        for chunk in chunked(sorted(ids)):
            rows = conn.execute(
                sa.select(messages.c.id, messages.c.records).where(
                    messages.c.id.in_(chunk), sa.cast(messages.c.records, sa.Text).like('%"document"%')
                )
            )
            for mid, records in rows:
                if any(r.get("kind") == "document" and r.get("content") for r in records or ()):
                    out.add(mid)
            # a level-3 push: its files are in the stored post, its payload references them
            out.update(
                conn.execute(
                    sa.select(deliveries.c.message_id).where(
                        deliveries.c.message_id.in_(chunk),
                        sa.cast(deliveries.c.payload, sa.Text).like(f"%{POST_ATTACHMENT}%"),
                    )
                ).scalars()
            )
    return out


def _sqlite_file(store: Store) -> Path | None:
    url = sa.make_url(store.url)
    return Path(url.database) if url.get_backend_name() == "sqlite" and url.database else None


def _vacuum(store: Store, report: PruneReport) -> None:
    path = _sqlite_file(store)
    if path is None:
        return  # PostgreSQL: autovacuum makes the space reusable; no rebuild
    report.file_bytes_before = _file_bytes(path)
    engine = sa.create_engine(store.url)  # a plain connection: VACUUM cannot run inside BEGIN IMMEDIATE
    try:
        raw = engine.raw_connection()
        try:
            raw.driver_connection.isolation_level = None
            raw.driver_connection.execute("PRAGMA busy_timeout=60000")
            raw.driver_connection.execute("VACUUM")
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()
    finally:
        engine.dispose()
    report.vacuumed = True
    report.file_bytes_after = _file_bytes(path)


def _file_bytes(path: Path) -> int:
    """The database file and its WAL (recent writes live in the WAL until a checkpoint)."""
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
