"""A nurse's reported vitals (the way back: MDC-coded, no device) are the `vitals` data category, not labs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from renkei.mappings.vital_text import read_vital_text
from renkei.pipelines.privacy import category_of
from renkei.records import Coding, Observation


def test_reported_vitals_are_vitals_and_a_lab_stays_a_lab() -> None:
    at = datetime(2024, 4, 1, 9, 0, tzinfo=timezone(timedelta(hours=9)))
    (reading,) = read_vital_text("SpO2 97", patient_id="P1", measured_at=at, reporter="n", record_key="k")
    assert category_of(reading.to_dict()) == "vitals"
    lab = Observation(patient_id="P1", code=Coding("3A010000002327101", "総蛋白", "JC10"), value="7.1")
    assert category_of(lab.to_dict()) == "labs"
