"""Canonical records -> FHIR R4 resources shaped by the JP Core profiles.

    conv = JPCoreConverter(facility_code="1311234567", source_system="ssmix2")
    resource = conv.convert(record)            # a plain dict, FHIR R4 JSON
    resources = conv.convert_checked(records)  # + fhir.resources R4B structure check + code checks

Mapping per record kind (profile in meta.profile):
    Patient      -> Patient (JP_Patient): facility identifier, kanji (IDE) and kana (SYL) HumanNames
    Observation  -> Observation (JP_Observation_LabResult for JLAC10, VitalSigns for IEEE 11073, else Common);
                    its OUL^R22 SPM -> a base R4 Specimen (_specimen.py), referenced by it and its lab report
    Condition    -> Condition (JP_Condition): MEDIS 病名管理番号 + ICD-10, MEDIS modifiers as extensions
    Allergy      -> AllergyIntolerance (JP_AllergyIntolerance)
    Medication   -> MedicationRequest (JP_MedicationRequest[_Injection]) or MedicationAdministration
    Encounter    -> Encounter (JP_Encounter)
    Document     -> DocumentReference (JP_DocumentReference)
    Order        -> ServiceRequest (JP_ServiceRequest_Common)
A Note (a reply from a timeline, the way back) becomes a Communication (_note.py).

Every resource gets a deterministic id (see _ids.py) and two identifiers: `urn:renkei:record-id` = that id
(what a conditional update matches on, whatever id the server assigned) and `urn:renkei:record-key` = the
canonical record_key (so a read-back restores it). References to the patient carry both the literal
reference and the facility identifier, so a reader never needs a second request to learn the patient id.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from renkei.connectors.fhir import _systems as S
from renkei.connectors.fhir._codes import (
    allergy_type,
    condition_outcome,
    interpretation,
    mdc_context_free,
    observation_status,
)
from renkei.connectors.fhir._coverage import coverages, patient_contacts
from renkei.connectors.fhir._document import document_reference
from renkei.connectors.fhir._encounter import encounter
from renkei.connectors.fhir._ids import patient_id as patient_uuid
from renkei.connectors.fhir._ids import record_key, resource_id
from renkei.connectors.fhir._medication import medication
from renkei.connectors.fhir._note import note_communication
from renkei.connectors.fhir._reports import fold_ecgs, lab_reports
from renkei.connectors.fhir._shapes import medis_modifier, number, observation_profile, split_name
from renkei.connectors.fhir._specimen import distinct, specimen, specimen_reference
from renkei.connectors.fhir._time import to_fhir_date, to_fhir_datetime
from renkei.connectors.fhir._units import quantity
from renkei.connectors.fhir.validate import check_resource
from renkei.errors import ConfigError, InputError
from renkei.records import (
    Allergy,
    Coding,
    Condition,
    Document,
    Encounter,
    Medication,
    Note,
    Observation,
    Order,
    Patient,
    Record,
    RecordStatus,
)


def _valid(resource: dict[str, Any]) -> bool:
    try:
        check_resource(resource)
    except InputError:
        return False
    return True


class UnsupportedRecord(InputError):
    """A canonical record kind with no FHIR mapping here."""


_GENDER = {"M": "male", "F": "female", "O": "other", "U": "unknown"}
_SEVERITY = {"MI": "mild", "MO": "moderate", "SV": "severe"}
_CLINICAL = {"active", "recurrence", "relapse", "inactive", "remission", "resolved"}
_RANGE = re.compile(r"^\s*([-+]?\d*\.?\d+)?\s*[-~～〜]\s*([-+]?\d*\.?\d+)?\s*$")
_FACILITY_CODE = re.compile(r"[0-9]{10}")
NO_REACTION_TEXT = "unspecified"  # AllergyIntolerance.reaction.manifestation is 1..*: placeholder text


class JPCoreConverter:
    """Turns canonical records of one facility and one source system into JP Core shaped FHIR R4 dicts."""

    def __init__(
        self, facility_code: str, source_system: str = "renkei", jp_core_version: str = S.DEFAULT_JP_CORE_VERSION
    ) -> None:
        if not _FACILITY_CODE.fullmatch(facility_code):
            raise ConfigError("fhir: facility_code must be the 10-digit medical institution code")
        if jp_core_version not in S.JP_CORE_VERSIONS:
            raise ConfigError(f"fhir: jp_core_version must be one of {', '.join(S.JP_CORE_VERSIONS)}")
        self.jp_core_version = jp_core_version
        self.facility_code = facility_code
        self.source_system = source_system
        self.facility_system = S.PATIENT_ID_OID_PREFIX + facility_code
        self._table: dict[type, Callable[[Any], dict[str, Any]]] = {
            Patient: self._patient,
            Observation: self._observation,
            Condition: self._condition,
            Allergy: self._allergy,
            Medication: lambda m: medication(self, m),
            Encounter: lambda e: encounter(self, e),
            Document: self._document,
            Order: self._order,
            Note: lambda n: note_communication(self, n),  # the way back: a timeline reply (_note.py)
        }

    # -- public -------------------------------------------------------------------------------------
    def convert(self, record: Record) -> dict[str, Any]:
        try:
            build = self._table[type(record)]
        except KeyError:
            raise UnsupportedRecord(f"fhir: no FHIR mapping for {record.kind.value} records") from None
        return build(record)

    def convert_checked(self, records: Iterable[Record]) -> list[dict[str, Any]]:
        """Convert and check each record (R4B structure + code values + JP Core rules); raises on the first bad one."""
        resources, refused = self.convert_partitioned(records)
        if refused:
            raise refused[0][1]
        return resources

    def convert_partitioned(
        self, records: Iterable[Record]
    ) -> tuple[list[dict[str, Any]], list[tuple[int, InputError]]]:
        """(checked resources, [(index of the record, why it was refused)]): one bad record does not stop the rest."""
        records = list(records)
        ecgs, folded = fold_ecgs(self, records, _valid)  # JP Core 1.2: one ECG Observation per ECG order
        out: list[dict[str, Any]] = []
        refused: list[tuple[int, InputError]] = []
        sampled: dict[int, Observation] = {}  # results with an SPM that went out: their Specimens follow
        for i, record in enumerate(records):
            if i in ecgs:
                out.append(ecgs[i])
            if i in folded:
                continue
            try:
                resource = self.convert(record)
                check_resource(resource)
            except InputError as exc:
                refused.append((i, exc))
                continue
            out.append(resource)
            if isinstance(record, Observation) and record.specimen:
                sampled[i] = record
            if isinstance(record, Patient):  # IN1: each insurance a Coverage, refused on its own
                for cov in coverages(self, record):
                    try:
                        check_resource(cov)
                    except InputError as exc:
                        refused.append((i, exc))
                        continue
                    out.append(cov)
        for first, sampled_record in distinct(self, sampled.items()):  # base R4: no JP Core profile (_specimen.py)
            try:
                spm = specimen(self, sampled_record)
                check_resource(spm)
            except InputError as exc:
                refused.append((first, exc))
                continue
            out.append(spm)
        return out + lab_reports(self, out, _valid), refused

    def patient_reference(self, pid: str) -> dict[str, Any]:
        return {
            "reference": f"Patient/{patient_uuid(self.facility_code, pid)}",
            "identifier": {"system": self.facility_system, "value": pid},
        }

    def patient_stub(self, pid: str) -> dict[str, Any]:
        """The least Patient that carries the identity, for bundles that reference a patient they lack."""
        return {
            "resourceType": "Patient",
            "id": patient_uuid(self.facility_code, pid),
            "meta": {"profile": [S.pinned(S.PROFILE["Patient"], self.jp_core_version)]},
            "identifier": [{"system": self.facility_system, "value": pid}],
        }

    def coding(self, c: Coding) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if c.system:
            out["system"] = S.system_url(c.system)
        out["code"] = c.code
        if c.display:
            out["display"] = c.display
        return out

    def concept(self, *codings: Coding | None, text: str = "") -> dict[str, Any]:
        present = [c for c in codings if c is not None and c.code]
        out: dict[str, Any] = {}
        if present:
            out["coding"] = [self.coding(c) for c in present]
        label = text or next((c.display for c in present if c.display), "")
        if label:
            out["text"] = label
        return out

    # -- shared parts ---------------------------------------------------------------------------------
    def _base(self, rtype: str, record: Record, profile: str) -> dict[str, Any]:
        rid = resource_id(self.facility_code, self.source_system, rtype, record_key(record))
        identifiers = [{"system": S.RECORD_ID, "value": rid}]
        if record.record_key:
            identifiers.append({"system": S.RECORD_KEY, "value": record.record_key})
        meta = {"profile": [S.pinned(profile, self.jp_core_version)]}
        return {"resourceType": rtype, "id": rid, "meta": meta, "identifier": identifiers}

    # -- per kind ---------------------------------------------------------------------------------------
    def _patient(self, p: Patient) -> dict[str, Any]:
        res: dict[str, Any] = {
            "resourceType": "Patient",
            "id": patient_uuid(self.facility_code, p.patient_id),
            "meta": {"profile": [S.pinned(S.PROFILE["Patient"], self.jp_core_version)]},
            "identifier": [{"system": self.facility_system, "value": p.patient_id}],
        }
        if p.record_key:
            res["identifier"].append({"system": S.RECORD_KEY, "value": p.record_key})
        if p.status == RecordStatus.DELETED:
            res["active"] = False
        names = []
        for text, rep in ((p.name_kanji, "IDE"), (p.name_kana, "SYL")):
            if not text:
                continue
            family, given = split_name(text)
            name: dict[str, Any] = {
                "extension": [{"url": S.EN_REPRESENTATION, "valueCode": rep}],
                "use": "official",
                "text": text,
                "family": family,
            }
            if given:
                name["given"] = [given]
            names.append(name)
        if names:
            res["name"] = names
        if p.phones:
            res["telecom"] = [{"system": "phone", "value": ph} for ph in p.phones]
        if p.sex:
            if p.sex.upper() not in _GENDER:
                raise InputError(f"fhir: Patient {p.patient_id}: sex code is not one of M, F, O, U")
            res["gender"] = _GENDER[p.sex.upper()]
        if p.birth_date:
            res["birthDate"] = to_fhir_date(p.birth_date)
        if p.contacts:
            contacts = patient_contacts(p)
            if contacts:
                res["contact"] = contacts
        if p.address or p.postcode:
            addr: dict[str, Any] = {"use": "home"}
            if p.address:
                addr["text"] = p.address
            if p.postcode:
                addr["postalCode"] = p.postcode
            addr["country"] = "JP"
            res["address"] = [addr]
        return res

    def _observation(self, o: Observation) -> dict[str, Any]:
        system = o.code.system.upper()
        device = system in ("MDC", "IEEE11073")
        profile, categories = observation_profile(system, o.code.code)
        res = self._base("Observation", o, profile)
        if o.order_no:
            res["identifier"].append({"system": S.ORDER_NO, "value": o.order_no})
        if o.status == RecordStatus.DELETED:
            res["status"] = "entered-in-error"
        else:
            res["status"] = observation_status(o.result_status, device_reading=device)
        res["category"] = categories
        # Devices: the 32-bit context-free MDC code (18949 → 150021), what FHIR servers and PHD IGs expect.
        code = Coding(mdc_context_free(o.code.code), o.code.display, o.code.system) if device else o.code
        res["code"] = self.concept(code, o.local_code)
        res["subject"] = self.patient_reference(o.patient_id)
        if o.effective:
            res["effectiveDateTime"] = to_fhir_datetime(o.effective)
        if o.specimen:
            res["specimen"] = specimen_reference(self, o)
        if o.device_id:
            res["device"] = {"identifier": {"system": S.DEVICE, "value": o.device_id}}
        value = number(o.value) if o.value_type in ("NM", "SN", "") else None
        if value is not None:
            res["valueQuantity"] = quantity(value, o.unit)
            if o.unit.startswith("MDC_DIM_") and "code" in res["valueQuantity"]:
                res["valueQuantity"]["unit"] = res["valueQuantity"]["code"]  # mm[Hg], not MDC_DIM_MMHG
        elif o.value:
            res["valueString"] = o.value
        if o.abnormal_flag:
            known = interpretation(o.abnormal_flag)
            if known:
                coding = {"system": S.OBS_INTERPRETATION, "code": known["code"], "display": known["display"]}
                res["interpretation"] = [{"coding": [coding]}]
            else:
                res["interpretation"] = [{"text": o.abnormal_flag}]
        if o.reference_range:
            res["referenceRange"] = [self._range(o.reference_range, o.unit)]
        return res

    def _range(self, text: str, unit: str) -> dict[str, Any]:
        rng: dict[str, Any] = {}
        m = _RANGE.match(text)
        if m:
            low, high = (number(g) if g else None for g in m.groups())
            if low is not None:
                rng["low"] = quantity(low, unit)
            if high is not None:
                rng["high"] = quantity(high, unit)
        rng["text"] = text  # always kept: ranges like "陰性" or "<0.5" do not parse into low/high
        return rng

    def _condition(self, c: Condition) -> dict[str, Any]:
        res = self._base("Condition", c, S.PROFILE["Condition"])
        if c.status == RecordStatus.DELETED:
            res["verificationStatus"] = {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "entered-in-error"}
                ]
            }
        else:
            # R4 con-3: a problem-list-item needs clinicalStatus. The canonical value is a FHIR code (from a FHIR
            # source) or the PRB-14 outcome (HL7 table 0241, kept in JP_Condition_DiseaseOutcome); none: ongoing.
            status, is_0241 = (
                (c.clinical_status, False) if c.clinical_status in _CLINICAL else condition_outcome(c.clinical_status)
            )
            res["clinicalStatus"] = {"coding": [{"system": S.CONDITION_CLINICAL, "code": status}]}
            if is_0241:
                outcome = {"system": S.HL70241, "code": c.clinical_status.strip().upper()}
                res["extension"] = [{"url": S.DISEASE_OUTCOME, "valueCodeableConcept": {"coding": [outcome]}}]
        res["category"] = [{"coding": [{"system": S.CONDITION_CATEGORY, "code": "problem-list-item"}]}]
        icd = Coding(c.icd10, "", "I10") if c.icd10 else None
        res["code"] = self.concept(c.code, icd)
        prefixes, postfixes = [], []
        for mod in c.modifiers:
            # MEDIS modifier exchange codes for suffixes (〜の疑い, 〜術後 …) start with "8".
            ext = {
                "url": S.POSTFIX_MODIFIER if mod.code.startswith("8") else S.PREFIX_MODIFIER,
                "valueCodeableConcept": self.concept(medis_modifier(mod)),
            }
            (postfixes if mod.code.startswith("8") else prefixes).append(ext)
        if prefixes or postfixes:
            # The modifier extensions' context is Condition.code (JP Core JP_Condition_DiseasePrefixModifier,
            # ^context.expression "Condition.code"), not the resource.
            res["code"] = {"extension": prefixes + postfixes, **res["code"]}
        res["subject"] = self.patient_reference(c.patient_id)
        if c.onset:
            res["onsetDateTime"] = to_fhir_date(c.onset)
        return res

    def _allergy(self, a: Allergy) -> dict[str, Any]:
        res = self._base("AllergyIntolerance", a, S.PROFILE["AllergyIntolerance"])
        if a.status == RecordStatus.DELETED:
            res["verificationStatus"] = {"coding": [{"system": S.ALLERGY_VERIFICATION, "code": "entered-in-error"}]}
        else:
            res["clinicalStatus"] = {"coding": [{"system": S.ALLERGY_CLINICAL, "code": "active"}]}
        category, allergy_kind = allergy_type(a.category.code)
        if allergy_kind:
            res["type"] = allergy_kind
        if category:
            res["category"] = [category]
        # JP_AllergyIntolerance has no element or extension for the HL7 v2 table 0127 type itself (LA pollen,
        # PA plant …): category and type above are what it defines, so only they are sent (no private URL).
        res["code"] = self.concept(a.allergen)
        res["patient"] = self.patient_reference(a.patient_id)
        if a.reaction or a.severity:
            reaction: dict[str, Any] = {"manifestation": [{"text": a.reaction or NO_REACTION_TEXT}]}
            if a.severity.upper() in _SEVERITY:
                reaction["severity"] = _SEVERITY[a.severity.upper()]
            res["reaction"] = [reaction]
        return res

    def _document(self, d: Document) -> dict[str, Any]:
        return document_reference(self, d)

    def _order(self, o: Order) -> dict[str, Any]:
        if o.order_status == "performed":
            return self._procedure(o)
        res = self._base("ServiceRequest", o, S.PROFILE["ServiceRequest"])
        res["identifier"].append({"system": S.ORDER_NO, "value": o.order_no})
        res["status"] = "entered-in-error" if o.status == RecordStatus.DELETED else "active"
        res["intent"] = "order"
        res["category"] = [{"coding": [{"system": S.LOCAL_CS_PREFIX + "order-category", "code": o.category}]}]
        res["code"] = self.concept(o.code, text=o.text) if (o.code or o.text) else {"text": o.category}
        res["subject"] = self.patient_reference(o.patient_id)
        if o.ordered_at:
            res["authoredOn"] = to_fhir_datetime(o.ordered_at)
        return res

    def _procedure(self, o: Order) -> dict[str, Any]:
        """A performed radiology/endoscopy order (OMG-11/12) is what was done: a JP_Procedure, based on its order
        (by the order number: the ServiceRequest may live elsewhere), its findings as notes."""
        res = self._base("Procedure", o, S.PROFILE["Procedure"])
        res["identifier"].append({"system": S.ORDER_NO, "value": o.order_no})
        res["basedOn"] = [{"type": "ServiceRequest", "identifier": {"system": S.ORDER_NO, "value": o.order_no}}]
        res["status"] = "entered-in-error" if o.status == RecordStatus.DELETED else "completed"
        res["category"] = {"text": o.category}
        res["code"] = self.concept(o.code) if o.code else {"text": o.category}
        res["subject"] = self.patient_reference(o.patient_id)
        if o.ordered_at:
            res["performedDateTime"] = to_fhir_datetime(o.ordered_at)
        if o.text:
            res["note"] = [{"text": o.text}]
        return res
