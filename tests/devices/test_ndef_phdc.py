"""NDEF and PHDC framing vectors, cross-checked with ndeflib (nfcpy's own NDEF library), and the manager's
read-clear-poll cycle against the simulator's Type 3 tag memory (plain bytes, no radio)."""

from __future__ import annotations

from datetime import datetime

import ndef
import pytest

from renkei.devices import ieee11073 as p
from renkei.devices.errors import DeviceCodecError
from renkei.devices.ndef_phdc import (
    EMPTY_MESSAGE,
    NdefRecord,
    PhdcLinkError,
    PhdcManagerLink,
    PhdMessage,
    decode_message,
    decode_phd,
    encode_message,
    encode_phd,
    identity_of,
    read_phd_message,
    record_text,
    text_record,
    uri_record,
)
from renkei.devices.phd_manager import PhdManager
from renkei.devices.simulators.agents import KINDS, Measurement, PhdDeviceScript
from renkei.devices.simulators.tags import PhdcAgentTag

RLRQ = bytes.fromhex("E40000020000")


def test_text_record_vector_matches_ndeflib() -> None:
    data = encode_message([text_record("renkei:patient:P001")])
    assert data == bytes.fromhex("D1011654") + b"\x02en" + b"renkei:patient:P001"
    (rec,) = ndef.message_decoder(data)
    assert isinstance(rec, ndef.TextRecord) and rec.text == "renkei:patient:P001" and rec.language == "en"
    assert identity_of(decode_message(data)) == ("patient", "P001")


def test_ndeflib_records_decode_here() -> None:
    data = b"".join(ndef.message_encoder([ndef.UriRecord("renkei:nurse:N7"), ndef.TextRecord("看護", "ja")]))
    records = decode_message(data)
    assert [r.type for r in records] == [b"U", b"T"]
    assert record_text(records[1]) == "看護"
    assert identity_of(records) == ("nurse", "N7")
    assert record_text(decode_message(encode_message([uri_record("https://example.org/x")]))[0]) == (
        "https://example.org/x"
    )


def test_phd_record_vector() -> None:
    data = encode_phd(PhdMessage(1, RLRQ))
    assert data == bytes.fromhex("D10307") + b"PHD" + bytes.fromhex("81") + RLRQ
    (rec,) = ndef.message_decoder(data)
    assert rec.type == "urn:nfc:wkt:PHD" and rec.data == b"\x81" + RLRQ
    assert read_phd_message(data) == PhdMessage(1, RLRQ, True)
    first = encode_phd(PhdMessage(0, b"", mc=False))
    assert first == bytes.fromhex("D10301") + b"PHD\x00"
    assert read_phd_message(first) == PhdMessage(0, b"", False)


def test_long_record_round_trip() -> None:
    payload = bytes(range(256)) * 2
    data = encode_message([NdefRecord(2, b"application/vnd.test", payload, b"id1")])
    assert data[0] == 0x80 | 0x40 | 0x08 | 2  # MB ME IL, not SR
    (rec,) = decode_message(data)
    assert rec.payload == payload and rec.id == b"id1" and rec.type_name == "application/vnd.test"
    assert next(iter(ndef.message_decoder(data))).data == payload


@pytest.mark.parametrize(
    ("data", "offset", "reason"),
    [
        (bytes.fromhex("D10107"), 0, "header needs"),  # SR header is 3 bytes, fine; type+payload missing
        (bytes.fromhex("110100") + b"T", 0, "MB"),
        (bytes.fromhex("91010054") + bytes.fromhex("11010054"), 8, "ME"),
        (bytes.fromhex("D1010054") + b"x", 4, "after the record"),
        (bytes.fromhex("F1010054"), 0, "chunked"),
        (bytes.fromhex("D0000100") + b"x", 0, "empty record"),
    ],
)
def test_ndef_errors_name_the_offset(data: bytes, offset: int, reason: str) -> None:
    with pytest.raises(DeviceCodecError) as exc:
        decode_message(data, base=100)
    if reason == "header needs":
        assert "declares" in exc.value.reason
    else:
        assert reason in exc.value.reason
    assert exc.value.offset == 100 + offset or reason == "header needs"


