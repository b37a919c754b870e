"""`fhir` destination: canonical records to a FHIR server as one transaction bundle per payload.

Config (connector settings):
    base_url       FHIR base, e.g. https://fhir.example.jp/fhir/R4
    auth           secret reference: env:NAME or file:/path (bearer token)
    facility_code  10-digit medical institution code (JP Core patient identifier system)
    source_system  name mixed into resource ids (default "renkei")
    timeout        seconds per request
    jp_core_version  "1.1.2" (default) or "1.2.0": the JP Core release pinned in meta.profile
    max_bundle_entries  split a payload into transactions of at most this many entries (0: never).
                   Medplum refuses transactions with conditional updates beyond 8 entries
                   ("Transaction requires strict isolation but has too many entries"). Each part is
                   idempotent on its own and re-finds the patient by identifier, so a retry after a
                   partial failure converges; only cross-part atomicity is given up.

Payloads: {"records": [Record.to_dict(), …]}, one Record.to_dict() (has "kind"), or FHIR JSON (a resource
with an id as jpcore.py makes them, or a ready transaction Bundle). Records are converted, checked with
fhir.resources R4B and the code checks, and sent as conditional updates keyed by the deterministic id
(bundle.py), so a second delivery of the same payload updates the same resources and creates nothing.
The receipt is the space-separated "Type/id" list the server answered.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from renkei.connectors.base import ConnectorContext
from renkei.connectors.fhir import _systems as S
from renkei.connectors.fhir._encounter import merge_stay
from renkei.connectors.fhir.bundle import locations, transaction_bundle
from renkei.connectors.fhir.client import FhirClient
from renkei.connectors.fhir.jpcore import JPCoreConverter
from renkei.connectors.fhir.validate import check_resource
from renkei.errors import InputError, PartialDeliveryError, PermanentDeliveryError
from renkei.records import Record


class FhirPartialDelivery(PartialDeliveryError):
    """Some records of a payload were refused, each with its reason; the others were delivered.

    One bad code (e.g. a malformed allergen code) quarantines that resource only: the Patient and the
    other resources of the same file still go. `receipt` is what was delivered, `refused` the
    (record index, kind, reason) of each refused record, `quarantined` the same as texts for the engine
    (which records the delivery SENT and the message QUARANTINED with them). Reprocessing the payload
    re-sends the good resources as the same conditional updates (no duplicates) and refuses the bad ones
    again until fixed.
    """

    def __init__(self, message: str, receipt: str, refused: list[tuple[int, str, str]]) -> None:
        super().__init__(message, receipt, [_refused_one(*r) for r in refused])
        self.refused = refused


class FhirSettings(BaseModel):
    base_url: str
    auth: str = ""
    facility_code: str = Field(pattern=r"^[0-9]{10}$")
    source_system: str = "renkei"
    timeout: float = 30.0


class FhirDestinationSettings(FhirSettings):
    max_bundle_entries: int = Field(default=0, ge=0)
    jp_core_version: Literal["1.1.2", "1.2.0"] = Field(
        default="1.1.2", description="JP Core release pinned in meta.profile (canonical|version)"
    )


class FhirDestination:
    Settings = FhirDestinationSettings

    def __init__(self, name: str, settings: FhirDestinationSettings, context: ConnectorContext | None = None) -> None:
        self.name = name
        self.settings = settings
        self.context = context
        self.converter = JPCoreConverter(settings.facility_code, settings.source_system, settings.jp_core_version)
        self.client = FhirClient(settings.base_url, auth=settings.auth, timeout=settings.timeout)

    def resources_for(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        """The checked FHIR resources a payload stands for (raises PermanentDeliveryError if any is unusable)."""
        resources, refused = self._partition(payload)
        if refused:
            raise PermanentDeliveryError(_refused_text(refused))
        return resources

    def _partition(self, payload: dict[str, Any]) -> tuple[list[dict[str, Any]], list[tuple[int, str, str]]]:
        """(checked resources, refused records as (index, kind, reason)); an unusable payload raises."""
        try:
            if "records" in payload:
                records = [Record.from_dict(d) for d in payload["records"]]
            elif "kind" in payload:
                records = [Record.from_dict(payload)]
            elif "resourceType" in payload:
                check_resource(payload)
                return [payload], []
            else:
                raise InputError("fhir: payload has neither records, a record kind nor a resourceType")
        except InputError as exc:
            raise PermanentDeliveryError(str(exc)) from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise PermanentDeliveryError(f"fhir: payload is not canonical records ({type(exc).__name__})") from exc
        resources, refused = self.converter.convert_partitioned(records)
        return resources, [(i, records[i].kind.value, str(exc)) for i, exc in refused]

    def deliver(self, payload: dict[str, Any], idempotency_key: str) -> str:
        refused: list[tuple[int, str, str]] = []
        if payload.get("resourceType") == "Bundle":
            try:
                check_resource(payload)
            except InputError as exc:
                raise PermanentDeliveryError(str(exc)) from exc
            bundles = [payload]
        else:
            resources, refused = self._partition(payload)
            if not resources:
                raise PermanentDeliveryError(_refused_text(refused) if refused else "fhir: payload holds no records")
            try:
                resources = self._onto_stays(resources)
            except InputError as exc:
                raise PermanentDeliveryError(str(exc)) from exc
            try:
                bundles = self._bundles(resources)
            except ValueError as exc:
                raise PermanentDeliveryError(f"fhir: {exc}") from exc
        receipts = []
        for bundle in bundles:
            response = self.client.transaction(bundle)
            if response.get("type") != "transaction-response":
                raise PermanentDeliveryError(
                    f"fhir: server answered a {response.get('type')!r} bundle to a transaction"
                )
            receipts.extend(loc for loc in locations(response) if loc)
        receipt = " ".join(dict.fromkeys(receipts))  # a patient re-found by each part is listed once
        if self.context is not None:
            for pid in _patient_ids(bundles, self.converter.facility_system):
                self.context.audit("fhir.deliver", pid, f"{self.name}: {receipt}")
        if refused:
            delivered = len(receipts)
            raise FhirPartialDelivery(f"fhir: delivered {delivered}; {_refused_text(refused)}", receipt, refused)
        return receipt

    def _onto_stays(self, resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each Encounter (one ADT event) merged into the stay the server holds (_encounter.merge_stay), so an
        event updates the stay and a late older event never regresses it. One read per stay in the payload."""
        stays: dict[str, dict[str, Any]] = {}
        order: list[dict[str, Any] | str] = []
        for res in resources:
            if res["resourceType"] != "Encounter":
                order.append(res)
                continue
            rid = res["id"]
            if rid not in stays:
                order.append(rid)
                current = next(iter(self.client.search("Encounter", {"identifier": f"{S.RECORD_ID}|{rid}"})), None)
                stays[rid] = merge_stay(current, res) if current else res
            else:
                stays[rid] = merge_stay(stays[rid], res)
        merged = [stays[x] if isinstance(x, str) else x for x in order]
        for res in stays.values():
            check_resource(res)  # two valid events make a valid stay; a bug here must not reach the server
        return merged

    def _bundles(self, resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
        fac, stub, limit = self.converter.facility_system, self.converter.patient_stub, self.settings.max_bundle_entries
        if not limit:
            return [transaction_bundle(resources, fac, stub)]
        out: list[dict[str, Any]] = []
        chunk: list[dict[str, Any]] = []
        for res in resources:
            # patient stubs count too, so measure the bundle the chunk would become
            if chunk and len(transaction_bundle([*chunk, res], fac, stub)["entry"]) > limit:
                out.append(transaction_bundle(chunk, fac, stub))
                chunk = []
            chunk.append(res)
        out.append(transaction_bundle(chunk, fac, stub))
        return out

    def close(self) -> None:
        self.client.close()


def _refused_text(refused: list[tuple[int, str, str]]) -> str:
    """Which records were refused and why (InputError texts name fields and rules, never values)."""
    shown = "; ".join(_refused_one(*r) for r in refused[:5])
    more = f" (+{len(refused) - 5} more)" if len(refused) > 5 else ""
    return f"refused {len(refused)} record(s): {shown}{more}"


def _refused_one(index: int, kind: str, reason: str) -> str:
    return f"record {index + 1} ({kind}): {reason}"


def _patient_ids(node: Any, facility_system: str) -> list[str]:
    """Patient ids (facility identifier values) mentioned anywhere in a bundle, for the audit log."""
    found: set[str] = set()

    def walk(n: Any) -> None:
        if isinstance(n, dict):
            if n.get("system") == facility_system and isinstance(n.get("value"), str):
                found.add(n["value"])
            for v in n.values():
                walk(v)
        elif isinstance(n, list):
            for v in n:
                walk(v)

    walk(node)
    return sorted(found)
