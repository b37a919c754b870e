"""Generator of extended storage files (placeholder until vitals and documents are written)."""

from __future__ import annotations

import random
from collections.abc import Iterator

from renkei.pipelines.records import Record

from ._gen_common import SynthPatient


def extended_files(
    p: SynthPatient, rng: random.Random, *, conditions: bool = False
) -> Iterator[tuple[str, bytes, list[Record]]]:
    return iter(())
