"""The device registry: which device and which nurse badge is which — ids only, in `devices.sqlite`.

- devices: IEEE 11073 system id (hex) or serial number -> model, specialization, owner facility, the
  device clock's time zone ("" = the site's), and a status: `active`, `pending` (a device the bedside saw
  but nobody registered: its readings are refused until `renkei devices register`) or `retired`.
- badges: nurse badge tag id (FeliCa IDm / NFC UID, hex) -> nurse (staff) id; a lost badge is revoked
  (`renkei badges revoke`) and refused from then on.

Wristbands are NOT kept here: the patient registry's "tag" identifiers are the one list of wristbands
(`renkei patients link P --tag ID`); the bedside asks for them through its ConnectorContext. A device's own
user id or person id is never used as a patient: the patient always comes from a wristband tap. Ids are
normalised (hex upper case, no separators).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from renkei.db import make_engine, upsert
from renkei.db_version import DbSchema, ensure_current

DB_FILE = "devices.sqlite"
ACTIVE, PENDING, RETIRED = "active", "pending", "retired"

_md = sa.MetaData()
devices = sa.Table(
    "devices",
    _md,
    sa.Column("device_id", sa.String(64), primary_key=True),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("specialization", sa.String(64), nullable=False),
    sa.Column("facility", sa.Text, nullable=False),
    sa.Column("registered_at", sa.Float, nullable=False),
    # since devices_0002 (the bedside rules)
    sa.Column("status", sa.String(16), nullable=False, server_default=ACTIVE),
    sa.Column("timezone", sa.String(64), nullable=False, server_default=""),
    sa.Column("first_seen_at", sa.Float, nullable=True),
)
badges = sa.Table(
    "badges",
    _md,
    sa.Column("tag_id", sa.String(64), primary_key=True),
    sa.Column("nurse_id", sa.String(64), nullable=False),
    sa.Column("registered_at", sa.Float, nullable=False),
    sa.Column("revoked_at", sa.Float, nullable=True),  # since devices_0002: a revoked badge is refused
)
# The 0.1.0 second wristband table: its rows are moved to the patient registry once, then it is dropped
# (devices_0002 drops it at once where it is empty).
LEGACY_WRISTBANDS = "wristbands"
# The Alembic revision these tables are at (pipelines/migrations/versions/devices/): see docs/schema.md.
SCHEMA = DbSchema("devices", "devices_0002", _md)


@dataclass(slots=True, frozen=True)
class DeviceInfo:
    device_id: str
    model: str
    specialization: str
    facility: str
    status: str = ACTIVE
    timezone: str = ""


@dataclass(slots=True, frozen=True)
class Badge:
    tag_id: str
    nurse_id: str
    revoked: bool


def norm_id(raw: str | bytes) -> str:
    """Tag and system ids as upper-case hex without separators ("02:fe:…" -> "02FE…")."""
    if isinstance(raw, bytes | bytearray):
        return bytes(raw).hex().upper()
    return raw.replace(":", "").replace("-", "").replace(" ", "").upper()


class DeviceRegistry:
    """SQLite-backed; safe to share between threads (SQLAlchemy pools connections per thread)."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{folder / DB_FILE}"
        self._writer = make_engine(url, immediate=True)
        self._reader = make_engine(url, immediate=False)
        try:
            ensure_current(self._writer, SCHEMA, str(folder / DB_FILE), reader=self._reader)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._writer.dispose()
        self._reader.dispose()

    # -- registering ------------------------------------------------------------------------------
    def add_device(
        self, device_id: str, model: str, specialization: str, facility: str = "", timezone: str = ""
    ) -> None:
        """Register (or re-register: a pending or retired device becomes active again)."""
        row = {
            "device_id": norm_id(device_id),
            "model": model,
            "specialization": specialization,
            "facility": facility,
            "registered_at": time.time(),
            "status": ACTIVE,
            "timezone": timezone,
        }
        with self._writer.begin() as conn:
            upsert(conn, devices, [row], ("device_id",), ("model", "specialization", "facility", "status", "timezone"))

    def hold_pending(self, device_id: str, specialization: str = "") -> None:
        """A device nobody registered touched a reader: list it for `renkei devices pending` (once)."""
        now = time.time()
        row = {
            "device_id": norm_id(device_id),
            "model": "",
            "specialization": specialization,
            "facility": "",
            "registered_at": now,
            "status": PENDING,
            "timezone": "",
            "first_seen_at": now,
        }
        with self._writer.begin() as conn:
            upsert(conn, devices, [row], ("device_id",), ())

    def retire_device(self, device_id: str) -> bool:
        with self._writer.begin() as conn:
            q = devices.update().where(devices.c.device_id == norm_id(device_id)).values(status=RETIRED)
            return bool(conn.execute(q).rowcount)

    def add_badge(self, tag_id: str, nurse_id: str) -> None:
        """Register a badge; a revoked badge id stays revoked (a lost badge is not re-enabled by config)."""
        with self._writer.begin() as conn:
            row = {"tag_id": norm_id(tag_id), "nurse_id": nurse_id, "registered_at": time.time()}
            upsert(conn, badges, [row], ("tag_id",), ("nurse_id",))

    def revoke_badge(self, tag_id: str) -> bool:
        """A lost badge: refused from now on. False when no such badge is registered."""
        with self._writer.begin() as conn:
            q = badges.update().where(badges.c.tag_id == norm_id(tag_id)).values(revoked_at=time.time())
            return bool(conn.execute(q).rowcount)

    # -- looking up -------------------------------------------------------------------------------
    def device(self, device_id: str) -> DeviceInfo | None:
        with self._reader.connect() as conn:
            r = conn.execute(sa.select(devices).where(devices.c.device_id == norm_id(device_id))).first()
        if r is None:
            return None
        return DeviceInfo(r.device_id, r.model, r.specialization, r.facility, r.status, r.timezone)

    def list_devices(self, status: str | None = None) -> list[DeviceInfo]:
        q = sa.select(devices).order_by(devices.c.device_id)
        if status is not None:
            q = q.where(devices.c.status == status)
        with self._reader.connect() as conn:
            rows = conn.execute(q).all()
        return [DeviceInfo(r.device_id, r.model, r.specialization, r.facility, r.status, r.timezone) for r in rows]

    def badge(self, tag_id: str) -> Badge | None:
        with self._reader.connect() as conn:
            r = conn.execute(sa.select(badges).where(badges.c.tag_id == norm_id(tag_id))).first()
        return None if r is None else Badge(r.tag_id, r.nurse_id, r.revoked_at is not None)

    def nurse_for_badge(self, tag_id: str) -> str | None:
        """The nurse of a valid (registered, not revoked) badge."""
        b = self.badge(tag_id)
        return b.nurse_id if b is not None and not b.revoked else None

    def is_nurse(self, nurse_id: str) -> bool:
        """A nurse with at least one valid badge (a card record naming a nurse is accepted only then)."""
        q = sa.select(badges.c.tag_id).where(badges.c.nurse_id == nurse_id, badges.c.revoked_at.is_(None))
        with self._reader.connect() as conn:
            return conn.execute(q).first() is not None

    def legacy_wristbands(self) -> dict[str, str]:
        """Rows of the old `wristbands` table of a data folder made before the one-list rule (tag -> patient)."""
        with self._reader.connect() as conn:
            if not sa.inspect(conn).has_table(LEGACY_WRISTBANDS):
                return {}
            return dict(conn.execute(sa.text(f"SELECT tag_id, patient_id FROM {LEGACY_WRISTBANDS}")).all())

    def drop_legacy_wristbands(self) -> None:
        with self._writer.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {LEGACY_WRISTBANDS}"))

    def counts(self) -> dict[str, int]:
        with self._reader.connect() as conn:
            return {
                t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one() for t in (devices, badges)
            }
