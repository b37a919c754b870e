"""The mllp package's supported names (style.md §2): changing them is an API change."""

from __future__ import annotations

import renkei.connectors.mllp as mllp


def test_exported_members() -> None:
    assert mllp.__all__ == sorted(mllp.__all__)
    assert mllp.__all__ == [
        "Ack", "FrameDecoder", "FramingError", "HL7Error", "Header", "MLLPClient", "MLLPListener", "MLLPSender",
        "Problem", "build_ack", "frame", "read_ack", "read_header", "validate_strict",
    ]  # fmt: skip
    for name in mllp.__all__:
        assert getattr(mllp, name) is not None
