"""Fixtures for the FHIR connector tests.

`medplum` (session scope): one real FHIR R4 server (Medplum fhir-router, in memory, validating creates
and updates, bearer token required) for the session; see tests/support/medplum/harness.py.
"""

from __future__ import annotations

import importlib.util
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest


def _load_harness():
    name = "renkei_test_support_medplum"
    if name in sys.modules:
        return sys.modules[name]
    path = Path(__file__).resolve().parents[2] / "support" / "medplum" / "harness.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


harness = _load_harness()


@pytest.fixture(scope="session")
def medplum() -> Iterator[object]:
    with harness.start_medplum(token=secrets.token_hex(16)) as server:
        yield server
