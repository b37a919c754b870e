"""Level 2 viewer links: strict URL templates, encoded ids, clear errors for unlinked patients, and a card
posted through the real engine onto the built-in timeline only when the gates allow it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from renkei.config.loader import DEFAULT_CONFIG, load_config
from renkei.config.schema import ViewerConfig
from renkei.connectors.builtin_timeline import BuiltinTimeline
from renkei.connectors.ssmix2 import SSMIX2Source
from renkei.connectors.viewer_links import UnlinkedViewerError, check_viewers, template_fields, viewer_url
from renkei.errors import ConfigError, NotFoundError, RefusedError
from renkei.pipelines.engine import Engine
from renkei.pipelines.levels import link_card, post_link_card
from renkei.pipelines.registry import PatientRegistry
from renkei.pipelines.schema import audit_log
from renkei.pipelines.store import Store

SAMPLES = DEFAULT_CONFIG.parent / "samples" / "ssmix2"
IDLINK = ViewerConfig(title="ID-LINK で見る", url_template="https://viewer.example.jp/patient?pid={viewer_id}")
HB = ViewerConfig(title="HumanBridge", url_template="https://hb.example.jp/view/{facility}/patients/{viewer_id}")


def test_viewer_url_fills_and_percent_encodes_the_id() -> None:
    assert viewer_url(IDLINK, "A12345") == "https://viewer.example.jp/patient?pid=A12345"
    # A slash or query characters in an id cannot add path segments or parameters.
    assert viewer_url(IDLINK, "a/b&c=d") == "https://viewer.example.jp/patient?pid=a%2Fb%26c%3Dd"
    assert viewer_url(HB, "00123", "F-01") == "https://hb.example.jp/view/F-01/patients/00123"


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("https://v.example.jp/{name}", "not {name}"),
        ("https://v.example.jp/p/{viewer_id}?n={patient_name}", "never carry a patient's name"),
        ("https://v.example.jp/p/{viewer_id}?k={kana}", "never carry a patient's name"),
        ("https://v.example.jp/p/{viewer_id!r}", "no format spec or conversion"),
        ("https://v.example.jp/p/{viewer_id:>12}", "no format spec or conversion"),
        ("https://v.example.jp/p/{viewer_id.__class__}", "not {viewer_id.__class__}"),
        ("https://v.example.jp/p/{0}", "not {0}"),
        ("https://v.example.jp/p/", "must contain {viewer_id}"),
        ("ftp://v.example.jp/p/{viewer_id}", "absolute http(s) URL"),
        ("javascript:alert({viewer_id})", "absolute http(s) URL"),
        ("/p/{viewer_id}", "absolute http(s) URL"),
        ("https://{facility}.example.jp/p/{viewer_id}", "fixed host"),
        ("https://v.example.jp/p/{viewer_id", "not a valid template"),
    ],
)
def test_bad_templates_are_config_errors_naming_the_viewer(template: str, reason: str) -> None:
    with pytest.raises(ConfigError) as err:
        template_fields("clinic-portal", template)
    assert str(err.value).startswith("viewer clinic-portal: ")
    assert reason in str(err.value)


def test_values_must_be_ascii_ids_and_are_not_echoed() -> None:
    with pytest.raises(RefusedError) as err:
        viewer_url(IDLINK, "山田太郎", name="idlink")
    assert "山田" not in str(err.value) and "idlink" in str(err.value)
    with pytest.raises(RefusedError, match="no facility"):
        viewer_url(HB, "00123", "", name="hb")
    with pytest.raises(RefusedError, match="printable ASCII"):
        viewer_url(IDLINK, "A 1")


def _config(tmp_path: Path, viewers: str = "") -> Path:
    path = tmp_path / "renkei.yaml"
    path.write_text(
        f"""version: 1
connectors:
  hospital: {{type: ssmix2, root: {SAMPLES}}}
  timeline: {{type: builtin, members: [nurse.sato]}}
viewers:
  idlink: {{title: ID-LINK で見る, url_template: "https://viewer.example.jp/patient?pid={{viewer_id}}"}}
  hb: {{title: HumanBridge, url_template: "https://hb.example.jp/view/{{facility}}/patients/{{viewer_id}}"}}
{viewers}
pipelines:
  - {{name: labs, source: hospital, destinations: [timeline], filters: {{data_types: [ADT-00]}}}}
