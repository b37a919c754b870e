"""The same JP-CLINS output from HL7 v2 messages received over MLLP: each message of the generated storage,
framed and sent to a real MLLP listener, acknowledged, then parsed by that listener; the records make a
診療情報提供書 with the six items that keeps the rule table."""

from __future__ import annotations

import socket
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from support.clins_storage import CONTRAINDICATED_DRUG, FACILITY, INFECTION_CODE, hl7_messages, storage_records

from renkei.connectors.fhir import JPCoreConverter
from renkei.connectors.fhir.clins import Author, ClinsDocuments, DocumentRequest, bundle_problems
from renkei.connectors.mllp import MLLPListener
from renkei.connectors.mllp.framing import frame


def test_referral_from_mllp_messages_keeps_the_rules(tmp_path: Path) -> None:
    listener = MLLPListener("mllp", MLLPListener.Settings(port=0, encoding="iso2022_jp"))
    received: list[tuple[str, bytes]] = []

    def ingest(items):  # the engine's part: store durably, then the listener acknowledges
        start = len(received)
        received.extend((item.key, raw) for item, raw in items)
        return [(start + n, False) for n in range(len(items))]

    listener.start(ingest)
    try:
        for raw in hl7_messages():
            with socket.create_connection(("127.0.0.1", listener.port), timeout=10) as sock:
                sock.sendall(frame(raw))
                assert b"MSA|AA" in sock.recv(65536)
    finally:
        listener.stop()
    records = [r for key, raw in received for r in listener.parse(key, raw).records]
    assert {r.kind.value for r in records} >= {"patient", "condition", "allergy", "observation", "medication"}
    req = DocumentRequest(
        kind="ereferral",
        patient_id=records[0].patient_id,
        issued_at=datetime(2024, 7, 1, tzinfo=ZoneInfo("Asia/Tokyo")),
        referral_to_organization="紹介先クリニック",
        purpose="精査加療のお願い",
    )
    docs = ClinsDocuments(JPCoreConverter(FACILITY, "mllp"), Author("静岡テスト病院", "医師 一郎"))
    bundle, _ = docs.build(req, records)
    assert bundle_problems(bundle) == []
    codes = {e["resource"].get("code", {}).get("coding", [{}])[0].get("code") for e in bundle["entry"][1:]}
    assert {INFECTION_CODE, CONTRAINDICATED_DRUG} <= codes
    # the same messages read from the SS-MIX2 storage give the same items (only the source system differs)
    from_storage, _ = docs.build(
        req,
        [
            r
            for r in storage_records()
            if r.kind.value in ("patient", "condition", "allergy", "observation", "medication")
        ],
    )
    storage_codes = {
        e["resource"].get("code", {}).get("coding", [{}])[0].get("code") for e in from_storage["entry"][1:]
    }
    assert codes <= storage_codes
