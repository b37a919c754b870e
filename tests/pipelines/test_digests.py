"""Digests: each person is mailed (a real SMTP server with STARTTLS and AUTH, aiosmtpd) how many posts
and approvals wait for them, once a day, without patient names unless the site allows them."""

from __future__ import annotations

import socket
import ssl
import subprocess
from collections.abc import Iterator
from datetime import date
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from renkei.connectors.ssmix2.generator import generate
from renkei.errors import ConfigError
from renkei.pipelines.digests import send_digests, set_contact
from renkei.pipelines.people import People
from renkei.pipelines.registry import PatientRegistry
from renkei.pipelines.schema import MessageState, audit_log

SMTP_USER, SMTP_PASSWORD = "renkei", "smtp secret for tests"

CONFIG = """
version: 1
connectors:
  ehr: {{type: ssmix2, root: "{root}"}}
  timeline: {{type: builtin, members: [nurse.sato]}}
pipelines:
  - name: sync
    source: ehr
    destinations: [timeline]
    gates: {{consent: true, consent_scope: timeline, approval: {{required_for: [high]}}}}
notifications:
  console_url: https://renkei.clinic.example.jp/
  detail: {detail}
  email:
    host: 127.0.0.1
    port: {port}
    ca_file: "{ca}"
    username: {user}
    password_file: "{password_file}"
    sender: renkei@clinic.example.jp
"""


class Inbox:
    def __init__(self) -> None:
        self.mails: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd's hook name
        msg = message_from_bytes(envelope.original_content, policy=policy.default)
        self.mails.append((list(envelope.rcpt_tos), msg))  # type: ignore[arg-type]
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[tuple[Inbox, int, Path]]:
    """A real SMTP server on loopback that requires STARTTLS before AUTH, with a fresh self-signed CA."""
    cert, key = tmp_path / "smtp.crt", tmp_path / "smtp.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)

    def authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            SMTP_USER.encode(), SMTP_PASSWORD.encode()
        )
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself

    inbox, port = Inbox(), _free_port()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, tls_context=tls, require_starttls=True,
        authenticator=authenticator, auth_required=True,
    )  # fmt: skip
    controller.start()
    try:
        yield inbox, port, cert
    finally:
        controller.stop()


@pytest.fixture
def clinic(tmp_path: Path, make_engine, smtp):
    """Two patients with consent, their ADT posted (unread by nurse.sato), their labs held for a physician."""

    def build(detail: str = "counts", password: str = SMTP_PASSWORD):
        inbox, port, ca = smtp
        secret = tmp_path / "smtp-password"
        secret.write_text(password + "\n", encoding="utf-8")
        written = generate(tmp_path / "storage", patients=2, labs_per_patient=2, seed=21)
        config = CONFIG.replace("{detail}", detail).replace("{port}", str(port)).replace("{ca}", str(ca))
        config = config.replace("{user}", SMTP_USER).replace("{password_file}", str(secret))
        engine = make_engine(tmp_path / "storage", config)
        registry = PatientRegistry(engine.store)
        patients = sorted({w.records[0].patient_id for w in written})
        for pid in patients:
            registry.set_consent(pid, True, ["all"], date(2026, 4, 1))
        engine.run_pipeline(engine.pipeline("sync"))
        people = People(engine.store)
        people.add("nurse.sato", ["nurse"], "a long test password", "看護師 佐藤")
        people.add("dr.tanaka", ["physician"], "a long test password", "医師 田中")
        people.add("it.suzuki", ["admin"], "a long test password")
        set_contact(engine.store, "nurse.sato", email="sato@clinic.example.jp")
        set_contact(engine.store, "dr.tanaka", email="tanaka@clinic.example.jp", lang="en")
        set_contact(engine.store, "it.suzuki", email="suzuki@clinic.example.jp")
        return engine, inbox, patients

    return build


def _audit(engine, action: str) -> list[sa.Row]:
    with engine.store.read() as conn:
        return conn.execute(sa.select(audit_log).where(audit_log.c.action == action)).all()


def _names_and_ids(engine, patients: list[str]) -> list[str]:
    basics = engine.store.patient_basics(patients)
    out = list(patients)
    for pid in patients:
        record = basics[pid]
        out += [str(record[k]) for k in ("name_kanji", "name_kana") if record.get(k)]
        out += [part for k in ("name_kanji", "name_kana") for part in str(record.get(k) or "").split() if part]
    return out


