"""Canonical URLs and codes JP-CLINS (電子カルテ情報共有サービス) documents and bundles use.

Read from JAMI's FSH sources (jami-fhir-jp-wg/clinical-core and jami-fhir-jp-wg/eCheckupReport; © JAMI,
CC BY-ND 4.0: only the facts are kept here, see docs/fhir-clins.md for the file each came from).
"""

from __future__ import annotations

# -- Bundle profiles (^url of each Profile) ----------------------------------------------------------------
BUNDLE_CLINS = "http://jpfhir.jp/fhir/clins/StructureDefinition/JP_Bundle_CLINS"  # six-items submission
BUNDLE_EREFERRAL = "http://jpfhir.jp/fhir/clins/StructureDefinition/JP_Bundle_eReferral"
# JP_Bundle_eDisSummary.fsh: ^url is under /eDischargeSummary/ while its meta.profile comment names
# /clins/; the ^url is the canonical a validator resolves, so that is what we claim.
BUNDLE_EDISCHARGE = "http://jpfhir.jp/fhir/eDischargeSummary/StructureDefinition/JP_Bundle_eDischargeSummary"
BUNDLE_ECHECKUP = "http://jpfhir.jp/fhir/clins/StructureDefinition/JP_Bundle_eCheckupGeneral"  # CLINS-shared one
BUNDLE_VERSION = "1"  # ^version of the CLINS bundle profiles

# -- Composition profiles ----------------------------------------------------------------------------------
COMPOSITION_EREFERRAL = "http://jpfhir.jp/fhir/eReferral/StructureDefinition/JP_Composition_eReferral"
COMPOSITION_EDISCHARGE = "http://jpfhir.jp/fhir/eDischargeSummary/StructureDefinition/JP_Composition_eDischargeSummary"
COMPOSITION_ECHECKUP = "http://jpfhir.jp/fhir/eCheckup/StructureDefinition/JP_Composition_eCheckupGeneral"

# -- eCS (clinical-core) entry profiles (input/fsh/aliases-eclinicalsummary.fsh) ----------------------------
ECS = "http://jpfhir.jp/fhir/eClinicalSummary/StructureDefinition/"
ECS_PROFILE = {
    "condition": ECS + "JP_Condition_eClinicalSummary",
    "allergy": ECS + "JP_AllergyIntolerance_eClinicalSummary",
    "contraindication": ECS + "JP_DrugContraIndication_eClinicalSummary",
    "infection": ECS + "JP_Observation_LabResult_InfectionRelated_eClinicalSummary",
    "lab": ECS + "JP_Observation_LabResult_eClinicalSummary",
    "prescription": "http://jpfhir.jp/fhir/ePrescription/StructureDefinition/JP_MedicationRequest_eClinicalSummary",
    "practitioner": ECS + "JP_Practitioner_eClinicalSummary",
}

# -- identifiers, extensions, code systems -----------------------------------------------------------------
BUNDLE_IDENTIFIER = "http://jpfhir.jp/fhir/clins/bundle-identifier"
RESOURCE_INSTANCE = "http://jpfhir.jp/fhir/core/IdSystem/resourceInstance-identifier"
INSTITUTION_NUMBER = "http://jpfhir.jp/fhir/clins/Extension/StructureDefinition/JP_eCS_InstitutionNumber"
INSURED_ID = "http://jpfhir.jp/fhir/eCS/Idsysmem/JP_Insurance_memberID"  # sic: "Idsysmem" in the source
BUNDLE_RESOURCE_TYPE = "http://jpfhir.jp/fhir/clins/CodeSystem/BundleResourceType_CS"
VERSION_NUMBER = "http://hl7.org/fhir/StructureDefinition/composition-clinicaldocument-versionNumber"
DOC_TYPECODES = "http://jpfhir.jp/fhir/Common/CodeSystem/doc-typecodes"
DOC_SUBTYPECODES = "http://jpfhir.jp/fhir/Common/CodeSystem/doc-subtypecodes"
SECTION = "http://jpfhir.jp/fhir/clins/CodeSystem/document-section"
CHECKUP_SECTION = "http://jpfhir.jp/fhir/eCheckup/CodeSystem/section-code"
CHECKUP_REPORT_CATEGORY = "urn:oid:1.2.392.200119.6.1001"
CHECKUP_PROGRAM_SERVICE = "urn:oid:1.2.392.200119.6.1002"
LIST_EMPTY_REASON = "http://terminology.hl7.org/CodeSystem/list-empty-reason"
ORGANIZATION_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"

# The six clinical information items (6情報) and the resource type each travels as.
ITEM_TYPES = {
    "condition": "Condition",
    "allergy": "AllergyIntolerance",
    "contraindication": "AllergyIntolerance",
    "infection": "Observation",
    "lab": "Observation",
    "prescription": "MedicationRequest",
}

# JLAC10 analyte codes (the first 5 characters) of JP_CLINS_CodeSystem_JLAC10_InfectionLabo_CS (clinical-core
# input/fsh/CodeSystems/JP_CLINS_CodeSystem_JLAC10_InfectionLabo.fsh, ^version 1.5.3): 梅毒STS 5E074,
# 梅毒TP抗体 5E075, HBs抗原/抗体 5F016, HCV 5F360, HIV-1 5F500, HIV-1+2抗体・p24抗原 5F512/5F560, HIV-2 5F550.
# The code system lists specimen/method combinations of these analytes; renkei matches the analyte so a
# result measured by a method the list lacks is still filed as infection information (never as a plain lab).
INFECTION_ANALYTES = ("5E074", "5E075", "5F016", "5F360", "5F500", "5F512", "5F550", "5F560")
