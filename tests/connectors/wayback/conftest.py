"""Fixtures for the way-back tests: `synapse` and `matrix_user` come from tests/connectors/conftest.py;
`medplum` (session scope) is one real FHIR R4 server, started as the FHIR connector tests start it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from support.medplum import harness


@pytest.fixture(scope="session")
def medplum() -> Iterator[object]:
    with harness.start_medplum(token=secrets.token_hex(16)) as server:
        yield server
