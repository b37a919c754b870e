"""OUL^R22 SPM -> FHIR R4 Specimen, referenced by each lab Observation and lab DiagnosticReport of its results.

    ref = specimen_reference(conv, observation)      # Observation.specimen (jpcore._observation)
    for i, o in distinct(conv, [(i, observation), …]):  # convert_partitioned: one Specimen per specimen
        resource = specimen(conv, o)

Profile: JP Core 1.1.2 and 1.2.0 define no Specimen profile (JP_Specimen_Common is in the 1.3 development line;
JP-CLINS has a provisional JP_Specimen), so this is a base R4 Specimen with no meta.profile. The type codes
follow JP-CLINS's JP_Specimen examples: the JLAC10 material code (SS-MIX2 SPM-4 `023^血清^JC10`) under JP
Core's JP_ObservationSampleMaterialCode_CS, HL7 table 0487 under v2-0487; any other system as the codec names it.

Identity: the SPM-2 specimen number (identifier `urn:renkei:specimen-no`: JP Core names no system for it) with
the patient; without one, the order number and the SPM's place in the message. So the results of one specimen
share one Specimen, and a re-sent or corrected result updates the same Specimen (conditional update).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from renkei.connectors.fhir import _systems as S
from renkei.connectors.fhir._ids import resource_id
from renkei.connectors.fhir._time import to_fhir_datetime
from renkei.errors import InputError
from renkei.records import Observation

if TYPE_CHECKING:
    from renkei.connectors.fhir.jpcore import JPCoreConverter

SPECIMEN_NO = "urn:renkei:specimen-no"  # SPM-2 of the source; JP Core names no system for a specimen number
JLAC10_MATERIAL = "http://jpfhir.jp/fhir/core/CodeSystem/JP_ObservationSampleMaterialCode_CS"
V2_0487 = "http://terminology.hl7.org/CodeSystem/v2-0487"
_TYPE_SYSTEMS = {"JC10": JLAC10_MATERIAL, "JLAC10": JLAC10_MATERIAL, "HL70487": V2_0487}


def _key(o: Observation) -> str:
    spm = o.specimen
    if spm.get("id"):
        return f"{o.patient_id}|specimen|{spm['id']}"
    return f"{o.patient_id}|specimen|{o.order_no or o.source}|{spm.get('position', '')}"


def specimen_id(conv: JPCoreConverter, o: Observation) -> str:
    return resource_id(conv.facility_code, conv.source_system, "Specimen", _key(o))


def specimen_reference(conv: JPCoreConverter, o: Observation) -> dict[str, Any]:
    """Observation.specimen (0..1 in R4); DiagnosticReport.specimen (0..*) lists its results' ones."""
    sid = specimen_id(conv, o)
    return {"reference": f"Specimen/{sid}", "type": "Specimen", "identifier": {"system": S.RECORD_ID, "value": sid}}


def _when(spm: dict[str, str], key: str, field: str) -> str:
    try:
        return to_fhir_datetime(datetime.fromisoformat(spm[key]))
    except ValueError:
        raise InputError(f"fhir: Specimen: {field} is not an ISO 8601 date-time") from None


def _type(spm: dict[str, str]) -> dict[str, Any]:
    coding: dict[str, Any] = {}
    name = spm.get("type_system", "")
    if name:
        coding["system"] = _TYPE_SYSTEMS.get(name.upper()) or S.system_url(name)
    coding["code"] = spm["type_code"]
    if spm.get("type_display"):
        coding["display"] = spm["type_display"]
    out: dict[str, Any] = {"coding": [coding]}
    if spm.get("type_display"):
        out["text"] = spm["type_display"]
    return out


def specimen(conv: JPCoreConverter, o: Observation) -> dict[str, Any]:
    spm = o.specimen
    sid = specimen_id(conv, o)
    res: dict[str, Any] = {"resourceType": "Specimen", "id": sid, "identifier": [{"system": S.RECORD_ID, "value": sid}]}
    if spm.get("id"):
        res["identifier"].append({"system": SPECIMEN_NO, "value": spm["id"]})
    if spm.get("type_code"):
        res["type"] = _type(spm)
    res["subject"] = conv.patient_reference(o.patient_id)
    if spm.get("received"):
        res["receivedTime"] = _when(spm, "received", "SPM-18 received time")
    if o.order_no:
        res["request"] = [{"type": "ServiceRequest", "identifier": {"system": S.ORDER_NO, "value": o.order_no}}]
    if spm.get("collected"):
        res["collection"] = {"collectedDateTime": _when(spm, "collected", "SPM-17 collection time")}
    return res


def distinct(conv: JPCoreConverter, observations: Iterable[tuple[int, Observation]]) -> list[tuple[int, Observation]]:
    """The first (index, result) of each distinct specimen among these results, in order."""
    first: dict[str, tuple[int, Observation]] = {}
    for i, o in observations:
        if o.specimen:
            first.setdefault(specimen_id(conv, o), (i, o))
    return list(first.values())
