"""Privacy (issue 11): consent scopes bound to destinations and data categories, data minimisation per
destination, held items held on every level, level-3 pushes rated by the sensitivity rules.

The webhook here is a real loopback HTTP server; the timeline is the real built-in timeline."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from renkei.connectors.base import TimelinePost
from renkei.connectors.ssmix2.generator import generate
from renkei.errors import NotFoundError, RefusedError
from renkei.mappings.render import Renderer
from renkei.pipelines import levels
from renkei.pipelines.registry import PatientRegistry
from renkei.pipelines.schema import DeliveryState, MessageState

SECRET_ENV = "RENKEI_TEST_PRIVACY_SECRET"

TWO_DESTINATIONS = """
version: 1
connectors:
  ehr: {{type: ssmix2, root: "{root}"}}
  timeline: {{type: builtin, members: [nurse.sato]}}
  partner: {{type: webhook, url: "URL", secret_env: RENKEI_TEST_PRIVACY_SECRET}}
pipelines:
  - name: sync
    source: ehr
    destinations: [timeline, partner]
    gates: {{consent: true, consent_scope: timeline}}
"""


class Receiver(ThreadingHTTPServer):
    """Accepts every POST (200) and keeps its JSON body: what the partner system would have received."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.bodies: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/inbox"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.bodies.append(json.loads(body))
        data = json.dumps({"id": f"msg-{len(self.server.bodies)}"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def two_destinations(tmp_path: Path, make_engine, receiver: Receiver, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, "s3cret-for-tests")
    written = generate(tmp_path / "storage", patients=2, labs_per_patient=1, seed=5)
    patients = sorted({w.records[0].patient_id for w in written})

    def make(privacy: str = ""):
        text = TWO_DESTINATIONS.replace("URL", receiver.url) + privacy
        return make_engine(tmp_path / "storage", text)

    return make, patients


def _timeline_patients(engine) -> dict[str, int]:
    return {g["patient_id"]: g["posts"] for g in engine.connector("timeline").list_groups()}


def _received_patients(receiver: Receiver) -> list[str]:
    return [b["patient_id"] for b in receiver.bodies]


def test_consent_scope_timeline_sends_nothing_to_a_webhook(two_destinations, receiver: Receiver) -> None:
    make, (alice, bob) = two_destinations
    engine = make()
    registry = PatientRegistry(engine.store)
    registry.set_consent(alice, True, ["timeline"], date(2026, 4, 1))
    registry.set_consent(bob, True, ["timeline", "external"], date(2026, 4, 1))
    engine.run_pipeline(engine.pipeline("sync"))
    # Both reach the care team's timeline; only bob, who consented to external sharing, the partner.
    assert set(_timeline_patients(engine)) == {alice, bob}
    assert _received_patients(receiver) and set(_received_patients(receiver)) == {bob}
    assert alice not in json.dumps(receiver.bodies, ensure_ascii=False)
    refused = [
        d
        for m in engine.store.list_messages(patient_id=alice)
        for d in engine.store.get_message(m.id)[1]
        if d.destination == "partner"
    ]
    assert refused and {d.state for d in refused} == {DeliveryState.DEAD}
    assert {d.last_error for d in refused} == {
        f"RefusedError: patient {alice}'s consent does not cover external (gate: consent)"
    }
    # Reprocessing everything (what `renkei reprocess --all` does) still sends alice nothing.
    before = len(receiver.bodies)
    engine.reprocess([m.id for m in engine.store.list_messages(limit=1000)])
    assert alice not in _received_patients(receiver)
    assert len(receiver.bodies) >= before


def test_a_destination_gets_only_the_fields_and_categories_allowed(two_destinations, receiver: Receiver) -> None:
    make, (alice, bob) = two_destinations
    engine = make(
        """
privacy:
  destinations:
    partner: {{fields: {{patient: [sex, birth_date]}}}}
"""
    )
    registry = PatientRegistry(engine.store)
    registry.set_consent(alice, True, ["timeline", "external"], date(2026, 4, 1))
    registry.set_consent(bob, True, ["timeline", "external", "labs"], date(2026, 4, 1))  # labs only
    engine.run_pipeline(engine.pipeline("sync"))
    kinds = {(b["patient_id"], b["data_type"]): [r["kind"] for r in b["records"]] for b in receiver.bodies}
    alice_patient = [
        r for b in receiver.bodies if b["patient_id"] == alice for r in b["records"] if r["kind"] == "patient"
    ]
    assert alice_patient, kinds
    for r in alice_patient:  # minimised: who it is by id, sex and birth date; no name, address, phones
        assert set(r) == {"kind", "patient_id", "record_key", "status", "sex", "birth_date"}
        assert r["sex"] in ("M", "F") and r["birth_date"]
    # bob consented to labs only: no demographics of his reached anyone, his labs did.
    bob_kinds = {k for (pid, _dt), ks in kinds.items() if pid == bob for k in ks}
    assert "observation" in bob_kinds and "patient" not in bob_kinds
    bob_adt = engine.store.list_messages(patient_id=bob)
    adt_deliveries = [d for m in bob_adt if m.data_type == "ADT-00" for d in engine.store.get_message(m.id)[1]]
    assert adt_deliveries and {d.last_error for d in adt_deliveries} == {
        f"RefusedError: patient {bob}'s consent does not cover demographics data (gate: consent)"
    }


GATED = """
version: 1
connectors:
  ehr: {{type: ssmix2, root: "{root}"}}
  timeline: {{type: builtin, members: [nurse.sato]}}
sensitivity:
  - {{level: high, tags: [告知]}}
  - {{level: high, kinds: [observation]}}
  - {{level: low}}
pipelines:
  - name: sync
    source: ehr
    destinations: [timeline]
    gates: {{consent: true, consent_scope: timeline, approval: {{required_for: [high]}}}}
"""


@pytest.fixture
def gated(tmp_path: Path, make_engine):
    written = generate(tmp_path / "storage", patients=1, labs_per_patient=1, seed=8)
    engine = make_engine(tmp_path / "storage", GATED)
    (person,) = {w.records[0].patient_id for w in written}
    labs = [r for w in written for r in w.records if r.kind.value == "observation"]
    PatientRegistry(engine.store).set_consent(person, True, ["timeline"], date(2026, 4, 1))
    return engine, person, labs


def test_a_held_lab_result_is_absent_from_render_until_approved(gated) -> None:
    engine, person, labs = gated
    engine.run_pipeline(engine.pipeline("sync"))
    (held,) = engine.store.list_messages(patient_id=person, state=MessageState.AWAITING_APPROVAL)
    renderer = Renderer.for_site(None, None)

    def render(template: str) -> str:
        return levels.render_latest(
            engine.store, renderer, person, template=template, data_type=None, scope="timeline"
        ).text

    shown = render("auto")  # the latest that may be shown: the patient basics, not the held result
    for obs in labs:
        assert obs.code.display not in shown
    with pytest.raises(NotFoundError, match="OML-11"):
        levels.render_latest(engine.store, renderer, person, template="OML-11", data_type="OML-11", scope="timeline")
    engine.store.decide_approval(held.id, True, "ok")
    engine.deliver_due()
    shown = render("auto")
    for obs in labs:
        assert f"{obs.code.display}　{obs.value} {obs.unit}" in shown


def test_a_push_matching_a_high_sensitivity_rule_is_held_until_approved(gated) -> None:
    engine, person, _labs = gated
    timeline = engine.connector("timeline")
    group = timeline.ensure_group(person)
    PatientRegistry(engine.store).link(person, "timeline:timeline", group)
    before = len(timeline.read(group))
    post = TimelinePost(patient_id=person, text="病名の告知を行いました。", tags=["告知"])
    mid = engine.push("timeline", post, actor="dr.tanaka")
    msg, (delivery,) = engine.store.get_message(mid)
    assert msg.state == MessageState.AWAITING_APPROVAL and delivery.state == DeliveryState.HELD
    assert "sensitivity high" in msg.reason
    engine.deliver_due()
    assert len(timeline.read(group)) == before  # nothing posted while held
    # An everyday note is not held.
    everyday = engine.push("timeline", TimelinePost(patient_id=person, text="本日訪問しました。"), actor="nurse.sato")
    assert engine.store.get_message(everyday)[0].state == MessageState.SENT
    engine.store.decide_approval(mid, True, "confirmed")
    engine.deliver_due()
    texts = [p["text"] for p in timeline.read(group)]
    assert texts.count("病名の告知を行いました。") == 1


def test_a_push_is_refused_for_a_patient_whose_consent_leaves_out_notes(gated) -> None:
    engine, person, _labs = gated
    PatientRegistry(engine.store).set_consent(person, True, ["timeline", "labs"], date(2026, 4, 2))
    with pytest.raises(RefusedError, match="does not cover notes data"):
        engine.push("timeline", TimelinePost(patient_id=person, text="本日訪問しました。"), actor="nurse.sato")


def test_privacy_settings_are_validated_with_their_yaml_place(tmp_path: Path) -> None:
    from renkei.config.loader import load_config
    from renkei.errors import ConfigError

    cfg = tmp_path / "renkei.yaml"
    cfg.write_text(
        "version: 1\nconnectors:\n  timeline: {type: builtin}\n"
        "privacy:\n  destinations:\n    fax: {purpose: external}\n    timeline: {categories: [gossip]}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(cfg)
    reasons = " | ".join(f"{where}: {reason}" for where, _line, reason in caught.value.errors)
    assert "privacy.destinations.timeline.categories" in reasons and "'labs'" in reasons
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("[gossip]", "[labs]"), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(cfg)
    assert any("unknown connectors: fax" in reason for _w, _l, reason in caught.value.errors)
