"""Deterministic synthetic SS-MIX2 storage: real layout, real codes, invented people.

    from renkei.connectors.ssmix2.generator import generate
    written = generate("/tmp/storage", patients=300, labs_per_patient=3, seed=0)
    # written: list[Written(key, records)] — the canonical records each file must parse back to

The same seed always writes byte-identical files. Files are ISO-2022-JP, segments end with CR, paths
and names follow the standardized storage (`<pid[0:3]>/<pid[3:6]>/<pid>/<date>/<type>/<name>`).
CLI: `renkei ssmix2 generate ROOT --patients N --labs M --seed S`.

Every standard data type the reader handles, with condition-flag histories and the extended storage:

    from renkei.connectors.ssmix2.generator import ALL_TYPES, generate_full, iter_full_storage
    written = generate_full("/tmp/storage", patients=300, seed=0, types=ALL_TYPES, conditions=True, extended=True)

CLI: `renkei ssmix2 generate ROOT --types all [--conditions] [--extended]`. `generate` keeps writing
exactly what it always wrote for a seed (the demo sample and other tests rely on it).
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

from renkei.connectors.hl7v2 import JST
from renkei.records import Coding, Observation, Record, RecordStatus

from ._gen_common import MSH_TAIL, Written, esc
from ._gen_common import SynthPatient as _Patient
from ._gen_common import file_key as _file_key
from ._gen_common import msh as _msh
from ._gen_common import ts as _ts
from ._naming import NO_ORDER
from ._synthetic import LABS

__all__ = ["MSH_TAIL", "Written", "esc", "generate", "iter_storage"]


def _adt00(p: _Patient, rng: random.Random) -> tuple[str, str, list[Record]]:
    when = datetime(2024, 4, 1, 9, tzinfo=JST) + timedelta(
        seconds=rng.randrange(86400 * 300), milliseconds=rng.randrange(1000)
    )
    key = _file_key(p, "-", "ADT-00", NO_ORDER, when, "-", "1")
    text = "\r".join(
        [
            _msh("ADT^A08^ADT_A01", when, f"A{rng.randrange(10**9):09d}"),
            f"EVN||{_ts(when, 12)}",
            p.pid_segment(),
            "PV1|0001|O",
        ]
    )
    return key, text + "\r", [p.record(key, "1")]


def _oml11(p: _Patient, rng: random.Random, n: int) -> tuple[str, str, list[Record]]:
    collected = datetime(2024, 1, 5, 8, tzinfo=JST) + timedelta(days=rng.randrange(360), minutes=rng.randrange(600))
    reported = collected + timedelta(hours=rng.randint(1, 30), milliseconds=rng.randrange(1000))
    order_no = f"{rng.randrange(10**14, 10**15):015d}"
    dept_code, dept_name = p.dept
    care = f"{collected:%Y%m%d}"
    key = _file_key(p, care, "OML-11", order_no, reported, dept_code, "1")
    spm = f"{order_no[-9:]}{n:03d}"
    lines = [
        _msh("OUL^R22^OUL_R22", reported, f"L{rng.randrange(10**9):09d}"),
        p.pid_segment(),
        "PV1|0001|O|01^^^^^C",
        f"SPM|1|{spm}||023^血清^JC10|||||||||||||{_ts(collected, 12)}",
        f"OBR|1|{order_no}|{spm}|E001^検体検査^99O03|||{_ts(collected, 12)}|||||||||"
        f"D{rng.randrange(1000):03d}^医師^一郎^^^^^^^L^^^^^I",
        f"ORC|SC|{order_no}|{spm}||CM||||{_ts(reported)}||||01^^^^^C||||{dept_code}^{dept_name}^99XY1",
    ]
    records: list[Record] = []
    effective = collected.replace(second=0, microsecond=0)
    specimen = {"position": "1", "set_id": "1", "id": spm, "type_code": "023", "type_display": "血清"}
    specimen |= {"type_system": "JC10", "collected": effective.isoformat()}
    for i, (jlac, display, local, local_display, unit, low, high, dec) in enumerate(
        sorted(rng.sample(LABS, rng.randint(3, 8))), start=1
    ):
        span = high - low
        value = round(rng.uniform(low - span * 0.3, high + span * 0.3), dec)
        value_s = f"{value:.{dec}f}"
        flag = "H" if value > high else "L" if value < low else "N"
        ref = f"{low:.{dec}f}-{high:.{dec}f}"
        lines.append(
            f"OBX|{i}|NM|{jlac}^{esc(display)}^JC10^{local}^{esc(local_display)}^99X03||{value_s}|{esc(unit)}^{esc(unit)}^99XYZ"
            f"|{ref}|{flag}|||F|||{_ts(collected, 12)}"
        )
        records.append(
            Observation(
                patient_id=p.pid,
                code=Coding(jlac, display, "JC10"),
                local_code=Coding(local, local_display, "99X03"),
                value=value_s,
                value_type="NM",
                unit=unit,
                reference_range=ref,
                abnormal_flag=flag,
                effective=effective,
                result_status="F",
                order_no=order_no,
                specimen=dict(specimen),
                record_key=f"{p.pid}/OML-11/{order_no}/{jlac}",
                status=RecordStatus.CURRENT,
                source=key,
            )
        )
    return key, "\r".join(lines) + "\r", records


def iter_storage(patients: int, labs_per_patient: int = 3, seed: int = 0) -> Iterator[tuple[str, bytes, list[Record]]]:
    """(key, file bytes, expected records) for every file of the storage, without touching the disk."""
    rng = random.Random(seed)
    for index in range(patients):
        p = _Patient(rng, index)
        files = [_adt00(p, rng)] + [_oml11(p, rng, n) for n in range(labs_per_patient)]
        for key, text, records in files:
            yield key, text.encode("iso2022_jp"), records


def generate(root: Path | str, patients: int, labs_per_patient: int = 3, seed: int = 0) -> list[Written]:
    """Write the storage under `root` and return what each file holds, in writing order."""
    root = Path(root)
    written: list[Written] = []
    made: set[str] = set()
    for key, data, records in iter_storage(patients, labs_per_patient, seed):
        folder = key.rsplit("/", 1)[0]
        if folder not in made:
            os.makedirs(root / folder, exist_ok=True)
            made.add(folder)
        (root / key).write_bytes(data)
        written.append(Written(key, records))
    return written


# The full generator (every data type, condition flags, extended storage) lives in its own modules.
from ._gen_full import ALL_TYPES, generate_full, iter_full_storage  # noqa: E402

__all__ += ["ALL_TYPES", "generate_full", "iter_full_storage"]
