"""Must show: a vital sign posted by a nurse on the built-in timeline reaches an EHR's MLLP listener as ORU^R01,
exactly once across a restart of `renkei run` killed mid-delivery.

The EHR is a real socket (support/mllp_ehr.py). On the first message it receives, it SIGKILLs the whole
`renkei run` process group before answering: the message was read, stored and sent, but its ACK never
came. After the restart renkei sends it again under the same MSH-10 (derived from the stored delivery's
idempotency key), the EHR acknowledges it, and it keeps exactly one message for that control id.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from support.mllp_ehr import MllpEhr
from support.renkei_service import RenkeiService, wait_for

from renkei.connectors.builtin_timeline import BuiltinTimeline
from renkei.connectors.builtin_timeline_source import post_reply
from renkei.connectors.hl7v2 import decode_iso2022jp, read_header, split
from renkei.pipelines.registry import PatientRegistry
from renkei.pipelines.schema import deliveries, messages
from renkei.pipelines.store import Store

pytestmark = pytest.mark.integration

CONFIG = """\
version: 1
connectors:
  timeline: {{type: builtin, members: [nurse.sato]}}
  replies: {{type: builtin-replies}}
  ehr:
    type: mllp-sender
    host: 127.0.0.1
    port: {port}
    ack_timeout: 3
    attempts: 1
    msh: {{sending_application: RENKEI, sending_facility: HOMECARE, receiving_application: EHR,
           receiving_facility: HOSP, charset: "~ISO IR87"}}
pipelines:
  - name: vitals-back
    source: replies
    filters: {{data_types: [VITALS]}}
    destinations: [ehr]
    trigger: {{interval_seconds: 1}}
    retry: {{initial_backoff_seconds: 0.5, max_backoff_seconds: 1, jitter_seconds: 0}}
"""


def test_a_nurse_vitals_post_reaches_the_ehr_as_one_oru_r01_across_a_kill(tmp_path: Path) -> None:
    service: RenkeiService | None = None

    def ehr_answer(raw: bytes) -> str | None:
        if service is not None and service.kills == 0:
            service.kill()  # mid-delivery: the message is on the wire, its ACK never leaves
            return None
        return "AA"

    ehr = MllpEhr(ehr_answer)
    data = tmp_path / "data"
    config = tmp_path / "renkei.yaml"
    config.write_text(CONFIG.format(port=ehr.port), encoding="utf-8")
    data.mkdir()
    store = Store.in_data_dir(data)
    PatientRegistry(store).set_consent("P0042", True, ["all"], date(2024, 4, 1), actor="test")
    timeline = BuiltinTimeline.open(data, members=["nurse.sato"])
    timeline.ensure_group("P0042")
    post_reply(timeline, "P0042", "nurse.sato", "ＢＴ　３６．８ BP 120/80 P 72 SpO2 97")
    post_reply(timeline, "P0042", "nurse.sato", "本日は落ち着いています")  # a note: not this pipeline's type
    timeline.close()

    service = RenkeiService(config, data, tmp_path / "service.log")
    try:
        service.start()
        wait_for("the first (killed) delivery", lambda: service.kills == 1, 60, service)
        service.start()
        wait_for("the resent message to be stored by the EHR", lambda: ehr.stored, 60, service)

        def sent() -> bool:
            with store.read() as conn:
                states = conn.execute(sa.select(deliveries.c.state).where(deliveries.c.destination == "ehr")).all()
            return [s for (s,) in states] == ["SENT"]

        wait_for("the delivery to be SENT", sent, 30, service)
    finally:
        service.stop()
        ehr.close()

    # Sent twice on the wire (once killed), kept once by the EHR: the same control id both times.
    assert len(ehr.received) == 2
    ids = {read_header(raw).control_id for raw in ehr.received}
    assert len(ids) == 1 and ids == set(ehr.stored)
    assert ehr.received[0] == ehr.received[1] or _body(ehr.received[0]) == _body(ehr.received[1])

    raw = next(iter(ehr.stored.values()))
    assert b"\x1b$B" in raw  # ISO-2022-JP on the wire, as MSH-18 says
    text, defects = decode_iso2022jp(raw, "ehr")
    assert not defects
    msg = split(text, "ehr")
    h = read_header(raw)
    assert h.message_type == "ORU^R01" and h.get(18) == "~ISO IR87" and h.get(12) == "2.5"
    assert (h.comp(3), h.comp(4), h.comp(5), h.comp(6)) == ("RENKEI", "HOMECARE", "EHR", "HOSP")
    assert msg.c(msg.first("PID"), 3, 1) == "P0042"
    obx = list(msg.all("OBX"))
    got = [(msg.c(s, 3, 1), msg.c(s, 5, 1), msg.c(s, 6, 1), msg.c(s, 16, 1)) for s in obx]
    assert got == [
        ("19292", "36.8", "Cel", "nurse.sato"),
        ("18949", "120", "mm[Hg]", "nurse.sato"),
        ("18950", "80", "mm[Hg]", "nurse.sato"),
        ("18474", "72", "/min", "nurse.sato"),
        ("19384", "97", "%", "nurse.sato"),
    ]
    assert "バイタルサイン" in text  # OBR-4's text went through ISO-2022-JP and back

    # The store read each reply once, across the restart; the note was filtered, not sent.
    with store.read() as conn:
        rows = conn.execute(sa.select(messages.c.source_key, messages.c.state, messages.c.data_type)).all()
    store.close()
    assert sorted((k, t) for k, _, t in rows) == [("builtin/1", "VITALS"), ("builtin/2", "REPLY")]


def _body(raw: bytes) -> bytes:
    """The message without MSH-7 (the send time, which a resend may renew)."""
    msh, _, rest = raw.partition(b"\r")
    fields = msh.split(b"|")
    fields[6] = b""
    return b"|".join(fields) + b"\r" + rest
