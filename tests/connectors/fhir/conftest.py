"""Fixtures for the FHIR connector tests.

`medplum` (session scope): one real FHIR R4 server (Medplum fhir-router, in memory, validating creates
and updates, bearer token required) for the session; see tests/support/medplum/harness.py.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from support.medplum import harness


@pytest.fixture(scope="session")
def medplum() -> Iterator[object]:
    with harness.start_medplum(token=secrets.token_hex(16)) as server:
        yield server
