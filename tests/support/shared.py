"""Reference material in `../shared` beside the repository (CI's clean clone has it; a user's clone may not).

A test module that needs it calls `shared_path(...)` at import: without the folder the module is skipped
with the reason named, unless RENKEI_REQUIRE_SHARED=1 (set by .ci/run), where a missing folder fails the
run loudly instead of skipping silently."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REQUIRE_ENV = "RENKEI_REQUIRE_SHARED"
SHARED = Path(__file__).resolve().parents[2].parent / "shared"  # tests/support -> repository -> its parent


def shared_path(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if path.exists():
        return path
    reason = f"needs ../shared beside the repository: {path} is missing"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} (and {REQUIRE_ENV}=1 requires it)", pytrace=False)
    pytest.skip(reason, allow_module_level=True)
    raise AssertionError("unreachable")
