"""The patient registry: one person across systems, and their consent.

Identifiers are (system, value) pairs pointing at a person (see schema.py for the systems). A message's
patient id from source S resolves through ("ehr:S", id); with no entry the id is taken as the person id
itself, so a single-EHR setup needs no linking. Consent is per person with a date and a scope; the
engine's gates refuse to deliver anything for a person without granted consent in scope, and refuse to
post to a timeline group not linked to that person. Every change is audited.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa

from renkei.db import chunked, upsert
from renkei.errors import RefusedError
from renkei.pipelines.audit import AuditEntry, append, current_actor
from renkei.pipelines.schema import registry_consent, registry_identifiers
from renkei.pipelines.store import Store

ALL = "all"


@dataclass(slots=True, frozen=True)
class Consent:
    person_id: str
    state: str  # granted | withdrawn
    scope: tuple[str, ...]
    consented_on: str
    recorded_by: str

    def allows(self, scope: str) -> bool:
        return self.state == "granted" and (ALL in self.scope or scope in self.scope)


class PatientRegistry:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- identifiers ------------------------------------------------------------------------------
    def link(self, person_id: str, system: str, value: str) -> None:
        """Point (system, value) at person_id; refuses to move an identifier that names someone else."""
        self.link_many(system, {value: person_id})

    def link_many(self, system: str, person_by_value: dict[str, str]) -> None:
        """Several links in one system, in one transaction (all or none)."""
        if not person_by_value:
            return
        with self.store.write() as conn:
            values = sorted(person_by_value)
            for chunk in chunked(values):
                for value, owner in conn.execute(
                    sa.select(registry_identifiers.c.value, registry_identifiers.c.person_id).where(
                        registry_identifiers.c.system == system, registry_identifiers.c.value.in_(chunk)
                    )
                ):
                    if owner != person_by_value[value]:
                        raise RefusedError(f"{system} {value} is already linked to person {owner}; unlink it first")
            now, actor = time.time(), current_actor()
            rows = [
                {"system": system, "value": v, "person_id": p, "linked_at": now, "linked_by": actor}
                for v, p in person_by_value.items()
            ]
            upsert(conn, registry_identifiers, rows, ("system", "value"), ())
            append(
                conn, [AuditEntry("registry.link", p, f"identifier:{system}", v) for v, p in person_by_value.items()]
            )

    def unlink(self, person_id: str, system: str, value: str) -> bool:
        with self.store.write() as conn:
            n = conn.execute(
                registry_identifiers.delete().where(
                    registry_identifiers.c.system == system,
                    registry_identifiers.c.value == value,
                    registry_identifiers.c.person_id == person_id,
                )
            ).rowcount
            if n:
                append(conn, [AuditEntry("registry.unlink", person_id, f"identifier:{system}", value)])
            return bool(n)

    def person_for(self, system: str, value: str) -> str | None:
        with self.store.read() as conn:
            return conn.execute(
                sa.select(registry_identifiers.c.person_id).where(
                    registry_identifiers.c.system == system, registry_identifiers.c.value == value
                )
            ).scalar()

    def person_of_patient(self, source: str, patient_id: str) -> str:
        """The person behind an EHR patient id from `source` (the id itself when not linked)."""
        return self.person_for(f"ehr:{source}", patient_id) or patient_id

    def persons_by_any_ehr(self, patient_ids: Sequence[str]) -> dict[str, str]:
        """The person each EHR patient id of any source is linked to (the first source by name), else the
        id itself: for a timeline, which sees patient ids without their source."""
        out = {pid: pid for pid in patient_ids}
        q = sa.select(registry_identifiers.c.value, registry_identifiers.c.system, registry_identifiers.c.person_id)
        with self.store.read() as conn:
            for chunk in chunked(sorted(out)):
                rows = conn.execute(
                    q.where(registry_identifiers.c.system.startswith("ehr:"), registry_identifiers.c.value.in_(chunk))
                    .order_by(registry_identifiers.c.system.desc())
                ).all()
                out.update((value, person) for value, _system, person in rows)  # the first system is written last
        return out

    def persons_linked_on(self, system: str) -> list[str]:
        """Every person with an identifier in `system` (e.g. a group on timeline:care)."""
        with self.store.read() as conn:
            q = sa.select(registry_identifiers.c.person_id).where(registry_identifiers.c.system == system)
            return sorted(set(conn.execute(q).scalars()))

    def persons_of_patients(self, source: str, patient_ids: Sequence[str]) -> dict[str, str]:
        """Batch form of person_of_patient."""
        found = self._values_to_persons(f"ehr:{source}", patient_ids)
        return {pid: found.get(pid, pid) for pid in patient_ids}

    def _values_to_persons(self, system: str, values: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        unique = sorted(set(values))
        with self.store.read() as conn:
            for chunk in chunked(unique):
                out.update(
                    conn.execute(
                        sa.select(registry_identifiers.c.value, registry_identifiers.c.person_id).where(
                            registry_identifiers.c.system == system,
                            registry_identifiers.c.value.in_(chunk),
                        )
                    ).all()
                )
        return out

    def linked_values(self, person_ids: Sequence[str], system: str) -> dict[str, str]:
        """person -> their (first) identifier in `system`, for those that have one."""
        out: dict[str, str] = {}
        unique = sorted(set(person_ids))
        with self.store.read() as conn:
            for chunk in chunked(unique):
                rows = conn.execute(
                    sa.select(registry_identifiers.c.person_id, registry_identifiers.c.value)
                    .where(
                        registry_identifiers.c.system == system,
                        registry_identifiers.c.person_id.in_(chunk),
                    )
                    .order_by(registry_identifiers.c.value.desc())
                ).all()
                out.update(rows)
        return out

    def consents(self, person_ids: Sequence[str]) -> dict[str, Consent]:
        out: dict[str, Consent] = {}
        unique = sorted(set(person_ids))
        with self.store.read() as conn:
            for chunk in chunked(unique):
                for r in conn.execute(sa.select(registry_consent).where(registry_consent.c.person_id.in_(chunk))):
                    out[r.person_id] = Consent(r.person_id, r.state, tuple(r.scope), r.consented_on, r.recorded_by)
        return out

    def identifiers(self, person_id: str) -> dict[str, list[str]]:
        with self.store.read() as conn:
            rows = conn.execute(
                sa.select(registry_identifiers.c.system, registry_identifiers.c.value)
                .where(registry_identifiers.c.person_id == person_id)
                .order_by(registry_identifiers.c.system, registry_identifiers.c.value)
            ).all()
        out: dict[str, list[str]] = {}
        for system, value in rows:
            out.setdefault(system, []).append(value)
        return out

    def linked_value(self, person_id: str, system: str) -> str | None:
        values = self.identifiers(person_id).get(system, [])
        return values[0] if values else None

    def persons(self) -> list[str]:
        with self.store.read() as conn:
            ids = set(conn.execute(sa.select(registry_identifiers.c.person_id).distinct()).scalars())
            ids |= set(conn.execute(sa.select(registry_consent.c.person_id)).scalars())
        return sorted(ids)

    # -- consent ----------------------------------------------------------------------------------
    def set_consent(
        self, person_id: str, granted: bool, scope: list[str], consented_on: date, note: str = "", actor: str = ""
    ) -> Consent:
        """`actor`: the renkei user who recorded it (the web console's session); default the current actor."""
        if not scope:
            raise RefusedError("a consent needs a scope (e.g. all, timeline, lab, vitals)")
        actor = actor or current_actor()
        row: dict[str, Any] = {
            "person_id": person_id,
            "state": "granted" if granted else "withdrawn",
            "scope": sorted(set(scope)),
            "consented_on": consented_on.isoformat(),
            "recorded_at": time.time(),
            "recorded_by": actor,
            "note": note,
        }
        with self.store.write() as conn:
            upsert(conn, registry_consent, [row], ("person_id",), tuple(k for k in row if k != "person_id"))
            detail = f"{row['state']} {','.join(row['scope'])} on {row['consented_on']}"
            append(conn, [AuditEntry("registry.consent", person_id, f"consent:{person_id}", detail, actor=actor)])
        return Consent(person_id, row["state"], tuple(row["scope"]), row["consented_on"], actor)

    def consent(self, person_id: str) -> Consent | None:
        with self.store.read() as conn:
            r = conn.execute(sa.select(registry_consent).where(registry_consent.c.person_id == person_id)).first()
        if r is None:
            return None
        return Consent(r.person_id, r.state, tuple(r.scope), r.consented_on, r.recorded_by)
