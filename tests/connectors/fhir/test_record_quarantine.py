"""Per-record quarantine through the engine: an ADT-00 whose AL1 allergen code is malformed still delivers its
Patient (and the file's other resources); the delivery is SENT, the message is QUARANTINED with the allergy's
reason (shown by `renkei messages show`), and a reprocess after the file is fixed sends the allergy.

Once in-process against a recording FHIR endpoint (responses), once against the real test FHIR server
(Medplum, marked integration)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import responses
from click.testing import CliRunner

from renkei.bin.cli import main
from renkei.config.loader import load_config
from renkei.connectors.ssmix2.generator import generate
from renkei.pipelines.engine import Engine
from renkei.pipelines.schema import DeliveryState, MessageState
from renkei.pipelines.store import Store

FACILITY = "1311234567"
BASE = "https://fhir.example.jp/fhir/R4"
TOKEN_ENV = "RENKEI_TEST_MEDPLUM_TOKEN"
BAD_AL1 = "AL1|1|FA^食物アレルギー^HL70127|5A10024110^ソバ^JC10|MO^中等度^HL70128|じんましん"  # 10 of 17 characters
GOOD_AL1 = "AL1|1|FA^食物アレルギー^HL70127|5A100241102300601^ソバ^JC10|MO^中等度^HL70128|じんましん"
CONFIG = """
version: 1
connectors:
  ehr: {{type: ssmix2, root: "{root}"}}
  fhir: {{type: fhir, base_url: "{base}", facility_code: "{facility}", auth: "{auth}", source_system: ssmix2}}
pipelines:
  - name: tofhir
    source: ehr
    destinations: [fhir]
    gates: {{consent: false}}
"""


def _storage(root: Path, seed: int, pid: str = "") -> tuple[Path, str]:
    """A one-patient storage (ADT-00 + one lab file) whose ADT-00 carries the malformed AL1; (ADT-00 path, pid).

    `pid` renames the generator's patient (its ids are per index, the same every run) so a shared FHIR
    server never holds an earlier run's patient under it."""
    written = generate(root, patients=1, labs_per_patient=1, seed=seed)
    old = written[0].records[0].patient_id
    adt = next(w.key for w in written if "/ADT-00/" in w.key)
    if pid:
        for w in written:
            text = (root / w.key).read_bytes().decode("iso2022_jp").replace(old, pid)
            parts = w.key.replace(old, pid).split("/")
            parts[:2] = [pid[:3], pid[3:6]]
            target = root.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(text.encode("iso2022_jp"))
            (root / w.key).unlink()
            if w.key == adt:
                adt = "/".join(parts)
    _set_al1(root / adt, BAD_AL1)
    return root / adt, pid or old


def _set_al1(path: Path, al1: str) -> None:
    text = path.read_bytes().decode("iso2022_jp")
    segments = [s for s in text.split("\r") if s and not s.startswith("AL1|")]
    path.write_bytes(("\r".join([*segments, al1]) + "\r").encode("iso2022_jp"))


def _engine(tmp_path: Path, root: Path, base: str, auth: str = "", store_url: str = "") -> Engine:
    cfg = tmp_path / "renkei.yaml"
    cfg.write_text(CONFIG.format(root=root, base=base, facility=FACILITY, auth=auth), encoding="utf-8")
    data = Path(os.environ["RENKEI_DATA"])
    return Engine(load_config(cfg), Store(store_url) if store_url else Store.in_data_dir(data), data)


