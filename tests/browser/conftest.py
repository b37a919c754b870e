"""A real `renkei serve` (uvicorn in a subprocess) on a prepared data folder, and Debian's chromium driven by
Playwright for Python. No downloaded browser build: the system's /usr/bin/chromium (installed by .ci/run)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
RENKEI = str(Path(sys.executable).with_name("renkei"))
# Without the background-networking flags chromium dials out at start and this closed network refuses it.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    # a second name for 127.0.0.1, to send a Host header the console does not allow (DNS rebinding)
    "--host-resolver-rules=MAP attacker.example 127.0.0.1",
]  # fmt: skip
PASSWORD = "correct horse battery"
PEOPLE = {"it.admin": ["admin"], "dr.tanaka": ["physician"], "nurse.sato": ["nurse"], "audit.kato": ["auditor"]}
CONFIG = """
version: 1
data_dir: "{data}"
connectors:
  ehr: {{type: ssmix2, root: "{root}"}}
  timeline: {{type: builtin, members: [nurse.sato]}}
pipelines:
  - name: sync
    source: ehr
    destinations: [timeline]
    gates: {{consent: true, consent_scope: timeline, approval: {{required_for: [high]}}}}
console:
  idle_timeout_minutes: {idle}
"""
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("CI") == "true":
        raise pytest.UsageError(f"{CHROMIUM} is missing: .ci/run installs it with apt (the browser tests need it)")
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is missing (apt-get install chromium); CI=true makes this an error")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@dataclass
class Served:
    url: str
    port: int
    data: Path
    patient: str
    process: subprocess.Popen[bytes]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A data folder with one consenting patient whose two lab results wait for a physician, and users."""
    from renkei.config.loader import load_config
    from renkei.connectors.ssmix2.generator import generate
    from renkei.pipelines.engine import Engine
    from renkei.pipelines.people import People
    from renkei.pipelines.registry import PatientRegistry
    from renkei.pipelines.store import Store

    root = tmp_path_factory.mktemp("served")
    written = generate(root / "storage", patients=1, labs_per_patient=2, seed=7)
    data = root / "data"
    config = _write_config(root, data, idle=15)
    store = Store.in_data_dir(data)
    engine = Engine(load_config(config), store, data)
    patient = written[0].records[0].patient_id
    PatientRegistry(store).set_consent(patient, True, ["all"], date(2026, 4, 1))
    engine.run_pipeline(engine.pipeline("sync"))
    people = People(store)
    for name, roles in PEOPLE.items():
        people.add(name, roles, PASSWORD, display_name=name)
    engine.close()
    store.close()
    return root, patient


def _write_config(root: Path, data: Path, idle: float) -> Path:
    path = root / f"renkei-{idle}.yaml"
    path.write_text(CONFIG.format(root=root / "storage", data=data, idle=idle), encoding="utf-8")
    return path


def _serve(root: Path, patient: str, idle_minutes: float) -> Served:
    port = _free_port()
    config = _write_config(root, root / "data", idle_minutes)
    log = root / f"serve-{port}.log"
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen([RENKEI, "serve", str(config), "--port", str(port), "--data", str(root / "data")],
                                cwd=root, stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"renkei serve exited {proc.returncode}: {log.read_text(errors='replace')}")
        try:
            urllib.request.urlopen(f"{url}/login", timeout=2).close()
            return Served(url, port, root / "data", patient, proc)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("renkei serve did not answer within 60 s")


def _stop(served: Served) -> None:
    served.process.terminate()
    try:
        served.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        served.process.kill()
        served.process.wait()


@pytest.fixture(scope="module")
def server(prepared: tuple[Path, str]) -> Iterator[Served]:
    served = _serve(*prepared, idle_minutes=15)
    yield served
    _stop(served)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1100, "height": 760}, locale="ja-JP")
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    yield pg
    context.close()


def _login(page, served: Served, name: str, password: str = PASSWORD) -> None:
    page.goto(f"{served.url}/login")
    page.fill("input[name=user]", name)
    page.fill("input[name=password]", password)
    page.click("#login")
    page.wait_for_load_state()


def _screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def login():
    """login(page, served, name): log in through the form, as a person would."""
    return _login


@pytest.fixture
def screenshot():
    """screenshot(page, name): docs/screenshots/NAME.png, shown in the README."""
    return _screenshot


@pytest.fixture
def serve_with(prepared: tuple[Path, str]) -> Iterator[object]:
    """serve_with(idle_minutes): one more console on the same folder (stopped after the test)."""
    started: list[Served] = []

    def start(idle_minutes: float) -> Served:
        started.append(_serve(*prepared, idle_minutes=idle_minutes))
        return started[-1]

    yield start
    for served in started:
        _stop(served)
