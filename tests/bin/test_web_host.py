"""The demo page answers only requests that name it in their Host header (no DNS rebinding)."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from renkei.bin.web import allowed_hosts, make_handler


@pytest.fixture
def server(tmp_path: Path) -> Iterator[int]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(tmp_path))
    port = srv.server_port
    srv.RequestHandlerClass = make_handler(tmp_path, allowed_hosts(port, ["renkei.clinic.example"]))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield port
    srv.shutdown()
    srv.server_close()


def _get(port: int, host: str | None) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.putrequest("GET", "/", skip_host=True)
    if host is not None:
        conn.putheader("Host", host)
    conn.endheaders()
    status = conn.getresponse().status
    conn.close()
    return status


def test_local_names_with_the_port_are_served(server: int) -> None:
    for host in (f"127.0.0.1:{server}", f"localhost:{server}", f"[::1]:{server}", f"LOCALHOST:{server}"):
        assert _get(server, host) == 200, host
    assert _get(server, f"renkei.clinic.example:{server}") == 200  # a configured name


@pytest.mark.parametrize(
    "host",
    ["attacker.example", "attacker.example:{port}", "127.0.0.1", "localhost:1", "127.0.0.1.attacker.example:{port}"],
)
def test_any_other_host_is_misdirected(server: int, host: str) -> None:
    assert _get(server, host.format(port=server)) == 421


def test_a_request_without_host_is_bad(server: int) -> None:
    assert _get(server, None) == 400


def test_names_without_a_port_only_on_port_80() -> None:
    assert "localhost" in allowed_hosts(80) and "localhost" not in allowed_hosts(8765)
    assert "ehr-gw:9000" in allowed_hosts(8765, ["ehr-gw:9000"])
