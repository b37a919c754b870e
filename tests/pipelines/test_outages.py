"""The outage log: one line when a destination starts failing, one when it recovers, none in between."""

from __future__ import annotations

import logging

from renkei.errors import RetryableDeliveryError
from renkei.pipelines.outages import OutageLog, describe


def test_one_line_per_outage_and_one_on_recovery(caplog) -> None:
    caplog.set_level(logging.INFO, logger="renkei.engine")
    outages = OutageLog()
    error = "RetryableDeliveryError: Matrix create room: cannot connect to http://127.0.0.1:9"
    outages.observe("matrix", [error] * 5, sent=0, now=100.0)
    for t in range(101, 160):  # an hour of rounds would look the same
        outages.observe("matrix", [error] * 5, sent=0, now=float(t))
        outages.observe("partner", [], sent=3, now=float(t))  # a healthy destination logs nothing
    assert outages.failing("matrix") and not outages.failing("partner")
    outages.observe("matrix", [], sent=5, now=400.0)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert lines[0].startswith("destination matrix is failing (RetryableDeliveryError); 5 deliveries")
    assert "127.0.0.1" not in lines[0]  # the type only; the full error is on each delivery
    assert lines[1] == "destination matrix recovered after 300 failed attempts over 300 s"
    assert not outages.failing("matrix")


def test_describe_names_renkei_errors_by_type_and_bugs_by_place() -> None:
    assert describe(RetryableDeliveryError("503")) == "RetryableDeliveryError"
    try:
        {}["missing"]
    except KeyError as exc:
        assert describe(exc).startswith("unexpected KeyError (test_outages.py line ")
