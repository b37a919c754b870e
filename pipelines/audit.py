"""Append-only, keyed hash-chained audit log: who did what to which patient's data, and when.

Each entry's hash covers its own fields and the previous entry's hash, so editing, deleting or
reordering any entry breaks the chain from that point on; `verify` names the first broken entry.
Entries are appended inside the caller's write transaction, which the store serialises (SQLite
BEGIN IMMEDIATE; PostgreSQL takes a table lock), so two writers can never fork the chain.

A plain SHA-256 chain can be recomputed by anyone who can write the database. So the chain is keyed:
from an `audit.keyed` marker entry on, every hash is an HMAC-SHA256 with a key kept outside the data
folder ($RENKEI_AUDIT_KEY_FILE, else ~/.config/renkei/audit.key, generated on first use). Data
folders written before keys existed keep their plain prefix and switch at the next append. Truncation
(the newest entries, or all of them) is caught by anchors kept outside the data folder
(`pipelines/audit_anchors.py`): `verify` takes them as `anchors`.
"""

from __future__ import annotations

import functools
import getpass
import hashlib
import hmac
import logging
import os
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from renkei.pipelines.schema import audit_log

log = logging.getLogger("renkei.audit")

GENESIS = "0" * 64
KEYED_ACTION = "audit.keyed"  # from this entry on, the chain is HMAC-keyed
KEY_FILE_ENV = "RENKEI_AUDIT_KEY_FILE"


@dataclass(slots=True, frozen=True)
class AuditEntry:
    action: str  # e.g. message.receive, delivery.sent, timeline.read, message.show
    patient_id: str  # an EHR id, never a name ("" when none applies)
    object: str  # what was touched: "message:12", "delivery:40", "timeline:9999013"
    detail: str = ""
    actor: str = ""  # filled with the current actor when empty


def current_actor() -> str:
    """The OS user and program, e.g. "nurse1@renkei"; RENKEI_ACTOR overrides (web console, services)."""
    return os.environ.get("RENKEI_ACTOR") or f"{_os_user()}@renkei"


@functools.cache
def _os_user() -> str:  # asked on every append (a passwd lookup): a process's user does not change
    return getpass.getuser()


# -- the key ------------------------------------------------------------------------------------------


def key_path() -> Path:
    """Where the audit key is: $RENKEI_AUDIT_KEY_FILE, else the user's config folder (never the data folder)."""
    if os.environ.get(KEY_FILE_ENV):
        return Path(os.environ[KEY_FILE_ENV]).expanduser()
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "renkei" / "audit.key"


_keys: dict[Path, bytes] = {}
_keys_by_env: dict[tuple[str | None, ...], bytes] = {}


def load_key(create: bool = False) -> bytes | None:
    """The audit key, or None when there is none (and `create` is false). A new key is written with
    mode 0600 and announced once in the log with its path, so the operator can back it up."""
    from renkei.errors import ConfigError

    where = (os.environ.get(KEY_FILE_ENV), os.environ.get("XDG_CONFIG_HOME"), os.environ.get("HOME"))
    if where in _keys_by_env:  # every append asks: skip building the path again
        return _keys_by_env[where]
    path = key_path()
    if path in _keys:
        _keys_by_env[where] = _keys[path]
        return _keys[path]
    try:
        if not path.exists():
            if not create:
                return None
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process made it just now: use theirs
                pass
            else:
                with os.fdopen(fd, "w", encoding="ascii") as f:
                    f.write(secrets.token_hex(32) + "\n")
                log.warning("audit: created the audit key %s; back it up and keep it outside the data folder", path)
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        # Fail closed: an audit entry is never written unkeyed because the key could not be had.
        reason = exc.strerror if isinstance(exc, OSError) else "not text"
        raise ConfigError(
            f"the audit key {path} cannot be read or created ({reason}); set {KEY_FILE_ENV} to a file outside "
            "the data folder"
        ) from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = text.encode("utf-8")
    if len(key) < 16:
        raise ConfigError(f"audit key {path} is too short (at least 16 bytes, e.g. 64 hex digits)")
    _keys[path] = _keys_by_env[where] = key
    return key


def key_id(key: bytes) -> str:
    """A short public name of a key (not the key): written in the marker entry, so a changed key is named."""
    return hashlib.sha256(b"renkei-audit-key-id\x00" + key).hexdigest()[:16]


# -- hashing ------------------------------------------------------------------------------------------


def _fields(
    prev_hash: str, seq: int, at: float, actor: str, action: str, patient_id: str, obj: str, detail: str
) -> bytes:
    return "\x1f".join((prev_hash, str(seq), f"{at:.6f}", actor, action, patient_id, obj, detail)).encode("utf-8")


def _digest(
    prev_hash: str, seq: int, at: float, actor: str, action: str, patient_id: str, obj: str, detail: str
) -> str:
    return hashlib.sha256(_fields(prev_hash, seq, at, actor, action, patient_id, obj, detail)).hexdigest()


def _mac(key: bytes, *fields: object) -> str:
    return hmac.new(key, _fields(*fields), hashlib.sha256).hexdigest()  # type: ignore[arg-type]


def _row_fields(r: sa.Row) -> tuple:
    return (r.prev_hash, r.seq, r.at, r.actor, r.action, r.patient_id, r.object, r.detail)


_NEWEST = sa.select(audit_log).order_by(audit_log.c.seq.desc()).limit(1)


