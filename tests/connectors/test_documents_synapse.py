"""An SS-MIX2 extended-storage PDF reaches a real Synapse as a downloadable m.file, byte-equal.

A real Engine and Store read a storage holding one scanned referral letter (main_document.pdf whose
content stream holds every byte value) and post to a `matrix` timeline on the session's Synapse. The test
reads Synapse itself: the room's events, then downloads the file from the media repository as a member
would and compares it with the file on disk.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from support.documents import PDF_KEY, PID, write_referral_pdf
from support.synapse import ssmix2_to_matrix

from renkei.config.loader import load_config
from renkei.connectors.matrix import PATIENT_STATE
from renkei.pipelines.engine import Engine
from renkei.pipelines.store import Store

pytestmark = pytest.mark.integration

C = "/_matrix/client/v3"
TOKEN_ENV = "RENKEI_TEST_MATRIX_DOCS_TOKEN"


def _get(hs, path: str, user, **params: Any) -> requests.Response:
    resp = requests.get(hs.url + path, headers=user.headers, params=params, timeout=10)
    resp.raise_for_status()
    return resp


def _run(synapse, bot, nurse, tmp_path: Path, monkeypatch) -> str:
    """One engine run from the storage under tmp_path to the session's Synapse; the patient's room id."""
    monkeypatch.setenv(TOKEN_ENV, bot.access_token)
    _storage, data, cfg = ssmix2_to_matrix(
        tmp_path, synapse, bot, TOKEN_ENV, care=f'members: ["{nurse.user_id}"]',
        rest="""
        pipelines:
          - name: docs
            source: ehr
            destinations: [care]
            gates: {consent: false}
        """,
    )  # fmt: skip
    engine = Engine(load_config(cfg), Store.in_data_dir(data), data)
    try:
        stats = engine.run_pipeline(engine.pipeline("docs"))
        assert (stats.received, stats.sent, stats.quarantined) == (1, 1, 0)
    finally:
        engine.close()
        engine.store.close()
    (room,) = _get(synapse, f"{C}/joined_rooms", bot).json()["joined_rooms"]
    requests.post(f"{synapse.url}{C}/join/{quote(room, safe='')}", headers=nurse.headers, json={}, timeout=10)
    return room


def _contents(synapse, room: str, user) -> list[dict[str, Any]]:
    chunk = _get(synapse, f"{C}/rooms/{quote(room, safe='')}/messages", user, dir="f", limit=100).json()["chunk"]
    return [e["content"] for e in chunk if e["type"] == "m.room.message"]


def test_extended_storage_pdf_reaches_synapse_byte_equal(synapse, matrix_user, tmp_path: Path, monkeypatch) -> None:
    bot, nurse = matrix_user("renkei-docs-bot"), matrix_user("docs-nurse")
    pdf = write_referral_pdf(tmp_path / "ssmix2")
    room = _run(synapse, bot, nurse, tmp_path, monkeypatch)
    text, file = _contents(synapse, room, nurse)
    assert text["body"].startswith("【文書】診療情報提供書") and "・形式 PDF" in text["body"]
    assert file["msgtype"] == "m.file" and file["body"] == "診療情報提供書.pdf"
    assert file["info"] == {"mimetype": "application/pdf", "size": len(pdf)}
    server, media_id = file["url"].removeprefix("mxc://").split("/")
    download = _get(synapse, f"/_matrix/client/v1/media/download/{server}/{media_id}", nurse)
    assert download.content == pdf and hashlib.sha256(download.content).hexdigest() == hashlib.sha256(pdf).hexdigest()
    assert download.headers["Content-Type"].startswith("application/pdf")
    state = _get(synapse, f"{C}/rooms/{quote(room, safe='')}/state/{PATIENT_STATE}/", nurse).json()
    assert state["patient_id"] == PID


def test_an_extended_storage_photo_is_an_m_image(synapse, matrix_user, tmp_path: Path, monkeypatch) -> None:
    bot, nurse = matrix_user("renkei-photo-bot"), matrix_user("photo-nurse")
    jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 8
    key = PDF_KEY.replace("^診療情報提供書^^57133-1^診療情報提供書^LN", "^褥瘡写真^^72170-4^褥瘡写真^LN")
    write_referral_pdf(tmp_path / "ssmix2", jpeg, key.replace("main_document.pdf", "main_document.jpg"))
    room = _run(synapse, bot, nurse, tmp_path, monkeypatch)
    _text, image = _contents(synapse, room, nurse)
    assert image["msgtype"] == "m.image" and image["body"] == "褥瘡写真.jpg"
    server, media_id = image["url"].removeprefix("mxc://").split("/")
    assert _get(synapse, f"/_matrix/client/v1/media/download/{server}/{media_id}", nurse).content == jpeg