@pytest.fixture(params=[pytest.param("", id="sqlite"), pytest.param("pg", id="pg", marks=pytest.mark.integration)])
def store_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The store on SQLite in the data folder, or on a fresh database of a real PostgreSQL server."""
    if not request.param:
        yield ""
        return
    from support import postgres as postgres_support

    with postgres_support.start_postgres() as server:
        url = server.create_database(f"renkei_q{uuid.uuid4().hex[:8]}")
        yield url


def _adt_message(engine: Engine):
    rows = engine.store.list_messages()
    return next(m for m in rows if "/ADT-00/" in m.source_key)


def _recording_server(sent: list[dict]) -> None:
    def answer(request):
        bundle = json.loads(request.body)
        sent.append(bundle)
        entries = [
            {"response": {"status": "201 Created", "location": f"{e['resource']['resourceType']}/{i}/_history/1"}}
            for i, e in enumerate(bundle["entry"])
        ]
        return 200, {}, json.dumps({"resourceType": "Bundle", "type": "transaction-response", "entry": entries})

    responses.add_callback(responses.POST, BASE, callback=answer, content_type="application/fhir+json")


def _types(bundle: dict) -> list[str]:
    return [e["resource"]["resourceType"] for e in bundle["entry"]]


@responses.activate
def test_a_bad_allergen_quarantines_the_allergy_while_the_patient_goes_and_a_fix_sends_it(
    tmp_path: Path, store_url: str
) -> None:
    sent: list[dict] = []
    _recording_server(sent)
    adt_path, pid = _storage(tmp_path / "storage", seed=3)
    engine = _engine(tmp_path, tmp_path / "storage", BASE, store_url=store_url)
    try:
        stats = engine.run_pipeline(engine.pipeline("tofhir"))
        assert stats.sent == 2 and stats.dead == 0
        adt_bundle = next(b for b in sent if "Patient" in _types(b))
        assert "AllergyIntolerance" not in _types(adt_bundle)  # the Patient (and its measurements) went alone
        assert adt_bundle["entry"][0]["resource"]["identifier"][0]["value"] == pid
        msg = _adt_message(engine)
        assert msg.state == MessageState.QUARANTINED
        assert "quarantined records at fhir: record 2 (allergy)" in msg.reason
        assert "JLAC10 needs 17 characters" in msg.reason and "got 10 characters" in msg.reason
        assert "5A10024110" not in msg.reason and pid not in msg.reason  # the reason names the rule, not data
        _, deliveries = engine.store.get_message(msg.id)
        assert [d.state for d in deliveries] == [DeliveryState.SENT]
        assert deliveries[0].receipt.startswith("Patient/0")
        counts = engine.store.counts()["tofhir"]
        assert counts == {"QUARANTINED": 1, "SENT": 1}

        if not store_url:  # the CLI keeps its store open until the process ends: on SQLite only, in-process
            shown = CliRunner().invoke(main, ["messages", "show", str(msg.id), "--data", os.environ["RENKEI_DATA"]])
            assert shown.exit_code == 0, shown.output
            assert "[QUARANTINED]" in shown.output
            assert "record 2 (allergy): fhir: invalid AllergyIntolerance" in shown.output
            assert "delivery 1 -> fhir: SENT" in shown.output

        # Reprocessing the unfixed file re-sends the good resources (same conditional updates) and
        # quarantines the allergy again: never DEAD, never a lost Patient.
        engine.reprocess([msg.id])
        assert _adt_message(engine).state == MessageState.QUARANTINED
        assert len(sent) == 3 and "AllergyIntolerance" not in _types(sent[-1])

        _set_al1(adt_path, GOOD_AL1)  # the EHR export is fixed
        out = engine.reprocess([msg.id])
        assert out == {msg.id: "RECEIVED"}
        assert _types(sent[-1]).count("AllergyIntolerance") == 1
        after = _adt_message(engine)
        assert after.state == MessageState.SENT and after.reason == ""
        _, deliveries = engine.store.get_message(msg.id)
        assert [d.state for d in deliveries] == [DeliveryState.SENT] * 3
        assert deliveries[0].last_error.startswith("reprocessed; was quarantined records at fhir")
        assert deliveries[-1].last_error == ""
    finally:
        engine.close()
        engine.store.close()


@pytest.mark.integration
def test_against_medplum_the_patient_is_stored_and_the_allergy_waits_for_the_fix(
    tmp_path: Path, medplum, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, medplum.token)
    adt_path, pid = _storage(tmp_path / "storage", seed=3, pid=str(uuid.uuid4().int)[:10])
    engine = _engine(tmp_path, tmp_path / "storage", medplum.base_url, auth=f"env:{TOKEN_ENV}")
    system = f"urn:oid:1.2.392.100495.20.3.51.1{FACILITY}"
    try:
        engine.run_pipeline(engine.pipeline("tofhir"))
        msg = _adt_message(engine)
        assert msg.state == MessageState.QUARANTINED and "record 2 (allergy)" in msg.reason
        assert medplum.count("Patient", identifier=f"{system}|{pid}") == 1
        _, deliveries = engine.store.get_message(msg.id)
        patient_ref = deliveries[0].receipt.split()[0]
        assert patient_ref.startswith("Patient/")
        assert medplum.count("Observation", subject=patient_ref) >= 2  # height and weight of the ADT-00 + labs
        assert medplum.count("AllergyIntolerance", patient=patient_ref) == 0

        _set_al1(adt_path, GOOD_AL1)
        engine.reprocess([msg.id])
        assert _adt_message(engine).state == MessageState.SENT
        assert medplum.count("AllergyIntolerance", patient=patient_ref) == 1
        assert medplum.count("Patient", identifier=f"{system}|{pid}") == 1  # updated, never duplicated
    finally:
        engine.close()
        engine.store.close()