""",
        encoding="utf-8",
    )
    return path


def test_check_viewers_lists_every_bad_template() -> None:
    raw = {
        "idlink": {"title": "ok", "url_template": "https://viewer.example.jp/p/{viewer_id}"},
        "bad": {"title": "x", "url_template": "https://x.example.jp/{patient_name}"},
        "worse": {"title": "y", "url_template": "http://{viewer_id}/"},
        "typo": {"title": "z"},  # missing template: the schema reports that
    }
    rows = check_viewers(raw)
    assert [loc for loc, _ in rows] == [("viewers", "bad", "url_template"), ("viewers", "worse", "url_template")]
    assert rows[0][1].startswith("viewer bad: ") and "never carry a patient's name" in rows[0][1]
    assert check_viewers({"idlink": IDLINK, "hb": HB}) == []


@pytest.fixture
def engine(tmp_path: Path):
    data = tmp_path / "data"
    store = Store.in_data_dir(data)
    eng = Engine(load_config(_config(tmp_path)), store, data)
    eng.run_pipeline(eng.pipeline("labs"))  # stores the sample patients' basics (names) in the store
    yield eng
    eng.close()
    store.close()


def _sample_patient() -> tuple[str, str, str]:
    source = SSMIX2Source("s", SSMIX2Source.Settings(root=SAMPLES))
    key = next(i.key for i in source.scan() if "/ADT-00/" in i.key)
    (patient,) = [r for r in source.parse(key, source.read(key)).records if r.kind.value == "patient"]
    assert patient.name_kanji and patient.name_kana
    return patient.patient_id, patient.name_kanji, patient.name_kana


def _posts(eng: Engine, person: str) -> list[dict]:
    tl = BuiltinTimeline.open(eng.data_dir)
    try:
        return tl.read(tl.group_for_patient(person))
    except NotFoundError:
        return []
    finally:
        tl.close()


def test_unlinked_patient_gets_a_clear_error_no_post_and_an_audited_refusal(engine: Engine) -> None:
    pid, kanji, _ = _sample_patient()
    PatientRegistry(engine.store).set_consent(pid, True, ["all"], date(2024, 4, 1))
    with pytest.raises(UnlinkedViewerError) as err:
        post_link_card(engine, "timeline", pid, "idlink")
    assert f"patient {pid} has no idlink id" in str(err.value)
    assert "--viewer idlink:ID" in str(err.value) and kanji not in str(err.value)
    assert _posts(engine, pid) == []
    with engine.store.read() as conn:
        rows = conn.execute(
            sa.select(audit_log.c.action, audit_log.c.object).where(audit_log.c.patient_id == pid)
        ).all()
    assert ("link.refused", "viewer:idlink") in rows
    with pytest.raises(NotFoundError, match=r"no viewer 'nope' in the configuration \(viewers: hb, idlink\)"):
        link_card(engine.config, PatientRegistry(engine.store), pid, "nope")


def test_card_carries_the_viewer_id_never_the_name(engine: Engine) -> None:
    pid, kanji, kana = _sample_patient()
    registry = PatientRegistry(engine.store)
    registry.link(pid, "viewer:idlink", "IDL-000123")
    registry.set_consent(pid, True, ["timeline"], date(2024, 4, 1))
    mid = post_link_card(engine, "timeline", pid, "idlink")
    (post,) = [p for p in _posts(engine, pid) if p["links"]]
    assert post["links"] == [{"title": "ID-LINK で見る", "url": "https://viewer.example.jp/patient?pid=IDL-000123"}]
    everything = post["text"] + repr(post["links"])
    assert kanji not in everything and kana not in everything
    assert kanji.split()[0] not in everything  # not even the family name
    _msg, dels = engine.store.get_message(mid)
    assert [d.state for d in dels] == ["SENT"]
    # Relinking to a new id replaces the card rather than leaving a stale link beside it.
    registry.unlink(pid, "viewer:idlink", "IDL-000123")
    registry.link(pid, "viewer:idlink", "IDL-999")
    engine.link_card("timeline", pid, "idlink")  # the engine's entry point for the same card
    live = [p for p in _posts(engine, pid) if p["links"] and not p["replaced_by"]]
    assert [p["links"][0]["url"] for p in live] == ["https://viewer.example.jp/patient?pid=IDL-999"]


def test_facility_viewer_gives_one_link_per_facility(engine: Engine) -> None:
    registry = PatientRegistry(engine.store)
    registry.link("p1", "viewer:hb", "F01:777")
    registry.link("p1", "viewer:hb", "F02:888")
    post = link_card(engine.config, registry, "p1", "hb")
    assert post.patient_id == "p1" and post.record_key == "viewer-link:hb"
    assert post.links == [
        {"title": "HumanBridge（F01）", "url": "https://hb.example.jp/view/F01/patients/777"},
        {"title": "HumanBridge（F02）", "url": "https://hb.example.jp/view/F02/patients/888"},
    ]
    registry.link("p2", "viewer:hb", "777")
    with pytest.raises(RefusedError, match="needs FACILITY:ID"):
        link_card(engine.config, registry, "p2", "hb")


def test_card_without_consent_is_refused_and_nothing_is_posted(engine: Engine) -> None:
    registry = PatientRegistry(engine.store)
    registry.link("p9", "viewer:idlink", "X9")
    with pytest.raises(RefusedError, match="no consent"):
        post_link_card(engine, "timeline", "p9", "idlink")
    assert _posts(engine, "p9") == []


def test_loading_a_config_with_a_name_placeholder_fails_naming_viewer_and_line(tmp_path: Path) -> None:
    path = _config(tmp_path, '  portal: {title: x, url_template: "https://p.example.jp/{viewer_id}/{name_kanji}"}')
    with pytest.raises(ConfigError) as err:
        load_config(path)
    line = next(i for i, t in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if "portal:" in t)
    ((where, at, reason),) = err.value.errors
    assert (where, at) == ("viewers.portal.url_template", line)
    assert reason.startswith("viewer portal: ") and "{name_kanji}" in reason
