"""The device registry: which device, badge and wristband is which — ids only, in `devices.sqlite`.

- devices: IEEE 11073 system id (hex) or serial number -> model, specialization, owner facility.
- badges: nurse badge tag id (FeliCa IDm / NFC UID, hex) -> nurse (staff) id.
- wristbands: patient wristband/card tag id -> patient id (the EHR id, never a name).
- patients: patient ids the bedside may post for (filled by wristbands, or registered directly so that a
  card carrying a `renkei:patient:<id>` record is accepted).

A device's own user id or person id is never used as a patient (domain notes, "Safe bedside workflow"):
the patient always comes from a wristband tap. Ids are normalised (hex upper case, no separators).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from renkei.db import make_engine, upsert
from renkei.db_version import DbSchema, ensure_current

if TYPE_CHECKING:
    from renkei.pipelines.registry import PatientRegistry

DB_FILE = "devices.sqlite"

_md = sa.MetaData()
devices = sa.Table(
    "devices",
    _md,
    sa.Column("device_id", sa.String(64), primary_key=True),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("specialization", sa.String(64), nullable=False),
    sa.Column("facility", sa.Text, nullable=False),
    sa.Column("registered_at", sa.Float, nullable=False),
)
badges = sa.Table(
    "badges",
    _md,
    sa.Column("tag_id", sa.String(64), primary_key=True),
    sa.Column("nurse_id", sa.String(64), nullable=False),
    sa.Column("registered_at", sa.Float, nullable=False),
)
wristbands = sa.Table(
    "wristbands",
    _md,
    sa.Column("tag_id", sa.String(64), primary_key=True),
    sa.Column("patient_id", sa.String(64), nullable=False),
    sa.Column("registered_at", sa.Float, nullable=False),
)
patients = sa.Table(
    "patients",
    _md,
    sa.Column("patient_id", sa.String(64), primary_key=True),
    sa.Column("registered_at", sa.Float, nullable=False),
)
# The Alembic revision these tables are at (pipelines/migrations/versions/devices/): see docs/schema.md.
SCHEMA = DbSchema("devices", "devices_0001", _md)


@dataclass(slots=True, frozen=True)
class DeviceInfo:
    device_id: str
    model: str
    specialization: str
    facility: str


def norm_id(raw: str | bytes) -> str:
    """Tag and system ids as upper-case hex without separators ("02:fe:…" -> "02FE…")."""
    if isinstance(raw, bytes | bytearray):
        return bytes(raw).hex().upper()
    return raw.replace(":", "").replace("-", "").replace(" ", "").upper()


class DeviceRegistry:
    """SQLite-backed; safe to share between threads (SQLAlchemy pools connections per thread)."""

    def __init__(self, folder: Path, people: PatientRegistry | None = None) -> None:
        """`people`: the patient registry, whose "tag" identifiers (`renkei patients link P --tag ID`)
        identify wristbands too, so a wristband linked there works at the bedside without a second list."""
        self.people = people
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
    def add_device(self, device_id: str, model: str, specialization: str, facility: str = "") -> None:
        row = {
            "device_id": norm_id(device_id),
            "model": model,
            "specialization": specialization,
            "facility": facility,
            "registered_at": time.time(),
        }
        with self._writer.begin() as conn:
            upsert(conn, devices, [row], ("device_id",), ("model", "specialization", "facility"))

    def add_badge(self, tag_id: str, nurse_id: str) -> None:
        with self._writer.begin() as conn:
            row = {"tag_id": norm_id(tag_id), "nurse_id": nurse_id, "registered_at": time.time()}
            upsert(conn, badges, [row], ("tag_id",), ("nurse_id",))

    def add_wristband(self, tag_id: str, patient_id: str) -> None:
        now = time.time()
        with self._writer.begin() as conn:
            row = {"tag_id": norm_id(tag_id), "patient_id": patient_id, "registered_at": now}
            upsert(conn, wristbands, [row], ("tag_id",), ("patient_id",))
            upsert(conn, patients, [{"patient_id": patient_id, "registered_at": now}], ("patient_id",), ())

    def add_patient(self, patient_id: str) -> None:
        with self._writer.begin() as conn:
            upsert(conn, patients, [{"patient_id": patient_id, "registered_at": time.time()}], ("patient_id",), ())

    def remove_tag(self, tag_id: str) -> None:
        """A lost badge or wristband: it stops identifying anyone at once."""
        tid = norm_id(tag_id)
        with self._writer.begin() as conn:
            conn.execute(badges.delete().where(badges.c.tag_id == tid))
            conn.execute(wristbands.delete().where(wristbands.c.tag_id == tid))

    # -- looking up -------------------------------------------------------------------------------
    def device(self, device_id: str) -> DeviceInfo | None:
        with self._reader.connect() as conn:
            r = conn.execute(sa.select(devices).where(devices.c.device_id == norm_id(device_id))).first()
        return None if r is None else DeviceInfo(r.device_id, r.model, r.specialization, r.facility)

    def nurse_for_badge(self, tag_id: str) -> str | None:
        with self._reader.connect() as conn:
            return conn.execute(sa.select(badges.c.nurse_id).where(badges.c.tag_id == norm_id(tag_id))).scalar()

    def patient_for_tag(self, tag_id: str) -> str | None:
        with self._reader.connect() as conn:
            q = sa.select(wristbands.c.patient_id).where(wristbands.c.tag_id == norm_id(tag_id))
            patient = conn.execute(q).scalar()
        if patient is None and self.people is not None:
            patient = self.people.person_for("tag", norm_id(tag_id))
        return patient

    def is_nurse(self, nurse_id: str) -> bool:
        with self._reader.connect() as conn:
            return conn.execute(sa.select(badges.c.tag_id).where(badges.c.nurse_id == nurse_id)).first() is not None

    def is_patient(self, patient_id: str) -> bool:
        with self._reader.connect() as conn:
            q = sa.select(patients.c.patient_id).where(patients.c.patient_id == patient_id)
            if conn.execute(q).first() is not None:
                return True
        return self.people is not None and "tag" in self.people.identifiers(patient_id)

    def counts(self) -> dict[str, int]:
        with self._reader.connect() as conn:
            return {
                t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                for t in (devices, badges, wristbands, patients)
            }
