"""The audience gate: a post for an audience (set by a sensitivity rule) goes only to a timeline that can
keep it from the rest of the team; any other timeline refuses it (DEAD, audited), never posts it to all."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from renkei.connectors.ssmix2.generator import generate
from renkei.pipelines.registry import PatientRegistry
from renkei.pipelines.schema import MessageState

CONFIG = """
version: 1
connectors:
  ehr: {{type: ssmix2, root: "{root}"}}
  timeline: {{type: builtin, members: [nurse.sato]}}
sensitivity:
  - {{level: low, data_types: [ADT-00], audience: physicians}}
  - {{level: low}}
pipelines:
  - name: sync
    source: ehr
    destinations: [timeline]
    filters: {{data_types: [ADT-00]}}
"""


def test_an_audience_post_is_refused_by_a_timeline_that_cannot_restrict_it(tmp_path: Path, make_engine) -> None:
    written = generate(tmp_path / "storage", patients=1, labs_per_patient=0, seed=5)
    engine = make_engine(tmp_path / "storage", CONFIG)
    patient = written[0].records[0].patient_id
    PatientRegistry(engine.store).set_consent(patient, True, ["all"], date(2026, 4, 1))
    tl = engine.connector("timeline")
    tl.supports_audiences = False  # as a plugin timeline that knows nothing of audiences
    engine.run_pipeline(engine.pipeline("sync"))
    (dead,) = engine.store.list_messages(patient_id=patient, state=MessageState.DEAD)
    delivery = engine.store.get_message(dead.id)[1][0]
    assert delivery.last_error == (
        "RefusedError: timeline timeline cannot restrict a post to an audience (physicians) (docs/teams.md)"
    )
    assert tl.read(tl.group_for_patient(patient)) == []  # nothing reached the team

    del tl.supports_audiences  # the built-in timeline can: reprocessing posts it, for physicians only
    engine.reprocess([dead.id])
    (post,) = tl.read(tl.group_for_patient(patient))
    assert post["audience"] == "physicians"
    assert tl.read(tl.group_for_patient(patient), "nurse.sato") == []
