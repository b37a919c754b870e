"""The audit log is hash-chained: any edit, deletion or reordering is detected and located.

Every test runs on SQLite and on a real PostgreSQL (`store_url`, tests/pipelines/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from renkei.pipelines.audit import AuditEntry
from renkei.pipelines.schema import audit_log
from renkei.pipelines.store import Store


def _store_with_entries(new_store: Callable[[], Store], n: int = 5) -> Store:
    store = new_store()
    store.audit([AuditEntry("timeline.read", f"P{i}", f"timeline-group:{i}", "", actor="nurse.sato") for i in range(n)])
    return store


def test_intact_chain_verifies(new_store) -> None:
    store = _store_with_entries(new_store)
    store.audit([AuditEntry("message.show", "P9", "message:1")])
    result = store.verify_audit()
    # entry 1 is the marker that starts the keyed chain of a new log
    assert (result.ok, result.entries, result.keyed_from) == (True, 7, 1)


def test_edited_entry_is_found(new_store) -> None:
    store = _store_with_entries(new_store)
    with store.write() as conn:
        conn.execute(audit_log.update().where(audit_log.c.seq == 3).values(patient_id="P-other"))
    result = store.verify_audit()
    assert (result.ok, result.first_bad_seq) == (False, 3)
    assert "altered" in result.reason


def test_deleted_entry_is_found(new_store) -> None:
    store = _store_with_entries(new_store)
    with store.write() as conn:
        conn.execute(audit_log.delete().where(audit_log.c.seq == 2))
    result = store.verify_audit()
    assert (result.ok, result.first_bad_seq) == (False, 2)
    assert "missing" in result.reason


def test_rehashed_entry_breaks_the_link_to_the_next(new_store) -> None:
    """Recomputing one entry's own hash after editing it still breaks the next entry's prev_hash."""
    store = _store_with_entries(new_store)
    with store.write() as conn:
        conn.execute(audit_log.update().where(audit_log.c.seq == 2).values(actor="intruder", hash="f" * 64))
        rows = conn.execute(sa.select(audit_log.c.seq).order_by(audit_log.c.seq)).scalars().all()
    assert rows == [1, 2, 3, 4, 5, 6]  # 1 is the keyed marker
    result = store.verify_audit()
    assert result.ok is False and result.first_bad_seq == 2


def test_database_errors_never_quote_the_values(new_store) -> None:
    """A failing statement's error text (which ends up in logs) must not carry patient data."""
    store = new_store()
    with store.write() as conn:
        conn.execute(audit_log.insert().values(seq=1, at=0.0, actor="a", action="b", patient_id="P1", object="o",
                                               detail="山田太郎", prev_hash="x", hash="y"))  # fmt: skip
    try:
        with store.write() as conn:
            conn.execute(audit_log.insert().values(seq=1, at=0.0, actor="a", action="b", patient_id="P1", object="o",
                                                   detail="山田太郎", prev_hash="x", hash="y"))  # fmt: skip
    except sa.exc.IntegrityError as exc:
        assert "山田太郎" not in str(exc)
        assert "hidden due to hide_parameters" in str(exc)
    else:
        raise AssertionError("a duplicate primary key must fail")


def test_constraint_errors_never_quote_the_row(new_store) -> None:
    """PostgreSQL's DETAIL would print the whole failing row ("Failing row contains (…)")."""
    store = new_store()
    try:
        with store.write() as conn:
            conn.execute(audit_log.insert().values(seq=1, at=0.0, actor="a", action="b", patient_id="P1", object="o",
                                                   detail="山田太郎", prev_hash="x", hash=None))  # fmt: skip
    except sa.exc.IntegrityError as exc:
        texts = [str(exc), str(exc.orig), repr(exc.orig)]
        assert not any("山田太郎" in t or "P1" in t for t in texts), texts
        assert "hash" in str(exc).lower() and "null" in str(exc).lower()  # still says what went wrong
    else:
        raise AssertionError("a NULL hash must fail")


def test_an_anchor_shows_cut_off_newest_entries(new_store) -> None:
    store = _store_with_entries(new_store, n=5)
    head = store.verify_audit().head
    assert head.startswith("6:")
    store.audit([AuditEntry("message.show", "P9", "message:1")])
    assert store.verify_audit(anchor=head).ok  # more entries after the anchor are fine
    with store.write() as conn:
        conn.execute(audit_log.delete().where(audit_log.c.seq >= 6))
    assert store.verify_audit().ok  # the chain alone cannot tell ...
    result = store.verify_audit(anchor=head)  # ... the anchor can
    assert (result.ok, result.first_bad_seq) == (False, 6)
    assert result.reason.startswith("the log ends at entry 5 (5 entries) but --anchor recorded entry 6")
    with store.write() as conn:
        conn.execute(audit_log.update().where(audit_log.c.seq == 4).values(hash="0" * 64))
    assert store.verify_audit(anchor="4:" + "1" * 64).reason.startswith("entry 4")
