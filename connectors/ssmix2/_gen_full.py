"""generate_full: a synthetic storage with every standard data type the reader handles, optionally with
condition-flag histories (updates and deletes) and extended storage (vitals, CDA and PDF documents).

Each patient draws from their own random stream (`seed` and the patient's index), so adding a data type
or patients never changes the files of the others, and the same arguments write byte-identical files.
"""

from __future__ import annotations

import dataclasses
import os
import random
from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from pathlib import Path

from renkei.records import Record

from . import _gen_adt, _gen_ext, _gen_orders
from ._gen_common import Spec, SynthPatient, Written, at, render
from ._naming import DATA_TYPES

ALL_TYPES: tuple[str, ...] = DATA_TYPES


def _specs(p: SynthPatient, rng: random.Random, types: frozenset[str], labs: int) -> list[Spec]:
    start = date(2024, 1, 5) + timedelta(days=rng.randrange(300))

    def day(offset: int = 30) -> date:
        return start + timedelta(days=rng.randrange(offset))

    out: list[Spec] = []
    if "ADT-00" in types:
        out.append(_gen_adt.adt00(p, rng, at(day(), 9, rng.randrange(60), rng.randrange(60), rng.randrange(1000))))
    out += _gen_adt.encounters(p, rng, start, types)
    if "ADT-61" in types:
        out.append(_gen_adt.adt61(p, rng, at(day(), 10, rng.randrange(60), rng.randrange(60), rng.randrange(1000))))
    if "PPR-01" in types:
        out.append(_gen_adt.ppr01(p, rng, at(day(), 11, rng.randrange(60), rng.randrange(60), rng.randrange(1000))))
    if "OMD" in types:
        out.append(_gen_orders.omd(p, rng, day()))
    if "OMP-01" in types:
        out.append(_gen_orders.omp01(p, rng, day()))
    if "OMP-02" in types:
        out.append(_gen_orders.omp02(p, rng, day()))
    for dtype in ("OMP-11", "OMP-12"):
        if dtype in types:
            out.append(_gen_orders.omp_administration(p, rng, day(), dtype))
    if "OML-01" in types:
        out.append(_gen_orders.oml01(p, rng, day()))
    if "OML-11" in types:
        out += [_gen_orders.oml11(p, rng, day(200)) for _ in range(labs)]
    for dtype in ("OMG-01", "OMG-02", "OMG-03", "OMG-11", "OMG-12"):
        if dtype in types:
            out.append(_gen_orders.omg(p, rng, day(), dtype))
    if "OMG-13" in types:
        out.append(_gen_orders.omg13(p, rng, day()))
    return out


def iter_full_storage(
    patients: int,
    seed: int = 0,
    types: Iterable[str] = ALL_TYPES,
    labs_per_patient: int = 2,
    *,
    conditions: bool = False,
    extended: bool = False,
) -> Iterator[tuple[str, bytes, list[Record]]]:
    """(key, file bytes, expected records) of every file, in writing order, without touching the disk.

    conditions: each patient gets one update (the first version renamed `_2`, a new `_1` with a later
    timestamp) and every second patient a delete (the current version renamed `_2`, then a `_0`).
    extended: each patient also gets bedside vitals (ORU^R30) and documents (CDA R2, PDF) in the
    extended storage.
    """
    wanted = frozenset(types)
    unknown = wanted - set(ALL_TYPES)
    if unknown:
        raise ValueError(f"unknown SS-MIX2 data types: {', '.join(sorted(unknown))}")
    for index in range(patients):
        rng = random.Random(f"renkei-ssmix2-full:{seed}:{index}")
        p = SynthPatient(rng, index)
        specs = _specs(p, rng, wanted, labs_per_patient)
        update = delete = -1
        if conditions and len(specs) > 1:
            update, delete = rng.sample(range(len(specs)), 2)
            if index % 2:
                delete = -1
        for n, spec in enumerate(specs):
            control = f"{p.pid}{n:03d}"
            if n in (update, delete):
                yield _encode(render(p, spec, "2", control))
                later = dataclasses.replace(spec, when=spec.when + timedelta(hours=rng.randint(1, 48)))
                yield _encode(render(p, later, "1" if n == update else "0", control + "U"))
            else:
                yield _encode(render(p, spec, "1", control))
        if extended:
            yield from _gen_ext.extended_files(p, rng, conditions=conditions)


def _encode(file: tuple[str, str, list[Record]]) -> tuple[str, bytes, list[Record]]:
    key, text, records = file
    return key, text.encode("iso2022_jp"), records


def generate_full(
    root: Path | str,
    patients: int,
    seed: int = 0,
    types: Iterable[str] = ALL_TYPES,
    labs_per_patient: int = 2,
    *,
    conditions: bool = False,
    extended: bool = False,
) -> list[Written]:
    """Write `iter_full_storage` under `root`; returns what each file holds, in writing order."""
    root = Path(root)
    written: list[Written] = []
    made: set[str] = set()
    for key, data, records in iter_full_storage(
        patients, seed, types, labs_per_patient, conditions=conditions, extended=extended
    ):
        folder = key.rsplit("/", 1)[0]
        if folder not in made:
            os.makedirs(root / folder, exist_ok=True)
            made.add(folder)
        (root / key).write_bytes(data)
        written.append(Written(key, records))
    return written
