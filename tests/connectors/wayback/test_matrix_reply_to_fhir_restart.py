"""Must show: a reply posted in a patient's Matrix room (real Synapse) reaches a FHIR server (Medplum) as a
Communication, exactly once across a restart of `renkei run` killed mid-delivery.

`renkei run` reads the room with `/sync` (matrix-replies) and delivers to the `fhir` destination through a
proxy (support/killing_proxy.py) that lets Medplum process the first transaction, then SIGKILLs the
whole `renkei run` process group before the answer reaches it. After the restart the delivery is retried
under the same key (a conditional update on the reply's record id) and Medplum still holds one
Communication for the reply. The bot's own forward post in the room is never read back.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
import sqlalchemy as sa
from support.killing_proxy import KillingProxy
from support.renkei_service import RenkeiService, wait_for

from renkei.connectors.base import ConnectorContext, TimelinePost
from renkei.connectors.matrix import MatrixTimeline
from renkei.pipelines.registry import PatientRegistry
from renkei.pipelines.schema import deliveries, messages
from renkei.pipelines.store import Store

pytestmark = pytest.mark.integration
FACILITY = "1311234567"
C = "/_matrix/client/v3"

CONFIG = """\
version: 1
connectors:
  care-matrix:
    type: matrix
    homeserver: {hs}
    user_id: "{bot}"
    token_env: RENKEI_TEST_BOT_TOKEN
    members: ["{nurse}"]
  care-matrix-replies:
    type: matrix-replies
    homeserver: {hs}
    user_id: "{bot}"
    token_env: RENKEI_TEST_BOT_TOKEN
    timeline: care-matrix
    poll_seconds: 1
  ehr-fhir:
    type: fhir
    base_url: {fhir}
    auth: env:RENKEI_TEST_MEDPLUM_TOKEN
    facility_code: "{facility}"
pipelines:
  - name: matrix-replies
    source: care-matrix-replies
    destinations: [ehr-fhir]
    trigger: {{event: true}}
    retry: {{initial_backoff_seconds: 0.5, max_backoff_seconds: 1, jitter_seconds: 0}}
"""


def test_a_matrix_reply_reaches_medplum_as_one_communication_across_a_kill(
    synapse, matrix_user, medplum, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot, nurse = matrix_user("renkei-bot"), matrix_user("nurse")
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("RENKEI_TEST_BOT_TOKEN", bot.access_token)
    env = {"RENKEI_TEST_BOT_TOKEN": bot.access_token, "RENKEI_TEST_MEDPLUM_TOKEN": medplum.token}

    # The patient's room as the forward path made it (same connector name, same data folder, same map).
    timeline = MatrixTimeline(
        "care-matrix",
        MatrixTimeline.Settings(homeserver=synapse.url, user_id=bot.user_id, token_env="RENKEI_TEST_BOT_TOKEN",
                                members=[nurse.user_id]),
        ConnectorContext(data_dir=data),
    )  # fmt: skip
    room = timeline.ensure_group("P0077")
    timeline.post(room, TimelinePost(patient_id="P0077", text="検査結果が届きました"), "forward-1")
    timeline.close()
    joined = requests.post(f"{synapse.url}{C}/join/{quote(room, safe='')}", headers=nurse.headers, json={}, timeout=10)
    assert joined.status_code == 200

    store = Store.in_data_dir(data)
    PatientRegistry(store).set_consent("P0077", True, ["all"], date(2024, 4, 1), actor="test")

    service = RenkeiService(tmp_path / "renkei.yaml", data, tmp_path / "service.log", env)
    proxy = KillingProxy(
        f"http://127.0.0.1:{medplum.port}",
        trigger=lambda method, path: method == "POST" and path.rstrip("/") == "/fhir/R4",
        on_trigger=service.kill,
    )
    (tmp_path / "renkei.yaml").write_text(
        CONFIG.format(hs=synapse.url, bot=bot.user_id, nurse=nurse.user_id, fhir=proxy.url + "/fhir/R4",
                      facility=FACILITY),
        encoding="utf-8",
    )  # fmt: skip
    reply_text = "了解しました。明日 10 時に訪問します。|^~&"  # separators too: FHIR carries them as typed
    try:
        service.start()
        sent = requests.put(
            f"{synapse.url}{C}/rooms/{quote(room, safe='')}/send/m.room.message/reply-1",
            headers=nurse.headers, json={"msgtype": "m.text", "body": reply_text}, timeout=10,
        )  # fmt: skip
        assert sent.status_code == 200, sent.text
        event_id = sent.json()["event_id"]
        wait_for("the first transaction (and the kill)", proxy.triggered.is_set, 90, service)
        assert service.kills == 1
        service.start()

        def delivered() -> bool:
            with store.read() as conn:
                states = [s for (s,) in conn.execute(sa.select(deliveries.c.state))]
            return states == ["SENT"]

        wait_for("the retried delivery to be SENT", delivered, 90, service)
    finally:
        service.stop()
        proxy.close()

    # Medplum processed the transaction twice (once unanswered) and holds one Communication for the reply.
    transactions = [f for f in proxy.forwarded if f[0] == "POST" and f[1].rstrip("/") == "/fhir/R4"]
    assert len(transactions) == 2 and all(status == 200 for _, _, status in transactions)
    found = requests.get(
        f"{medplum.base_url}/Communication",
        params={"identifier": f"urn:renkei:record-key|matrix/{event_id}"}, headers=medplum.headers, timeout=10,
    ).json()  # fmt: skip
    comms = [e["resource"] for e in found.get("entry", [])]
    assert len(comms) == 1
    comm = comms[0]
    assert comm["status"] == "completed"
    assert comm["payload"] == [{"contentString": reply_text}]
    assert comm["sender"]["identifier"] == {"system": "urn:renkei:member", "value": nurse.user_id}
    patient = requests.get(f"{medplum.base_url}/{comm['subject']['reference']}", headers=medplum.headers,
                           timeout=10).json()  # fmt: skip
    assert {"system": f"urn:oid:1.2.392.100495.20.3.51.1{FACILITY}", "value": "P0077"} in patient["identifier"]

    # The store read the reply once across the restart (the bot's forward post never), and audited it.
    with store.read() as conn:
        rows = conn.execute(sa.select(messages.c.source_key, messages.c.data_type, messages.c.patient_id)).all()
    store.close()
    assert rows == [(f"matrix/{event_id}", "REPLY", "P0077")]
    assert (data / "matrix-sync-care-matrix-replies.json").is_file()