def test_each_person_is_mailed_their_counts_and_a_link_and_no_patient_data(clinic) -> None:
    engine, inbox, patients = clinic()
    held = engine.store.list_messages(state=MessageState.AWAITING_APPROVAL)
    assert len(held) == 4  # two labs each for two patients

    report, _ = send_digests(engine)

    assert sorted(report.sent) == [("dr.tanaka", "email"), ("nurse.sato", "email")]
    assert ("it.suzuki", "email", "nothing waiting") in report.skipped
    by_rcpt = {rcpts[0]: msg for rcpts, msg in inbox.mails}
    assert sorted(by_rcpt) == ["sato@clinic.example.jp", "tanaka@clinic.example.jp"]
    nurse, doctor = by_rcpt["sato@clinic.example.jp"], by_rcpt["tanaka@clinic.example.jp"]
    assert nurse["Subject"] == "[renkei] 未読 2 件・承認待ち 0 件"
    nurse_body = nurse.get_content()
    assert "看護師 佐藤 さん" in nurse_body
    assert "未読の投稿が 2 件あります（患者 2 名）。" in nurse_body
    assert "https://renkei.clinic.example.jp/" in nurse_body
    assert doctor["Subject"] == "[renkei] 0 unread, 4 awaiting approval"
    assert "4 items await a physician's approval (2 patients)." in doctor.get_content()
    for msg in (nurse, doctor):
        text = str(msg["Subject"]) + msg.get_content()
        leaked = [s for s in _names_and_ids(engine, patients) if s in text]
        assert leaked == [], f"patient data in a digest: {leaked}"
        assert msg["Auto-Submitted"] == "auto-generated"


def test_a_digest_goes_once_a_day_even_when_run_again(clinic) -> None:
    engine, inbox, _ = clinic()
    send_digests(engine)
    again, _ = send_digests(engine)
    assert again.sent == []
    assert ("nurse.sato", "email", "already sent today") in again.skipped
    assert len(inbox.mails) == 2
    audit = _audit(engine, "digest.sent")
    assert sorted(e.object for e in audit) == ["user:dr.tanaka", "user:nurse.sato"]
    assert all("unread" in e.detail and "waiting" in e.detail for e in audit)


def test_reading_the_posts_empties_the_next_digest(clinic) -> None:
    engine, inbox, patients = clinic()
    tl = engine.connector("timeline")
    for pid in patients:
        tl.read(tl.group_for_patient(pid), "nurse.sato")
    report, _ = send_digests(engine, only="nurse.sato")
    assert report.sent == [] and ("nurse.sato", "email", "nothing waiting") in report.skipped
    assert inbox.mails == []


def test_patient_names_only_where_the_site_allows_them(clinic) -> None:
    engine, inbox, patients = clinic(detail="patients")
    send_digests(engine, only="nurse.sato")
    (_, msg), = inbox.mails
    kanji = engine.store.patient_basics(patients)[patients[0]]["name_kanji"]
    assert f"・{kanji}" in msg.get_content()


def test_a_refused_login_is_reported_and_the_others_still_go(clinic) -> None:
    engine, inbox, _ = clinic(password="the wrong password")
    report, _ = send_digests(engine)
    assert report.sent == [] and inbox.mails == []
    assert {(u, c) for u, c, _ in report.failed} == {("nurse.sato", "email"), ("dr.tanaka", "email")}
    assert [r for _, _, r in report.failed if "refused the login (535)" not in r] == []
    # nothing recorded as sent: tomorrow's run (or a fixed password) tries again
    assert _audit(engine, "digest.sent") == []


def test_a_server_without_starttls_is_never_spoken_to_in_clear(tmp_path: Path) -> None:
    from renkei.connectors.smtp import EmailSettings

    with pytest.raises(ValueError, match="allowed only to a server on this machine"):
        EmailSettings(host="smtp.example.jp", security="none", sender="renkei@example.jp")
    with pytest.raises(ValueError, match="needs a username"):
        EmailSettings(host="smtp.example.jp", password_env="X", sender="renkei@example.jp")


def test_contacts_are_checked(clinic) -> None:
    engine, _, _ = clinic()
    with pytest.raises(ConfigError, match="not an e-mail address"):
        set_contact(engine.store, "nurse.sato", email="sato at clinic")
    with pytest.raises(ConfigError, match="@name:server"):
        set_contact(engine.store, "nurse.sato", matrix_id="sato")
