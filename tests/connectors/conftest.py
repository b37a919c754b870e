"""Fixtures for connector tests.

`synapse` (session scope): one real Synapse homeserver for the whole test session, installed into
~/.cache/renkei-tests/synapse-venv on first use (see tests/support/synapse.py).
`matrix_user` (function scope): a factory `matrix_user("alice") -> MatrixUser` registering a fresh,
uniquely named user on that server (names get a per-test suffix so tests never collide).
"""

from __future__ import annotations

import importlib.util
import itertools
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


def _load_support(name: str):
    """Import tests/support/<name>.py by path (tests are not a package under --import-mode=importlib)."""
    module_name = f"renkei_test_support_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    path = Path(__file__).resolve().parents[1] / "support" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


synapse_support = _load_support("synapse")
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
