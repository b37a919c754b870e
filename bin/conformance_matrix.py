"""The conformance matrix: every standard clause or feature renkei claims, its support and the test proving it.

This table is the one source of `docs/conformance.md` and of `renkei conformance`; a test checks that the
doc equals `render_markdown()` and that every named test exists. Support is "full", "partial" or "not".
A row's tests are "file::function" under tests/; a row without a test is "not" supported.
"""

from __future__ import annotations

from dataclasses import dataclass

SUPPORT = ("full", "partial", "not")


@dataclass(frozen=True, slots=True)
class Row:
    feature: str
    support: str
    tests: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    rows: tuple[Row, ...]


D = "devices/"
IEEE = "devices/test_ieee11073_conformance.py::"
PM = "devices/test_phd_manager.py::"

SECTIONS: tuple[Section, ...] = (
    Section("IEEE 11073-20601 (optimized exchange protocol)", (
        Row("MDER integers, SFLOAT/FLOAT with exact decimals", "full", (D + "test_mder.py::test_sfloat_values",
            D + "test_mder.py::test_float_negative_and_precision")),
        Row("SFLOAT/FLOAT special values NaN, NRes, +INF, -INF, reserved: never a number", "full",
            (D + "test_mder.py::test_sfloat_specials", PM + "test_special_values_are_kept_and_flagged")),
        Row("Measurement-Status bits: status explicit, value withheld", "full",
            (PM + "test_measurement_status_and_units_from_var_report",)),
        Row("APDUs AARQ/AARE/RLRQ/RLRE/ABRT/PRST encode and decode", "full",
            (D + "test_ieee11073.py::test_roundtrip", D + "test_ieee11073.py::test_aare_rlrq_rlre_abrt")),
        Row("Every declared length checked against content; error names the APDU and offset", "full",
            (IEEE + "test_an_apdu_with_a_wrong_length_field_is_rejected_naming_its_offset",
             IEEE + "test_length_errors_at_every_length_field_name_the_apdu")),
        Row("ABRT/RLRQ/RLRE reasons in events, JSON and text output", "full",
            (IEEE + "test_abort_and_release_reasons_in_json_and_text",)),
        Row("Association: standard and extended configurations, config report, per-agent memory", "full",
            (PM + "test_annex_scale_exchange_with_extended_config", PM + "test_extended_config_is_per_system_id")),
        Row("Scan reports fixed/var/MP fixed/MP var (unbuffered and buffered)", "full",
            (D + "test_ieee11073.py::test_scan_reports", PM + "test_multi_person_report")),
        Row("Grouped scan reports by the scanner's Scan-Handle-Attr-Val-Map", "full",
            (D + "test_phd_grouped.py::test_unbuffered_grouped_report_is_split_by_the_scanner_layout",)),
        Row("Time: Absolute-Time-Stamp and Date-and-Time in an attribute-value map", "full",
            (IEEE + "test_fixed_scan_report_with_time_abs_in_the_attribute_map_gives_each_observation_its_time",
             IEEE + "test_absolute_time_takes_the_device_zone_when_given")),
        Row("Time: base-offset time stamp (with its UTC offset)", "full",
            (IEEE + "test_base_offset_time_stamp_carries_its_offset",)),
        Row("Time: relative time stamp against the MDS clock (Absolute + Relative time from GET)", "partial",
            (IEEE + "test_relative_time_stamp_is_placed_against_the_mds_clock",),
            "high-resolution relative time is not read"),
        Row("A report naming a handle absent from the configuration keeps its known observations", "full",
            (IEEE + "test_a_report_naming_an_unknown_handle_keeps_the_known_observations_and_names_it",)),
        Row("Private metrics: the device's label kept, unknown codes named by partition", "full",
            (IEEE + "test_private_metric_keeps_the_devices_label_and_its_code",)),
        Row("PM-store, segment data transfer", "not", (D + "test_phd_grouped.py::"
            "test_segment_data_stays_an_unhandled_event_naming_its_type",), "reported as an unhandled event"),
        Row("Agent-side encoder (simulators)", "full", (D + "test_simulators.py::"
            "test_extended_configuration_is_sent_once_then_remembered",)),
        Row("Malformed input only ever raises the documented DeviceCodecError (fuzz)", "full",
            (D + "test_fuzz.py::test_fuzz_mder_apdu", D + "test_fuzz.py::test_fuzz_manager_step")),
    )),
    Section("IEEE 11073-104xx specializations (nomenclature: names ja/en, units UCUM and display)", (
        Row("Nomenclature tables walked against the standards' term lists", "full",
            (IEEE + "test_every_standard_term_has_names_and_every_unit_a_ucum_and_display",)),
        Row("10404 pulse oximeter (standard configs 0x0190/0x0191)", "full",
            (PM + "test_antidote_pulse_oximeter_scanner_reports", PM + "test_every_specialization_end_to_end")),
        Row("10404 fast-response SpO2 (MDC_MODALITY_FAST) as its own metric", "full",
            (IEEE + "test_fast_response_spo2_is_a_distinct_metric",)),
        Row("10407 blood pressure (0x02BC), kPa normalised to mmHg", "full",
            (PM + "test_every_specialization_end_to_end", PM + "test_measurement_status_and_units_from_var_report")),
        Row("10408 thermometer (0x0320)", "full", (PM + "test_every_specialization_end_to_end",)),
        Row("10415 weighing scale (0x05DC): weight, height, BMI", "full",
            (PM + "test_every_specialization_end_to_end",
             IEEE + "test_body_composition_height_and_activity_terms_decode_with_names_and_units")),
        Row("10417 glucose meter (0x06A4)", "partial", (PM + "test_every_specialization_end_to_end",),
            "context (meal, carbohydrate, medication) objects are named but not linked to their reading"),
        Row("10420 body composition: body fat, fat-free mass, soft lean mass, body water", "partial",
            (IEEE + "test_body_composition_height_and_activity_terms_decode_with_names_and_units",),
            "as an extended configuration; no built-in standard configuration id"),
        Row("10421 peak expiratory flow", "partial",
            (IEEE + "test_every_standard_term_has_names_and_every_unit_a_ucum_and_display",),
            "terms and units named; reading status enumeration not interpreted"),
        Row("10441 cardiovascular fitness and activity", "partial",
            (IEEE + "test_body_composition_height_and_activity_terms_decode_with_names_and_units",),
            "numerics decode; sessions and subsessions (PM-store) do not"),
        Row("10442 strength fitness", "partial",
            (IEEE + "test_every_standard_term_has_names_and_every_unit_a_ucum_and_display",),
            "numerics decode; sets and repetitions (PM-store) do not"),
    )),
    Section("NFC Forum PHDC", (
        Row("NDEF records (MB/ME/SR/IL), errors naming the offset", "full",
            (D + "test_ndef_phdc.py::test_ndeflib_records_decode_here", D + "test_ndef_phdc.py::"
             "test_ndef_errors_name_the_offset")),
        Row("PHD record header and message counter", "full", (D + "test_ndef_phdc.py::test_phd_header_errors",)),
        Row("Read-clear-poll cycle with a manager", "full",
            (D + "test_ndef_phdc.py::test_read_clear_poll_cycle_reads_a_blood_pressure_memory",)),
        Row("Chunked NDEF records (CF)", "not", (D + "test_ndef_phdc.py::test_ndef_errors_name_the_offset",),
            "refused with a reason"),
        Row("Malformed NDEF/PHD only raises DeviceCodecError (fuzz)", "full",
            (D + "test_fuzz.py::test_fuzz_ndef_phdc", D + "test_fuzz.py::test_fuzz_phd_header")),
    )),
    Section("Bluetooth LE GATT (health device profiles)", (
        Row("0x2A35 Blood Pressure Measurement (flags, kPa, time, pulse, user, status)", "full",
            (D + "test_gatt.py::test_blood_pressure_full", D + "test_gatt.py::test_blood_pressure_kpa_normalised")),
        Row("0x2A1C Temperature Measurement (degF, time, type)", "full",
            (D + "test_gatt.py::test_temperature_fahrenheit",)),
        Row("0x2A18 Glucose Measurement (kg/L, mol/L, sensor status)", "full",
            (D + "test_gatt.py::test_glucose_kg_per_l", D + "test_gatt.py::test_glucose_mol_per_l")),
        Row("0x2A9D Weight, 0x2A9C Body Composition, 0x2A5F PLX continuous", "not", (),
            "not decoded yet"),
        Row("Malformed values only raise DeviceCodecError (fuzz)", "full",
            (D + "test_gatt.py::test_malformed", D + "test_fuzz.py::test_fuzz_gatt_bp")),
    )),
    Section("SS-MIX2 standardized and extended storage", (
        Row("Storage round trip of every data type", "full", ("connectors/ssmix2/test_roundtrip_full.py::"
            "test_storage_covers_every_data_type_record_kind_and_flag",)),
        Row("Folder and file naming rules, defects reported", "full",
            ("connectors/ssmix2/test_defects.py::test_wrong_folder_and_bad_name",)),
        Row("ISO-2022-JP with NEC special characters and half-width katakana", "full",
            ("connectors/ssmix2/test_decode.py::test_nec_special_characters_decode_through_cp932",)),
        Row("Extended storage documents (CDA, PDF, images) posted as files, typed by content", "full",
            ("connectors/ssmix2/test_extended.py::test_cda_becomes_a_document_with_flattened_narrative",
             "pipelines/test_documents.py::test_extended_storage_pdf_reaches_the_builtin_timeline_byte_equal",
             "pipelines/test_documents.py::test_a_file_whose_content_is_not_what_its_name_says_is_quarantined",
             "connectors/test_documents_synapse.py::test_extended_storage_pdf_reaches_synapse_byte_equal")),
        Row("One message per file: a second MSH quarantines the file", "full",
            ("connectors/ssmix2/test_framing_rules.py::test_a_file_holding_a_second_message_is_quarantined_whole",)),
        Row("Every standard data type summarised for the care team", "full",
            ("mappings/test_render_ssmix2.py::test_a_generated_storage_with_every_type_renders_each_specifically",
             "mappings/test_render_ssmix2.py::test_every_data_type_in_the_nho_sample_renders_a_specific_summary")),
        Row("A real sample storage (NHO) checked", "full",
            ("connectors/ssmix2/test_conformance_nho.py::test_check_reports_exactly_the_defects_in_the_sample",),
            "needs the reference sample beside the repository"),
    )),
    Section("HL7 v2.5 as JAHIS uses it", (
        Row("MLLP framing, chunking, oversize frames", "full",
            ("connectors/mllp/test_framing.py::test_every_split_point_of_the_stream",)),
        Row("ACK AA/AE/AR, duplicate control ids", "full",
            ("connectors/mllp/test_listener.py::test_aa_ack_contents_and_message_stored",
             "connectors/mllp/test_listener.py::test_duplicate_control_id_is_acknowledged_but_stored_once")),
        Row("AR for corrupted encoding characters in the default separators", "full",
            ("connectors/mllp/test_one_message.py::test_corrupted_msh2_is_answered_ar_in_the_default_separators",)),
        Row("MSH-18 character sets (ISO-2022-JP)", "full",
            ("connectors/mllp/test_listener.py::test_iso_2022_jp_message_per_msh18_parses_to_records",)),
        Row("Lab results (OUL/ORU) to observations", "full",
            ("connectors/mllp/test_listener.py::test_lab_results_become_observations",)),
        Row("ED (encapsulated data) and RP (reference pointer) OBX to documents posted as files", "full",
            ("connectors/mllp/test_ed_documents.py::test_an_ed_pdf_reaches_the_timeline_byte_equal",
             "connectors/mllp/test_ed_documents.py::"
             "test_ed_data_that_is_not_what_it_says_or_not_base64_is_quarantined_with_the_field",
             "connectors/mllp/test_ed_documents.py::test_an_rp_becomes_a_document_with_its_url")),
        Row("CR terminates segments; LF and CRLF accepted and reported; final terminator optional", "full",
            ("connectors/ssmix2/test_framing_rules.py::"
             "test_storage_with_other_separators_reads_every_record_with_one_warning_per_file",
             "connectors/mllp/test_one_message.py::"
             "test_lf_separated_payload_without_final_terminator_is_read_with_one_warning")),
        Row("Truncation decided by evidence (open escape, cut JIS sequence, missing required fields)", "partial",
            ("connectors/ssmix2/test_framing_rules.py::test_cut_inside_a_jis_escape_is_truncated_with_the_offset",
             "connectors/mllp/test_one_message.py::test_a_payload_cut_inside_a_segment_is_ae_with_the_evidence"),
            "required fields known for the common segments; a cut exactly at a segment end leaves no evidence"),
        Row("Unescaped delimiters inside ST/TX/FT values flagged", "full",
            ("connectors/ssmix2/test_framing_rules.py::test_unescaped_component_separator_in_a_text_value_is_flagged",)),
        Row("One message per frame: a second MSH is AR, stored and quarantined", "full",
            ("connectors/mllp/test_one_message.py::"
             "test_a_frame_with_two_messages_is_stored_quarantined_and_answered_ar",)),
        Row("Corrections ordered by source version (MSH-7), not by content", "full",
            ("connectors/mllp/test_corrections.py::test_timeline_after_each_arrival",)),
        Row("Code shapes per system (JLAC10, YJ, HOT, MEDIS) flagged, never dropped", "full",
            ("connectors/hl7v2/test_input_rules.py::test_code_shapes_per_system",
             "connectors/hl7v2/test_input_rules.py::test_a_16_character_jlac10_result_is_flagged_and_kept")),
        Row("One patient-id rule for every intake and command", "full",
            ("connectors/mllp/test_one_message.py::test_patient_ids_outside_the_rule_are_ae_naming_pid3_never_the_value",
             "connectors/hl7v2/test_input_rules.py::test_patient_id_rule_refuses_paths_markup_quotes")),
    )),
    Section("FHIR JP Core", (
        Row("Patient with kanji and kana names", "full",
            ("connectors/fhir/test_jpcore.py::test_patient_has_kanji_and_kana_names_and_facility_identifier",)),
        Row("Laboratory Observation: JLAC10, UCUM, reference range", "full",
            ("connectors/fhir/test_jpcore.py::test_lab_result_has_jlac10_ucum_quantity_and_reference_range",)),
        Row("Observation category slice; LabResult / VitalSigns / BodyMeasurement by code", "full",
            ("connectors/fhir/test_jpcore_profiles.py::test_profile_and_categories_per_code",)),
        Row("Device readings: 32-bit MDC codes and UCUM units", "full",
            ("connectors/fhir/test_jpcore_profiles.py::test_device_reading_uses_32_bit_mdc_code_and_ucum",)),
        Row("OBX-11 and table 0127 per the HL7 v2-to-FHIR ConceptMaps", "full",
            ("connectors/fhir/test_code_tables.py::test_obx11_per_code_in_connector_and_spec",
             "connectors/fhir/test_code_tables.py::test_table_0127_per_code")),
        Row("meta.profile pinned to the configured JP Core version (1.1.x or 1.2)", "full",
            ("connectors/fhir/test_jpcore_profiles.py::test_version_is_pinned_from_the_config",)),
        Row("Condition (MEDIS, ICD-10): modifiers on code, outcome, clinicalStatus", "full",
            ("connectors/fhir/test_jpcore_profiles.py::test_condition_modifiers_sit_on_code_and_clinical_status_is_set",)),
        Row("MedicationRequest: rpNumber, orderInRp, authoredOn, MERIT-9, usage, days", "full",
            ("connectors/fhir/test_jpcore_stays.py::test_prescription_carries_rp_order_in_rp_authored_on_merit9_usage_and_days",)),
        Row("Encounter per stay", "partial",
            ("connectors/fhir/test_jpcore_stays.py::test_one_encounter_per_stay_in_progress_until_discharge",),
            "each event rewrites the stay's Encounter whole"),
        Row("Per-record refusal: one bad code refuses that resource only", "full",
            ("connectors/fhir/test_jpcore_profiles.py::test_bad_allergen_code_quarantines_only_the_allergy",)),
        Row("Rule table derived from the JP Core sources, checked on every emitted resource", "partial",
            ("connectors/fhir/test_jpcore_nho.py::test_every_resource_from_the_nho_storage_keeps_the_rule_table",),
            "value-set bindings and FHIRPath invariants are not checked"),
        Row("DocumentReference with the document itself (data or url, size, SHA-1 hash; a CDA as CDA)", "full",
            ("connectors/fhir/test_document_reference.py::test_a_pdf_goes_with_its_bytes_size_and_sha1",
             "connectors/fhir/test_document_reference.py::test_a_cda_labelled_as_cda_carries_the_cda_not_its_text")),
        Row("Specimen from OUL^R22 SPM, referenced by the lab Observations and DiagnosticReport", "partial",
            ("connectors/hl7v2/test_specimen.py::test_each_result_takes_the_spm_of_its_group",
             "connectors/fhir/test_specimen.py::test_each_spm_becomes_one_base_r4_specimen",
             "connectors/fhir/test_specimen.py::test_observations_and_the_report_reference_their_specimens"),
            "base R4 with no meta.profile: JP Core 1.1.2/1.2.0 define no Specimen profile"),
        Row("Coverage, DiagnosticReport; JP-CLINS", "not", (),
            "not built yet"),
    )),
)


