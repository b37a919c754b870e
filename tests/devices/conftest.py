"""Device tests: shared byte vectors, fuzz targets, the tap-test patient lookup and the e2e ward importable
as `device_vectors`, `device_fuzz`, `tap_support` and `ward_support` (tests use importlib mode)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

for _NAME, _FILE in (
    ("device_vectors", "vectors.py"),
    ("device_fuzz", "fuzz_targets.py"),
    ("tap_support", "tap_support.py"),
    ("ward_support", "ward_support.py"),
):
    if _NAME not in sys.modules:
        _spec = importlib.util.spec_from_file_location(_NAME, Path(__file__).with_name(_FILE))
        assert _spec is not None and _spec.loader is not None
        _module = importlib.util.module_from_spec(_spec)
        sys.modules[_NAME] = _module
        _spec.loader.exec_module(_module)
