"""FHIR canonical URLs renkei writes: JP Core profiles, code systems and identifier systems.

Checked against JP Core v1.x (jami-fhir-jp-wg/jp-core-v1x, input/fsh/aliases-jpcore.fsh). Where JP Core
gives both an OID and a URL for a code system (HOT9: urn:oid:1.2.392.200119.4.403.1), the URL is what its
profiles bind, so that is what we write; the OIDs are still accepted when reading.

Systems under `urn:renkei:` are renkei's own: JP Core defines no identifier for "this record of that
source", and a local HL7 v2 coding system (99XYZ) has no public URL.
"""

from __future__ import annotations

from renkei.connectors.fhir._codes import coding_systems

# HL7 v2 coding-system names (what canonical Coding.system holds) <-> FHIR system URLs: the shipped table
# mappings/specs/codes/v2_coding_system_to_fhir.yaml, shared with the level-4 mapping specs.
V2_TO_FHIR = coding_systems()

# JP Core releases renkei writes for; `meta.profile` pins the one chosen in the config (canonical|version).
JP_CORE_VERSIONS = ("1.1.2", "1.2.0")
DEFAULT_JP_CORE_VERSION = "1.1.2"

JP = "http://jpfhir.jp/fhir/core/StructureDefinition/"
PROFILE = {
    "Patient": JP + "JP_Patient",
    "Observation.lab": JP + "JP_Observation_LabResult",
    "Observation.vital": JP + "JP_Observation_VitalSigns",
    "Observation.common": JP + "JP_Observation_Common",
    "Observation.body": JP + "JP_Observation_BodyMeasurement",
    "Condition": JP + "JP_Condition",
    "AllergyIntolerance": JP + "JP_AllergyIntolerance",
    "MedicationRequest": JP + "JP_MedicationRequest",
    "MedicationRequest.injection": JP + "JP_MedicationRequest_Injection",
    "MedicationAdministration": JP + "JP_MedicationAdministration",
    "MedicationAdministration.injection": JP + "JP_MedicationAdministration_Injection",
    "Encounter": JP + "JP_Encounter",
    "DocumentReference": JP + "JP_DocumentReference",
    "ServiceRequest": JP + "JP_ServiceRequest_Common",
    "Procedure": JP + "JP_Procedure",
    "Coverage": JP + "JP_Coverage",
}

EN_REPRESENTATION = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation"
PREFIX_MODIFIER = "http://jpfhir.jp/fhir/core/Extension/StructureDefinition/JP_Condition_DiseasePrefixModifier"
DISEASE_OUTCOME = "http://jpfhir.jp/fhir/core/Extension/StructureDefinition/JP_Condition_DiseaseOutcome"
HL70241 = "http://jpfhir.jp/fhir/core/CodeSystem/HL70241"  # PRB-14 outcome codes (JP Core's HL7 table 0241)
POSTFIX_MODIFIER = "http://jpfhir.jp/fhir/core/Extension/StructureDefinition/JP_Condition_DiseasePostfixModifier"

# JP Core: a facility's doctor id, `urn:oid:1.2.392.100495.20.3.41.1` + 10-digit facility code (JP_Practitioner;
# jp-core-v1x invariant valid-system-local-doctorID).
PRACTITIONER_ID_OID_PREFIX = "urn:oid:1.2.392.100495.20.3.41.1"
# SS-MIX2 clinical department codes: JP Core 1.2 writes the URL, 1.1.x the OID
# (jp-core-v1x input/fsh/aliases-jpcore.fsh $JP_Department_SsMix_CS, the OID in its comment).
DEPARTMENT_SSMIX2 = {
    "1.1.2": "urn:oid:1.2.392.200250.2.2.2",
    "1.2.0": "http://jami.jp/SS-MIX2/CodeSystem/ClinicalDepartment",
}

# Prescription identifiers and codes, 1.1.x OIDs / 1.2 URLs (jp-core-v1x input/fsh/aliases-jpcore.fsh:
# $JP_Medication_RPGroupNumber, $JP_MedicationAdministrationIndex, $JP_MedicationUnitMERIT9_CS,
# $JP_MedicationUsageJAMI_CS, each URL with its OID in the comment).
RP_NUMBER = {
    "1.1.2": "urn:oid:1.2.392.100495.20.3.81",
    "1.2.0": "http://jpfhir.jp/fhir/core/mhlw/IdSystem/Medication-RPGroupNumber",
}
ORDER_IN_RP = {
    "1.1.2": "urn:oid:1.2.392.100495.20.3.82",
    "1.2.0": "http://jpfhir.jp/fhir/core/mhlw/IdSystem/MedicationAdministrationIndex",
}
MERIT9_UNIT = {
    "1.1.2": "urn:oid:1.2.392.100495.20.2.101",
    "1.2.0": "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/MedicationUnitMERIT9Code",
}
JAMI_USAGE = {"1.1.2": "urn:oid:1.2.392.200250.2.2.20.20", "1.2.0": "http://jami.jp/CodeSystem/MedicationUsage"}
MEDICATION_PROFILE = JP + "JP_Medication"

