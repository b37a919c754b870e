"""`fhir-source`: resources changed on a FHIR server since the last scan, as canonical records.

Config (connector settings):
    base_url, auth, timeout    as for the `fhir` destination
    facility_code              10 digits; picks the patient identifier among several (optional)
    resource_types             searched in this order (default Patient, Observation, Condition,
                               AllergyIntolerance)
    page_size                  _count per page (default 100)
    overlap_seconds            re-read this much before the stored position (default 300): servers
                               commit transactions out of _lastUpdated order, and the engine skips
                               items it already holds (same key and fingerprint), so overlap is free

scan() searches each type with `_lastUpdated=gt<position - overlap>&_sort=_lastUpdated`, following next
links, and yields SourceItem(key "<Type>/<id>/_history/<versionId>", fingerprint versionId, group Type).
The position (newest meta.lastUpdated seen) is stored under <data_dir>/fhir-source/<name>.json only when a
scan has been consumed to the end, so an interrupted scan is repeated rather than skipped.
read() returns the JSON seen during the scan (else a vread); parse() maps it with parse.FhirToCanonical.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from renkei.connectors.base import ConnectorContext, Parsed, SourceItem
from renkei.connectors.fhir import _systems as S
from renkei.connectors.fhir.client import FhirClient, FhirPermanentError
from renkei.connectors.fhir.parse import FhirParseError, FhirToCanonical
from renkei.errors import InputError


class FhirSourceSettings(BaseModel):
    base_url: str
    auth: str = ""
    timeout: float = 30.0
    facility_code: str = Field(default="", pattern=r"^([0-9]{10})?$")
    resource_types: list[str] = Field(
        default_factory=lambda: ["Patient", "Observation", "Condition", "AllergyIntolerance"]
    )
    page_size: int = Field(default=100, ge=1, le=1000)
    overlap_seconds: int = Field(default=300, ge=0)


class FhirSource:
    Settings = FhirSourceSettings

    def __init__(self, name: str, settings: FhirSourceSettings, context: ConnectorContext) -> None:
        self.name = name
        self.settings = settings
        self.context = context
        self.client = FhirClient(settings.base_url, auth=settings.auth, timeout=settings.timeout)
        self.facility_system = S.PATIENT_ID_OID_PREFIX + settings.facility_code if settings.facility_code else ""
        self._state_path = Path(context.data_dir) / "fhir-source" / f"{name}.json"
        self._seen: dict[str, bytes] = {}
        self._mapper = FhirToCanonical(self.facility_system, self._resolve_patient)
        self._patient_cache = lru_cache(maxsize=4096)(self._read_patient_id)

    # -- position --------------------------------------------------------------------------------------
    def position(self) -> str:
        try:
            return json.loads(self._state_path.read_text(encoding="utf-8"))["last_updated"]
        except FileNotFoundError:
            return ""

    def _store_position(self, last_updated: str) -> None:
        self._state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"last_updated": last_updated}), encoding="utf-8")
        os.replace(tmp, self._state_path)  # atomic: never leave a half-written position

    # -- Source contract ---------------------------------------------------------------------------------
    def scan(self) -> Iterator[SourceItem]:
        since = self.position()
        newest = since
        self._seen.clear()
        for rtype in self.settings.resource_types:
            params: dict[str, Any] = {"_sort": "_lastUpdated", "_count": self.settings.page_size}
            if since:
                start = datetime.fromisoformat(since.replace("Z", "+00:00"))
                start -= timedelta(seconds=self.settings.overlap_seconds)
                params["_lastUpdated"] = "gt" + start.isoformat().replace("+00:00", "Z")
            for res in self.client.search(rtype, params):
                meta = res.get("meta", {})
                version = meta.get("versionId") or meta.get("lastUpdated", "")
                key = f"{rtype}/{res['id']}/_history/{version}"
                self._seen[key] = json.dumps(res, ensure_ascii=False, sort_keys=True).encode("utf-8")
                last = meta.get("lastUpdated", "")
                if last and (not newest or _instant(last) > _instant(newest)):
                    newest = last
                yield SourceItem(key=key, fingerprint=version, group=rtype)
        if newest and newest != since:
            self._store_position(newest)

    def read(self, key: str) -> bytes:
        if key in self._seen:
            return self._seen.pop(key)
        parts = key.split("/")
        if len(parts) != 4 or parts[2] != "_history":
            raise InputError(f"fhir-source: {key!r} is not a <Type>/<id>/_history/<version> key")
        try:
            res = self.client.vread(parts[0], parts[1], parts[3])
        except FhirPermanentError as exc:
            raise InputError(f"fhir-source: {key}: cannot be read ({exc})") from exc
        return json.dumps(res, ensure_ascii=False, sort_keys=True).encode("utf-8")

    def parse(self, key: str, raw: bytes) -> Parsed:
        try:
            resource = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FhirParseError(f"fhir-source: {key}: not JSON ({type(exc).__name__} at byte {_pos(exc)})") from exc
        if not isinstance(resource, dict):
            raise FhirParseError(f"fhir-source: {key}: not a FHIR resource")
        records = self._mapper.parse(resource)
        for record in records:
            record.source = key
        return Parsed(records=records, patient_id=records[0].patient_id, data_type=f"FHIR-{resource['resourceType']}")

    def close(self) -> None:
        self.client.close()

    # -- helpers -----------------------------------------------------------------------------------------
    def _resolve_patient(self, reference: str) -> str:
        return self._patient_cache(reference)

    def _read_patient_id(self, reference: str) -> str:
        rtype, _, rid = reference.partition("/")
        try:
            patient = self.client.read(rtype, rid)
        except FhirPermanentError as exc:
            raise FhirParseError(f"fhir-source: {reference} cannot be read ({exc})") from exc
        pid = self._mapper.patient(patient).patient_id
        if not pid:
            raise FhirParseError(f"fhir-source: {reference} has no identifier to use as the patient id")
        return pid


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _pos(exc: Exception) -> int:
    return getattr(exc, "pos", None) or getattr(exc, "start", 0)
