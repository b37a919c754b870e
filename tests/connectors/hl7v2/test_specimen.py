"""OUL^R22 SPM into Observation.specimen: the NHO sample's real shape, a hand-written v2.5 OUL^R22 with two
specimens (HL7 v2.5 ch. 7.4.3), and results without an SPM keeping the dict they always had."""

from __future__ import annotations

from pathlib import Path

from renkei.connectors.hl7v2 import decode_iso2022jp, parse_message
from renkei.records import Observation, Record

NHO = Path(__file__).resolve().parents[3].parent / "shared" / "conformance" / "ssmix2-nho" / "storage"

# Two specimens of one lab order: SPM-2 an EIP whose placer EI has a namespace subcomponent, SPM-4 from
# HL7 table 0487 for the second, SPM-17 a DR range, SPM-18 the received time.
TWO_SPECIMENS = "\r".join(
    [
        "MSH|^~\\&|LAB|SEND|RENKEI|RCV|20240402110000||OUL^R22^OUL_R22|L1|P|2.5||||||UNICODE UTF-8",
        "PID|0001||9999013^^^^PI||山田^花子||19400312|F",
        "PV1|0001|O|01^^^^^C",
        "SPM|1|S0001&LAB||023^血清^JC10|||||||||||||202404020800^202404020805|202404020930",
        "OBR|1|123456789012345|S0001|E001^生化学的検査^99O03|||202404020800",
        "ORC|SC|123456789012345|S0001||CM",
        "OBX|1|NM|3A010000002327101^総蛋白^JC10||7.1|g/dL^g/dL^99XYZ|6.6-8.1|N|||F",
        "OBX|2|NM|3A015000002327101^アルブミン^JC10||4.2|g/dL^g/dL^99XYZ|4.1-5.1|N|||F",
        "SPM|2|^S0002||UR^Urine^HL70487|||||||||||||202404020810",
        "OBR|2|123456789012345|S0002|E003^尿検査^99O03|||202404020810",
        "OBX|1|NM|1A020000000191111^尿pH^JC10||6.0||5.0-7.5|N|||F",
    ]
)


def _obs(records: list[Record]) -> list[Observation]:
    return [r for r in records if isinstance(r, Observation)]


def test_the_nho_lab_result_carries_its_spm() -> None:
    path = next(p for p in NHO.rglob("*_OML-11_*") if p.is_file())
    text, _ = decode_iso2022jp(path.read_bytes(), "nho/OML-11")
    obs = _obs(parse_message(text, "nho/OML-11").records)
    assert len(obs) == 3
    for o in obs:
        assert o.specimen == {
            "position": "1",
            "set_id": "1",
            "id": "000000001219001",
            "type_code": "023",
            "type_display": "血清",
            "type_system": "JC10",
            "collected": "2011-12-19T15:00:00+09:00",
        }
        assert o.to_dict()["specimen"] == o.specimen


def test_each_result_takes_the_spm_of_its_group() -> None:
    serum_a, serum_b, urine = _obs(parse_message(TWO_SPECIMENS, "LAB^SEND|L1").records)
    assert (
        serum_a.specimen
        == serum_b.specimen
        == {
            "position": "1",
            "set_id": "1",
            "id": "S0001",  # the EI's id, not its namespace
            "type_code": "023",
            "type_display": "血清",
            "type_system": "JC10",
            "collected": "2024-04-02T08:00:00+09:00",  # the DR's start
            "received": "2024-04-02T09:30:00+09:00",
        }
    )
    assert urine.specimen == {
        "position": "2",
        "set_id": "2",
        "id": "S0002",  # the filler's id when the placer's is empty
        "type_code": "UR",
        "type_display": "Urine",
        "type_system": "HL70487",
        "collected": "2024-04-02T08:10:00+09:00",
    }
    assert urine.effective is not None and urine.effective.isoformat() == "2024-04-02T08:10:00+09:00"


def test_the_specimen_survives_a_round_trip_through_the_stored_dict() -> None:
    obs = _obs(parse_message(TWO_SPECIMENS, "LAB^SEND|L1").records)[2]
    again = Record.from_dict(obs.to_dict())
    assert isinstance(again, Observation) and again.specimen == obs.specimen and again == obs


def test_a_result_without_an_spm_keeps_the_dict_it_always_had() -> None:
    oru = "\r".join(
        [
            "MSH|^~\\&|LAB|SEND|RENKEI|RCV|20240402100000||ORU^R01^ORU_R01|R1|P|2.5||||||UNICODE UTF-8",
            "PID|0001||9999013^^^^PI||山田^花子||19400312|F",
            "OBR|1|123456789012345|123456789001|E001^検体検査^99O03|||202404020800",
            "OBX|1|NM|3A010000002327101^総蛋白^JC10||7.1|g/dL^g/dL^99XYZ|6.6-8.1|N|||F|||202404020800",
        ]
    )
    (obs,) = _obs(parse_message(oru, "LAB^SEND|R1").records)
    assert obs.specimen == {}
    assert "specimen" not in obs.to_dict()
    assert list(obs.to_dict()) == [
        "kind", "patient_id", "record_key", "status", "source", "warnings", "code", "local_code", "value",
        "value_type", "unit", "reference_range", "abnormal_flag", "effective", "result_status", "normalized_value",
        "normalized_unit", "device_id", "flags", "order_no",
    ]  # fmt: skip
