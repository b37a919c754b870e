"""The conformance matrix: every standard clause or feature renkei claims, its support and the test proving it.

This table is the one source of `docs/conformance.md` and of `renkei conformance`; a test checks that the
doc equals `render_markdown()` and that every named test exists. Support is "full", "partial" or "not".
A row's tests are "file::function" under tests/. Sections for SS-MIX2, HL7 v2.5 (JAHIS) and FHIR JP Core
list what exists today; their owners extend them.
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
    Section("SS-MIX2 standardized and extended storage (what exists today)", (
        Row("Storage round trip of every data type", "full", ("connectors/ssmix2/test_roundtrip_full.py::"
            "test_storage_covers_every_data_type_record_kind_and_flag",)),
        Row("Folder and file naming rules, defects reported", "full",
            ("connectors/ssmix2/test_defects.py::test_wrong_folder_and_bad_name",)),
        Row("ISO-2022-JP with NEC special characters and half-width katakana", "full",
            ("connectors/ssmix2/test_decode.py::test_nec_special_characters_decode_through_cp932",)),
        Row("Extended storage (CDA, PDF)", "full",
            ("connectors/ssmix2/test_extended.py::test_cda_becomes_a_document_with_flattened_narrative",)),
        Row("A real sample storage (NHO) checked", "partial",
            ("connectors/ssmix2/test_conformance_nho.py::test_check_reports_exactly_the_defects_in_the_sample",),
            "needs the shared sample; segment framing by evidence is issue 15's HL7 part"),
    )),
    Section("HL7 v2.5 as JAHIS uses it (what exists today)", (
        Row("MLLP framing, chunking, oversize frames", "full",
            ("connectors/mllp/test_framing.py::test_every_split_point_of_the_stream",)),
        Row("ACK AA/AE/AR, duplicate control ids", "full",
            ("connectors/mllp/test_listener.py::test_aa_ack_contents_and_message_stored",
             "connectors/mllp/test_listener.py::test_duplicate_control_id_is_acknowledged_but_stored_once")),
        Row("MSH-18 character sets (ISO-2022-JP)", "full",
            ("connectors/mllp/test_listener.py::test_iso_2022_jp_message_per_msh18_parses_to_records",)),
        Row("Lab results (OUL/ORU) to observations", "full",
            ("connectors/mllp/test_listener.py::test_lab_results_become_observations",)),
        Row("Segment terminator variants (LF, CRLF) reported; unescaped delimiters flagged", "not", (),
            "issue 15's HL7 part"),
    )),
    Section("FHIR JP Core (what exists today)", (
        Row("Patient with kanji and kana names", "full",
            ("connectors/fhir/test_jpcore.py::test_patient_has_kanji_and_kana_names_and_facility_identifier",)),
        Row("Laboratory Observation: JLAC10, UCUM, reference range", "full",
            ("connectors/fhir/test_jpcore.py::test_lab_result_has_jlac10_ucum_quantity_and_reference_range",)),
        Row("Condition (MEDIS, ICD-10), MedicationRequest (HOT9)", "full",
            ("connectors/fhir/test_jpcore.py::test_condition_has_medis_and_icd10_codes_and_modifier",
             "connectors/fhir/test_jpcore.py::test_prescription_is_hot9_medication_request")),
        Row("Vital-sign Observations from devices (MDC codes)", "not", (), "devices reach FHIR only as records"),
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