def append(conn: sa.Connection, entries: Iterable[AuditEntry]) -> None:
    entries = list(entries)
    if not entries:
        return
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("LOCK TABLE audit_log IN EXCLUSIVE MODE")
    key = load_key(create=True)
    assert key is not None
    last = conn.execute(_NEWEST).first()
    seq, prev = (last.seq, last.hash) if last else (0, GENESIS)
    now = time.time()
    default_actor = current_actor()
    # The chain continues keyed when its newest entry is keyed with this key; otherwise (a new or a plain
    # chain, or a replaced key) a marker entry starts the keyed part.
    if last is None or not hmac.compare_digest(_mac(key, *_row_fields(last)), last.hash):
        entries.insert(0, AuditEntry(KEYED_ACTION, "", "audit_log", f"key {key_id(key)}", default_actor))
    rows = []
    for e in entries:
        seq += 1
        actor = e.actor or default_actor
        h = _mac(key, prev, seq, now, actor, e.action, e.patient_id, e.object, e.detail)
        rows.append(
            {
                "seq": seq,
                "at": now,
                "actor": actor,
                "action": e.action,
                "patient_id": e.patient_id,
                "object": e.object,
                "detail": e.detail,
                "prev_hash": prev,
                "hash": h,
            }
        )
        prev = h
    conn.execute(audit_log.insert(), rows)


# -- verifying ----------------------------------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class Anchor:
    """A checkpoint of the chain kept outside the data folder: entry `seq` had `hash`, the log had
    `entries` entries, and was keyed from entry `keyed_from` (0: not keyed)."""

    seq: int
    hash: str
    entries: int
    keyed_from: int = 0
    source: str = ""  # where it was kept, for the report: a file and line, or "--anchor"


@dataclass(slots=True, frozen=True)
class VerifyResult:
    ok: bool
    entries: int
    first_bad_seq: int | None = None
    reason: str = ""
    head: str = ""  # "SEQ:HASH" of the last entry: keep it elsewhere (an anchor) to detect truncation
    keyed_from: int = 0  # the first keyed entry (0: the chain is plain, recomputable by anyone)
    anchors_checked: int = 0


def parse_anchor(text: str) -> Anchor:
    """ "SEQ:HASH" as printed by verify; ValueError with the reason otherwise."""
    seq, sep, digest = text.strip().partition(":")
    if not sep or not seq.isdigit() or int(seq) < 1 or len(digest) != 64:
        raise ValueError("expected SEQ:HASH as printed by `renkei audit verify` (e.g. 120:3fa4…, 64 hex digits)")
    try:
        bytes.fromhex(digest)
    except ValueError:
        raise ValueError("the HASH part of SEQ:HASH is 64 hex digits") from None
    return Anchor(int(seq), digest.lower(), int(seq), source="--anchor")


def verify(conn: sa.Connection, batch: int = 10_000, anchor: str = "", anchors: Sequence[Anchor] = ()) -> VerifyResult:
    """Walk the whole chain in seq order, in batches so memory stays flat.

    The chain alone cannot show that its newest entries were cut off; anchors (kept outside the data
    folder) close that gap: entry SEQ must still exist with that hash, the log must hold at least as
    many entries, and a chain that was keyed from entry K must still be keyed from K.
    """
    checks = list(anchors) + ([parse_anchor(anchor)] if anchor else [])
    by_seq: dict[int, list[Anchor]] = {}
    for a in checks:
        by_seq.setdefault(a.seq, []).append(a)
    key = load_key()
    prev, expected_seq, count, last_seq, keyed_from = GENESIS, 1, 0, 0, 0

    def bad(seq: int, reason: str) -> VerifyResult:
        return VerifyResult(False, count, seq, reason, keyed_from=keyed_from, anchors_checked=len(checks))

    while True:
        rows = conn.execute(
            sa.select(audit_log).where(audit_log.c.seq > last_seq).order_by(audit_log.c.seq).limit(batch)
        ).all()
        if not rows:
            break
        for r in rows:
            if r.seq != expected_seq:
                return bad(expected_seq, f"entry {expected_seq} is missing")
            if r.prev_hash != prev:
                return bad(r.seq, f"entry {r.seq} does not link to entry {r.seq - 1}")
            if r.action == KEYED_ACTION and not keyed_from:
                keyed_from = r.seq
            if keyed_from:
                if key is None:
                    where = f"{key_path()} (set ${KEY_FILE_ENV})"
                    return bad(r.seq, f"entries from {keyed_from} on are keyed and there is no audit key at {where}")
                if not hmac.compare_digest(_mac(key, *_row_fields(r)), r.hash):
                    return bad(r.seq, f"entry {r.seq} was altered, or keyed with another key than {key_path()}")
            elif _digest(*_row_fields(r)) != r.hash:
                return bad(r.seq, f"entry {r.seq} was altered (hash mismatch)")
            for a in by_seq.get(r.seq, ()):
                if r.hash != a.hash:
                    return bad(r.seq, f"entry {r.seq} differs from the anchor in {a.source}")
                if a.keyed_from and keyed_from != a.keyed_from:
                    now = keyed_from or "nowhere"
                    return bad(r.seq, f"keyed from entry {a.keyed_from} in {a.source}, now from {now}: recomputed")
            prev, expected_seq, count, last_seq = r.hash, r.seq + 1, count + 1, r.seq
    for a in checks:
        if a.seq > last_seq or a.entries > count:
            return bad(
                a.seq,
                f"the log ends at entry {last_seq} ({count} entries) but {a.source} recorded entry {a.seq} "
                f"({a.entries} entries): the newest entries were removed",
            )
    head = f"{last_seq}:{prev}" if count else ""
    return VerifyResult(True, count, head=head, keyed_from=keyed_from, anchors_checked=len(checks))