def test_phd_header_errors() -> None:
    with pytest.raises(DeviceCodecError, match="reserved bits"):
        decode_phd(b"\x40")
    with pytest.raises(DeviceCodecError, match="without the MC flag"):
        decode_phd(b"\x02")
    with pytest.raises(DeviceCodecError) as exc:
        decode_phd(b"\x81" + bytes.fromhex("E4000005000000"), base=7)  # length says 5, 3 follow
    assert exc.value.offset == 10 and "length field says 5" in exc.value.reason


def _agent(memory: int = 1, bad: bool = False) -> PhdcAgentTag:
    kind = KINDS["bp"]
    ms = [Measurement(kind.values, datetime(2024, 5, 1, 7, 30 + i)) for i in range(memory)]
    return PhdcAgentTag(bytes.fromhex("02FE0000000000D1"), lambda: PhdDeviceScript(kind, ms, bad_frames=bad))


def _link(tag: PhdcAgentTag, **kw: object) -> PhdcManagerLink:
    written: list[bytes] = []

    def write(data: bytes) -> None:
        written.append(data)
        tag.memory.set_ndef(data)
        tag.memory.on_written(data)

    link = PhdcManagerLink(tag.memory.ndef, write, reply_timeout=0.2, sleep=lambda _s: None, **kw)  # type: ignore[arg-type]
    link.written = written  # type: ignore[attr-defined]
    return link


def test_read_clear_poll_cycle_reads_a_blood_pressure_memory() -> None:
    tag = _agent(memory=2)
    committed: list[tuple[str, list[str]]] = []
    link = _link(tag, commit=lambda dev, obs: committed.append((dev, [o.value for o in obs])))
    first = read_phd_message(tag.memory.ndef())
    assert first is not None and not first.mc and first.apdu[:2] == b"\xe2\x00"  # AARQ in the first message
    result = link.run(first)
    assert result.released and result.device_id == KINDS["bp"].system_id.hex().upper()
    assert committed == [(result.device_id, ["128", "82", "97", "72"])] * 2
    # the first report waits for the answer to the manager's GET of the MDS (the device's clock)
    sent = ["AARQ", "PRST EventReport", "PRST GetResult", "PRST EventReport", "RLRQ"]
    assert tag.done() and tag.script.sent == sent
    counters = [read_phd_message(w).counter for w in link.written if w != EMPTY_MESSAGE]  # type: ignore[attr-defined]
    assert counters == [1, 3, 5, 7, 9]  # the manager's messages; the agent's are 2, 4, 6, 8
    assert link.written.count(EMPTY_MESSAGE) == 4  # type: ignore[attr-defined]  # cleared after each read


def test_refused_device_is_aborted_before_any_report() -> None:
    tag = _agent()
    committed: list[object] = []
    link = _link(tag, admit=lambda dev: "unknown device", commit=lambda d, o: committed.append(o))
    result = link.run(read_phd_message(tag.memory.ndef()))  # type: ignore[arg-type]
    assert result.refused == "unknown device" and committed == []
    last = read_phd_message(link.written[-1])  # type: ignore[attr-defined]
    assert isinstance(p.decode_apdu(last.apdu), p.Abrt)  # type: ignore[union-attr]


def test_report_is_not_confirmed_when_commit_fails() -> None:
    tag = _agent()

    def commit(_dev: str, _obs: object) -> None:
        raise OSError("disk full")

    link = _link(tag, commit=commit)
    with pytest.raises(OSError):
        link.run(read_phd_message(tag.memory.ndef()))  # type: ignore[arg-type]
    confirms = [
        read_phd_message(w)
        for w in link.written
        if w != EMPTY_MESSAGE  # type: ignore[attr-defined]
    ]
    sent = [p.decode_apdu(m.apdu) for m in confirms if m and m.apdu]
    # the AARE and the GET of the MDS went out; no confirmation of the report ever did
    assert [type(a).__name__ for a in sent] == ["Aare", "Prst"]
    assert isinstance(sent[1].message, p.Get)  # type: ignore[union-attr]