# JP Core: the patient id of a facility, `urn:oid:1.2.392.100495.20.3.51.1` + 10-digit facility code.
PATIENT_ID_OID_PREFIX = "urn:oid:1.2.392.100495.20.3.51.1"

JLAC10 = V2_TO_FHIR["JC10"]
HOT9 = V2_TO_FHIR["HOT9"]
MEDIS_DISEASE = V2_TO_FHIR["MDCDX2"]  # 病名管理番号 (8 digits)
MEDIS_MODIFIER = "http://medis.or.jp/CodeSystem/master-disease-modExCode"  # 修飾語交換用コード (4 chars)
ICD10_JP = V2_TO_FHIR["I10"]
ROUTE_HL70162 = V2_TO_FHIR["HL70162"]
MDC = V2_TO_FHIR["MDC"]
UCUM = "http://unitsofmeasure.org"
V2_0127 = V2_TO_FHIR["HL70127"]
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
# JP Core category code systems (jp-core-v1x input/fsh/aliases-jpcore.fsh)
SIMPLE_OBS_CATEGORY = "http://jpfhir.jp/fhir/core/CodeSystem/JP_SimpleObservationCategory_CS"
VITAL_SIGNS_CATEGORY = "http://jpfhir.jp/fhir/core/CodeSystem/JP_ObservationVitalSignsCategory_CS"
BODY_MEASUREMENT_CATEGORY = "http://jpfhir.jp/fhir/core/CodeSystem/JP_ObservationBodyMeasurementCategory_CS"
OBS_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ALLERGY_VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"

# renkei's own identifier systems (see module docstring).
RECORD_ID = "urn:renkei:record-id"  # value: the deterministic resource id; the conditional-update key
RECORD_KEY = "urn:renkei:record-key"  # value: the canonical record_key, so a read-back restores it
ORDER_NO = "urn:renkei:order-no"
DEVICE = "urn:renkei:device"
ENCOUNTER_EVENT = "urn:renkei:encounter-event"
VISIT_NUMBER = "urn:renkei:visit-number"  # PV1-19 of the source; JP Core names no system for it
LOCAL_CS_PREFIX = "urn:renkei:v2-cs:"  # + the HL7 v2 coding-system name, for local/unknown systems

FHIR_TO_V2 = {url: name for name, url in V2_TO_FHIR.items()}
FHIR_TO_V2.update(
    {
        "urn:oid:1.2.392.200119.4.504": "JC10",
        "urn:oid:1.2.392.200119.4.403.1": "HOT9",
        "http://hl7.org/fhir/sid/icd-10": "I10",
    }
)


def system_url(v2_name: str) -> str:
    """The FHIR system URL for an HL7 v2 coding-system name; local names get a reversible renkei URN."""
    if not v2_name:
        return ""
    if "://" in v2_name or v2_name.startswith("urn:"):
        return v2_name
    name = v2_name.upper()
    return V2_TO_FHIR.get(_V2_ALIASES.get(name, name), LOCAL_CS_PREFIX + v2_name)


# Other spellings senders use for a system the table knows (CWE-3 "LOINC", a CDA codeSystem OID).
_V2_ALIASES = {"LOINC": "LN", "2.16.840.1.113883.6.1": "LN"}


def v2_name(url: str) -> str:
    if url in FHIR_TO_V2:
        return FHIR_TO_V2[url]
    if url.startswith(LOCAL_CS_PREFIX):
        return url[len(LOCAL_CS_PREFIX) :]
    return url


def department_system(jp_core_version: str) -> str:
    return DEPARTMENT_SSMIX2.get(jp_core_version, DEPARTMENT_SSMIX2[DEFAULT_JP_CORE_VERSION])


def pinned(profile_url: str, version: str) -> str:
    """A profile canonical with its JP Core version, as meta.profile carries it ("…/JP_Patient|1.1.2")."""
    return f"{profile_url}|{version}" if version else profile_url
