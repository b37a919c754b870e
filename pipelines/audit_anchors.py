"""Anchors of the audit chain, kept outside the data folder, so cutting off the newest entries (or all of
them) or recomputing the chain is detected.

An anchor records the head of the chain (seq and hash), the number of entries and the first keyed entry.
Anchors are JSON lines, one file per day, in $RENKEI_AUDIT_ANCHOR_DIR (else ~/.local/state/renkei/anchors)
under a folder named after the store, each line signed with the audit key; every anchor is also logged
(logger `renkei.audit`) so a syslog/journald copy exists where the service's log is kept. Commands write
the day's anchor when they first open the store that day, the service every hour, `renkei audit anchor`
on demand, and `renkei audit verify` after a successful check.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from renkei.pipelines import audit
from renkei.pipelines.audit import Anchor
from renkei.pipelines.schema import audit_log

log = logging.getLogger("renkei.audit")

ANCHOR_DIR_ENV = "RENKEI_AUDIT_ANCHOR_DIR"


def anchor_root() -> Path:
    if os.environ.get(ANCHOR_DIR_ENV):
        return Path(os.environ[ANCHOR_DIR_ENV]).expanduser()
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "renkei" / "anchors"


def store_id(url: str) -> str:
    """A stable folder name for one store: the SQLite file's absolute path, or the server URL without
    its password, hashed (the name says nothing about where the data is)."""
    if url.startswith("sqlite:///"):
        ident = str(Path(url.removeprefix("sqlite:///")).resolve())
    else:
        ident = sa.engine.make_url(url).set(password=None).render_as_string(hide_password=False)
    return hashlib.sha256(ident.encode("utf-8")).hexdigest()[:16]


def anchor_folder(url: str) -> Path:
    return anchor_root() / store_id(url)


def current_head(conn: sa.Connection) -> Anchor:
    last = conn.execute(sa.select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)).first()
    entries = conn.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar_one()
    keyed = conn.execute(
        sa.select(sa.func.min(audit_log.c.seq)).where(audit_log.c.action == audit.KEYED_ACTION)
    ).scalar_one_or_none()
    return Anchor(last.seq if last else 0, last.hash if last else "", int(entries), int(keyed or 0))


def _signed(body: dict[str, object], key: bytes) -> str:
    text = json.dumps(body, sort_keys=True, ensure_ascii=True)
    return hmac.new(key, text.encode("ascii"), hashlib.sha256).hexdigest()


@dataclass(slots=True, frozen=True)
class Written:
    anchor: Anchor
    path: Path


def write_anchor(conn: sa.Connection, url: str) -> Written:
    """Append the chain's current head to today's anchor file (and to the log)."""
    key = audit.load_key(create=True)
    assert key is not None
    head = current_head(conn)
    folder = anchor_folder(url)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"{datetime.now().date().isoformat()}.jsonl"
    body: dict[str, object] = {
        "at": time.time(),
        "seq": head.seq,
        "hash": head.hash,
        "entries": head.entries,
        "keyed_from": head.keyed_from,
    }
    line = json.dumps({**body, "mac": _signed(body, key)}, sort_keys=True)
    with open(path, "a", encoding="ascii") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())
    fields = (store_id(url), head.seq, head.hash, head.entries, head.keyed_from)
    log.info("audit anchor %s: entry %d %s, %d entries, keyed from %d", *fields)
    return Written(head, path)


def anchor_if_due(conn: sa.Connection, url: str) -> Written | None:
    """Today's anchor, if none was written today yet (cheap: one stat when there is)."""
    folder = anchor_folder(url)
    if (folder / f"{datetime.now().date().isoformat()}.jsonl").exists():
        return None
    return write_anchor(conn, url)


class AnchorFileError(Exception):
    """An anchor line that is not valid or not signed by the audit key: someone changed the anchors."""


def load_anchors(url: str) -> list[Anchor]:
    """Every anchor kept for this store, oldest file first; AnchorFileError names a bad line."""
    folder = anchor_folder(url)
    if not folder.is_dir():
        return []
    key = audit.load_key()
    out: list[Anchor] = []
    for path in sorted(folder.glob("*.jsonl")):
        for n, line in enumerate(path.read_text(encoding="ascii", errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            where = f"{path}:{n}"
            try:
                data = json.loads(line)
                mac = data.pop("mac")
                anchor = Anchor(
                    int(data["seq"]), str(data["hash"]), int(data["entries"]), int(data["keyed_from"]), where
                )
            except (ValueError, KeyError, TypeError):
                raise AnchorFileError(f"anchor {where} is not a valid anchor line") from None
            if key is None or not hmac.compare_digest(_signed(data, key), str(mac)):
                raise AnchorFileError(f"anchor {where} is not signed by the audit key {audit.key_path()}")
            if anchor.seq:  # an anchor of an empty log checks nothing
                out.append(anchor)
    return out