def test_malformed_frame_aborts_the_association() -> None:
    tag = _agent(bad=True)
    link = _link(tag)
    with pytest.raises(DeviceCodecError):
        link.run(read_phd_message(tag.memory.ndef()))  # type: ignore[arg-type]
    assert isinstance(p.decode_apdu(read_phd_message(link.written[-1]).apdu), p.Abrt)  # type: ignore[attr-defined,union-attr]


class _MuteScript(PhdDeviceScript):
    """An agent that ignores the manager's GET and sends its next report instead, or answers an error."""

    answer_error: bool = False

    def reply(self, apdu: bytes) -> bytes | None:
        decoded = p.decode_apdu(apdu) if apdu else None
        if isinstance(decoded, p.Prst) and isinstance(decoded.message, p.Get):
            if self.answer_error:
                self.sent.append("PRST ErrorResult")
                return p.encode_apdu(p.Prst(decoded.invoke_id, p.ErrorResult(p.ErrorValue.NO_SUCH_OBJECT_INSTANCE)))
            return self._next()
        return super().reply(apdu)


def _clocked(clock: object, script: type[PhdDeviceScript] = PhdDeviceScript, **kw: object) -> PhdcAgentTag:
    kind = KINDS["bp"]
    ms = [Measurement(kind.values, datetime(2024, 5, 1, 7, 30)), Measurement(kind.values, datetime(2024, 5, 1, 7, 31))]

    def make() -> PhdDeviceScript:
        s = script(kind, ms, clock=clock)  # type: ignore[arg-type]
        for k, v in kw.items():
            setattr(s, k, v)
        return s

    return PhdcAgentTag(bytes.fromhex("02FE0000000000D1"), make)


def test_the_device_clock_is_read_from_the_mds_before_the_first_report_is_confirmed() -> None:
    device_clock = datetime(2024, 5, 1, 16, 35, 7)  # what the device's own clock shows
    tag = _clocked(lambda: device_clock)
    seen: list[object] = []
    link = _link(tag, commit=lambda dev, obs: seen.append(link.manager.device_clock))
    result = link.run(read_phd_message(tag.memory.ndef()))  # type: ignore[arg-type]
    assert result.released and seen == [device_clock, device_clock]  # both reports carry the device's clock
    gets = [p.decode_apdu(m.apdu) for m in map(read_phd_message, link.written) if m and m.apdu]  # type: ignore[attr-defined]
    assert [type(a.message).__name__ for a in gets if isinstance(a, p.Prst)] == [
        "Get", "EventReportResult", "EventReportResult"
    ]  # fmt: skip
    assert gets[1].message == p.Get(0, [])  # type: ignore[union-attr]  # GET of the MDS (handle 0), all attributes


def test_a_device_without_a_clock_or_answering_an_error_is_committed_without_one() -> None:
    for tag in (_clocked(None), _clocked(lambda: datetime(2024, 5, 1), _MuteScript, answer_error=True)):
        manager = PhdManager()
        seen: list[object] = []
        link = _link(tag, manager=manager, commit=lambda dev, obs, m=manager, s=seen: s.append(m.device_clock))
        assert link.run(read_phd_message(tag.memory.ndef())).released  # type: ignore[arg-type]
        assert seen == [None, None] and tag.done()


def test_an_agent_that_ignores_the_get_is_aborted_unconfirmed_then_not_asked_again() -> None:
    tag = _clocked(lambda: datetime(2024, 5, 1), _MuteScript)
    committed: list[object] = []
    no_clock: set[str] = set()
    link = _link(tag, commit=lambda dev, obs: committed.append(obs), no_clock_devices=no_clock)
    with pytest.raises(PhdcLinkError, match="answered the MDS GET with PRST EventReport"):
        link.run(read_phd_message(tag.memory.ndef()))  # type: ignore[arg-type]
    assert committed == [] and isinstance(p.decode_apdu(read_phd_message(link.written[-1]).apdu), p.Abrt)  # type: ignore[attr-defined,union-attr]
    assert no_clock == {KINDS["bp"].system_id.hex().upper()}
    tag.reset()  # the nurse taps again: the reading flows, without the device's clock
    link = _link(tag, commit=lambda dev, obs: committed.append(obs), no_clock_devices=no_clock)
    assert link.run(read_phd_message(tag.memory.ndef())).released and len(committed) == 2  # type: ignore[arg-type]
