"""What the `fhir` destination makes of the way back's records: JP Core vital-signs Observations for a
nurse's vitals report (the same builder as device readings) and a Communication for a reply."""

from __future__ import annotations

from renkei.connectors.fhir import JPCoreConverter
from renkei.connectors.fhir import _systems as S
from renkei.connectors.timeline_reply import InboundReply, parse_reply

REPORT = InboundReply("matrix", "$ev1", "P0042", "@nurse:localhost", "BT 36.8 BP 120/80 SpO2 97",
                      "2024-04-01T09:30:00+09:00")  # fmt: skip


def test_a_vitals_report_becomes_checked_jp_core_vital_sign_observations() -> None:
    parsed = parse_reply(REPORT)
    assert parsed.data_type == "VITALS" and parsed.patient_id == "P0042"
    resources = JPCoreConverter("1311234567").convert_checked(parsed.records)
    got = [(r["code"]["coding"][0]["code"], r["valueQuantity"]["value"], r["valueQuantity"]["code"]) for r in resources]
    assert got == [("150364", 36.8, "Cel"), ("150021", 120, "mm[Hg]"), ("150022", 80, "mm[Hg]"), ("150456", 97, "%")]
    for r in resources:
        assert r["meta"]["profile"][0].startswith(S.PROFILE["Observation.vital"])
        assert r["effectiveDateTime"].startswith("2024-04-01T09:30:00+09:00")
        assert r["subject"]["identifier"]["value"] == "P0042"
    # the same report read again (a restart) is the same resources: conditional updates, no duplicates
    assert [r["id"] for r in JPCoreConverter("1311234567").convert_checked(parse_reply(REPORT).records)] == [
        r["id"] for r in resources
    ]


def test_a_reply_becomes_one_communication() -> None:
    reply = InboundReply("builtin", "7", "P0042", "nurse.sato", "明日 10 時に伺います", "2024-04-01T09:30:00+09:00")
    parsed = parse_reply(reply)
    assert parsed.data_type == "REPLY"
    (comm,) = JPCoreConverter("1311234567").convert_checked(parsed.records)
    assert comm["resourceType"] == "Communication" and comm["payload"] == [{"contentString": "明日 10 時に伺います"}]
    assert {"text": "返信"} in comm["category"]