def render_markdown() -> str:
    """The whole matrix as Markdown: the text of docs/conformance.md and of `renkei conformance`."""
    out = [
        "# Conformance matrix",
        "",
        "What renkei supports of each standard it claims, and the test that proves it. Support: **full**,",
        "**partial** (what is missing is said) or **not**. Generated from `bin/conformance_matrix.py`",
        "(`renkei conformance --markdown > docs/conformance.md`); a test keeps the two identical.",
    ]
    for section in SECTIONS:
        out += ["", f"## {section.title}", "", "| Clause / feature | Support | Test | Note |", "|---|---|---|---|"]
        for row in section.rows:
            tests = "<br>".join(f"`{t}`" for t in row.tests) or "—"
            out.append(f"| {row.feature} | {row.support} | {tests} | {row.note} |")
    return "\n".join(out) + "\n"


def render_text() -> str:
    """The matrix for a terminal: one line per clause, support first."""
    out: list[str] = []
    for section in SECTIONS:
        out += ["", section.title, "-" * len(section.title)]
        for row in section.rows:
            note = f" ({row.note})" if row.note else ""
            out.append(f"  [{row.support:<7}] {row.feature}{note}")
            out += [f"             test: {t}" for t in row.tests]
    return "\n".join(out).lstrip("\n") + "\n"
