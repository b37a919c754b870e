"""Fixtures for connector tests.

`synapse` (session scope): one real Synapse homeserver for the whole test session, installed into
~/.cache/renkei-tests/synapse-venv on first use (see tests/support/synapse.py).
`matrix_user` (function scope): a factory `matrix_user("alice") -> MatrixUser` registering a fresh,
uniquely named user on that server (names get a per-test suffix so tests never collide).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest
from support import synapse as synapse_support

_counter = itertools.count(1)


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    with synapse_support.start_synapse(tmp_path_factory.mktemp("synapse")) as server:
        yield server


@pytest.fixture
def matrix_user(synapse) -> Callable[..., object]:
    def make(localpart: str, admin: bool = False):
        return synapse.register(f"{localpart}-{next(_counter)}", admin=admin)

    return make
