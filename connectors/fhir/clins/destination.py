"""`fhir-clins` destination: JP-CLINS documents and 6情報 bundles to a FHIR server or to a folder for upload.

Config (connector settings, `FhirClinsSettings`):
    mode              "server" (PUT Bundle?identifier=… to `base_url`) or "folder" (one JSON file per bundle)
    base_url, auth, timeout   the FHIR server (auth: env:NAME or file:/path holding a bearer token)
    folder            where files for upload are written (mode folder)
    facility_code     10-digit 医療機関番号; jp_core_version "1.1.2" | "1.2.0"; source_system
    organization_name, author_name, author_id   the issuing facility and the signing doctor
    contraindication_severities  AL1-4 severities of a drug allergy that make it a 薬剤禁忌 (default [SV])
    default_document  what a payload without "document" becomes (default six_items): the engine's own
                      payloads ({"patient_id", "data_type", "records"} per source file) carry none

Payload: {"document": "ereferral" | "discharge_summary" | "checkup_report" | "six_items", "patient_id": …,
"records": [Record.to_dict(), …], "issued_at": ISO 8601 (default: now), and the document's own facts:
referral_to_organization, referral_to_doctor, purpose, present_illness, chief_complaint, instruction,
category, insured_id, report_category, program_service}.

Idempotent: a bundle's identifier (and so its file name and the server's match) depends only on the
facility, the patient, the document kind and the records, so delivering again replaces the same bundle
and creates nothing new. Server errors retry per the shared HTTP policy (FhirRetryableError); a folder
write that fails with an OSError is retryable; unusable input is permanent with the reason. Refused
records (another patient, a bad code) are quarantined with their reasons while the rest is delivered
(FhirPartialDelivery). Every delivery is audited with the patient id. A file is written under a temporary
name, fsynced and renamed, so an uploader never sees half a file; its name is the bundle's uuid, never a
patient identifier.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, model_validator

from renkei.connectors.base import ConnectorContext
from renkei.connectors.fhir.client import FhirClient
from renkei.connectors.fhir.clins._parties import Author
from renkei.connectors.fhir.clins.collection import six_item_bundles
from renkei.connectors.fhir.clins.documents import ClinsDocuments, DocumentRequest
from renkei.connectors.fhir.clins.items import ClinsItems
from renkei.connectors.fhir.destination import FhirPartialDelivery, _refused_text
from renkei.connectors.fhir.jpcore import JPCoreConverter
from renkei.errors import InputError, PermanentDeliveryError, RetryableDeliveryError
from renkei.records import Record

REQUEST_FIELDS = (
    "referral_to_organization",
    "referral_to_doctor",
    "purpose",
    "present_illness",
    "chief_complaint",
    "instruction",
    "category",
    "insured_id",
    "report_category",
    "program_service",
)


class FhirClinsSettings(BaseModel):
    model_config = {"extra": "forbid"}
    mode: Literal["server", "folder"] = "server"
    base_url: str = ""
    auth: str = ""
    timeout: float = 30.0
    folder: Path | None = Field(None, description="files for upload (mode folder)")
    facility_code: str = Field(pattern=r"^[0-4][0-9][1-3][0-9]{7}$", description="10-digit 医療機関番号")
    source_system: str = "renkei"
    jp_core_version: Literal["1.1.2", "1.2.0"] = "1.1.2"
    organization_name: str = Field(min_length=1, description="the issuing facility (文書作成機関)")
    author_name: str = Field(min_length=1, description="the signing doctor (文書作成責任者)")
    author_id: str = Field("", description="the doctor's staff code at the facility")
    contraindication_severities: list[str] = Field(default_factory=lambda: ["SV"])
    default_document: Literal["ereferral", "discharge_summary", "checkup_report", "six_items"] = Field(
        "six_items", description="what a payload without `document` (e.g. the engine's per-file records) becomes"
    )

    @model_validator(mode="after")
    def _target(self) -> FhirClinsSettings:
        if self.mode == "server" and not self.base_url:
            raise ValueError("fhir-clins: mode server needs base_url")
        if self.mode == "folder" and self.folder is None:
            raise ValueError("fhir-clins: mode folder needs folder")
        return self


def write_atomically(path: Path, data: bytes) -> None:
    """Write under a temporary name in the same folder, fsync, rename: readers see all of it or nothing."""
    fd, tmp = tempfile.mkstemp(prefix=".", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class FhirClinsDestination:
    Settings = FhirClinsSettings

    def __init__(self, name: str, settings: FhirClinsSettings, context: ConnectorContext | None = None) -> None:
        self.name = name
        self.settings = settings
        self.context = context
        conv = JPCoreConverter(settings.facility_code, settings.source_system, settings.jp_core_version)
        self.items = ClinsItems(conv, tuple(settings.contraindication_severities))
        author = Author(settings.organization_name, settings.author_name, settings.author_id)
        self.documents = ClinsDocuments(conv, author, self.items)
        self.client = (
            FhirClient(settings.base_url, auth=settings.auth, timeout=settings.timeout)
            if settings.mode == "server"
            else None
        )

    def bundles_for(self, payload: dict[str, Any]) -> tuple[list[dict[str, Any]], list[tuple[int, str, str]]]:
        """(checked bundles, refused records); raises PermanentDeliveryError when no bundle can be made."""
        try:
            kind = payload.get("document") or self.settings.default_document
            patient_id = str(payload.get("patient_id") or "")
            if not patient_id:
                raise InputError("fhir-clins: payload has no patient_id")
            records = [Record.from_dict(d) for d in payload.get("records") or []]
            zone = ZoneInfo(self.context.timezone if self.context else "Asia/Tokyo")
            at = datetime.fromisoformat(payload["issued_at"]) if payload.get("issued_at") else datetime.now(zone)
            if kind == "six_items":
                return six_item_bundles(
                    self.items, patient_id, records, insured_id=str(payload.get("insured_id") or ""), at=at
                )
            if kind not in ("ereferral", "discharge_summary", "checkup_report"):
                raise InputError(
                    "fhir-clins: document must be ereferral, discharge_summary, checkup_report or six_items"
                )
            req = DocumentRequest(kind=kind, patient_id=patient_id, issued_at=at)
            for key in REQUEST_FIELDS:
                if payload.get(key):
                    setattr(req, key, str(payload[key]))
            bundle, refused = self.documents.build(req, records)
            return [bundle], refused
        except InputError as exc:
            raise PermanentDeliveryError(str(exc)) from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise PermanentDeliveryError(f"fhir-clins: payload is not usable ({type(exc).__name__})") from exc

    def deliver(self, payload: dict[str, Any], idempotency_key: str) -> str:
        bundles, refused = self.bundles_for(payload)
        receipts = [self._server(b) if self.client is not None else self._file(b) for b in bundles]
        receipt = " ".join(receipts)
        if self.context is not None:
            kind = payload.get("document") or self.settings.default_document
            self.context.audit("fhir-clins.deliver", str(payload.get("patient_id")), f"{self.name}: {kind} {receipt}")
        if refused:
            raise FhirPartialDelivery(f"fhir-clins: delivered {receipt}; {_refused_text(refused)}", receipt, refused)
        return receipt

    def _server(self, bundle: dict[str, Any]) -> str:
        assert self.client is not None
        ident = bundle["identifier"]
        body = {k: v for k, v in bundle.items() if k != "id"}  # servers refuse a client id on create-by-update
        search = {"identifier": f"{ident['system']}|{ident['value']}"}
        stored = self.client.conditional_update(body, search)
        return f"Bundle/{stored.get('id', '')}"

    def _file(self, bundle: dict[str, Any]) -> str:
        folder = self.settings.folder
        assert folder is not None
        name = f"{bundle['type']}-{bundle['id']}.json"
        data = json.dumps(bundle, ensure_ascii=False, indent=1, sort_keys=False).encode("utf-8")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / name
            if not (path.exists() and path.read_bytes() == data):
                write_atomically(path, data)
        except OSError as exc:
            raise RetryableDeliveryError(
                f"fhir-clins: cannot write {name} in the upload folder ({exc.strerror})"
            ) from exc
        return name

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
