"""Corrections in order (issue 10 item 5), over a real MLLP socket into the built-in timeline: a result's
identity is (patient, order, observation) plus the source version (MSH-7), never its content alone."""

from __future__ import annotations

import pytest

from renkei.connectors.mllp import MLLPClient


def _result(control_id: str, msh7: str, value: str) -> bytes:
    """One OUL^R22 result of order 123456789012345 (same observation each time); invented patient."""
    return (
        "\r".join(
            [
                f"MSH|^~\\&|LAB|SEND|RENKEI|RCV|{msh7}||OUL^R22^OUL_R22|{control_id}|P|2.5||||||UNICODE UTF-8",
                "PID|0001||9999013^^^^PI||山田^花子||19400312|F",
                "SPM|1|123456789001||023^血清^JC10|||||||||||||202404020800",
                "OBR|1|123456789012345|123456789001|E001^検体検査^99O03|||202404020800",
                "ORC|SC|123456789012345|123456789001||CM",
                f"OBX|1|NM|3B035000002327201^AST^JC10||{value}|U/L^U/L^99XYZ|13-30||||F|||202404020800",
            ]
        )
        + "\r"
    ).encode()


V1 = ("C1", "20240402100000", "11.1")
V2 = ("C2", "20240402110000", "99.9")
V3 = ("C3", "20240402120000", "11.1")


def _shown(engine) -> list[str]:
    """The AST lines of the patient's visible posts (not replaced, not retracted)."""
    tl = engine.connector("timeline")
    posts = tl.read(tl.group_for_patient("9999013"))
    visible = [p for p in posts if p["replaced_by"] is None and not p["retracted"]]
    return [ln for p in visible for ln in p["text"].splitlines() if "AST" in ln]


@pytest.mark.parametrize(
    ("arrivals", "after_each"),
    [
        # in order: the value that returns to an earlier one replaces the current post
        ([V1, V2, V3], ["11.1", "99.9", "11.1"]),
        # the newest first, then older versions arrive late: the newest stays
        ([V3, V1, V2], ["11.1", "11.1", "11.1"]),
        ([V2, V1], ["99.9", "99.9"]),
        # the correction arrives before the original it corrects, then the re-correction
        ([V2, V1, V3], ["99.9", "99.9", "11.1"]),
    ],
)
def test_timeline_after_each_arrival(running, arrivals, after_each) -> None:
    engine, listener = running()
    with MLLPClient("127.0.0.1", listener.port) as client:
        for (control_id, msh7, value), shown in zip(arrivals, after_each, strict=True):
            assert client.send(_result(control_id, msh7, value)).code == "AA"
            engine.process_pending("mllp-in")
            lines = _shown(engine)
            assert len(lines) == 1, lines  # exactly one current post for the result
            other = "99.9" if shown == "11.1" else "11.1"
            assert shown in lines[0] and other not in lines[0]


def test_same_version_resent_under_a_new_control_id_posts_nothing_new(running) -> None:
    engine, listener = running()
    with MLLPClient("127.0.0.1", listener.port) as client:
        assert client.send(_result("A1", "20240402100000", "11.1")).code == "AA"
        assert client.send(_result("A2", "20240402100000", "11.1")).code == "AA"
    engine.process_pending("mllp-in")
    tl = engine.connector("timeline")
    assert len(tl.read(tl.group_for_patient("9999013"))) == 1
