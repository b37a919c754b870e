"""Records for the JP-CLINS tests, read from SS-MIX2 files through the real parser.

`storage_records()` generates a storage with every data type (connectors/ssmix2 generate_full, extended:
bedside vitals, CDA and PDF documents) for one patient and parses every file. The generator writes no
infection test and no severe drug allergy, so two of its real files are edited before parsing: one OML-11
result re-coded to HBs抗原(定性) (JLAC10 5F016141002306311, in JP-CLINS's infection lab set) and the ADT-00
given a second AL1 drug allergy of severity SV, which renkei files as a 薬剤禁忌 (drug contraindication).
"""

from __future__ import annotations

from functools import cache

from renkei.connectors.ssmix2 import parse_file
from renkei.connectors.ssmix2._gen_full import iter_full_storage
from renkei.records import Record

INFECTION_CODE = "5F016141002306311"
CONTRAINDICATED_DRUG = "112401701"
FACILITY = "1311234567"
INSURED_ID = "06139877:記号１:番号２:00"


def _edit(key: str, raw: bytes) -> list[tuple[str, bytes]]:
    if "/OML-11/" not in key and "/ADT-00/" not in key:
        return [(key, raw)]
    text = raw.decode("iso2022_jp")
    out = [(key, text)]
    if "/OML-11/" in key and "3A010000002327101" in text:
        out.append((key, text.replace("3A010000002327101", INFECTION_CODE).replace("総蛋白", "HBs抗原")))
    if "/ADT-00/" in key:
        segs = text.split("\r")
        at = max(i for i, s in enumerate(segs) if s.startswith(("AL1", "PID", "PV1")))
        drug = f"{CONTRAINDICATED_DRUG}^ワルファリンカリウム錠^HOT9"
        segs.insert(at + 1, f"AL1|9|DA^薬剤アレルギー^HL70127|{drug}|SV^重度^HL70128|出血")
        out[0] = (key, "\r".join(segs))
    return [(k, t.encode("iso2022_jp")) for k, t in out]


@cache
def _parsed(seed: int) -> tuple[Record, ...]:
    records: list[Record] = []
    for key, raw, _ in iter_full_storage(1, seed=seed, extended=True):
        for k, data in _edit(key, raw):
            records += parse_file(k, data).records
    return tuple(records)


def storage_records(seed: int = 1) -> list[Record]:
    return list(_parsed(seed))


def hl7_messages(seed: int = 1, types: tuple[str, ...] = ("ADT-00", "PPR-01", "OML-11", "OMP-01")) -> list[bytes]:
    """The (edited) HL7 v2 files of those data types, as the bytes a sender would frame for MLLP."""
    out = []
    for key, raw, _ in iter_full_storage(1, seed=seed):
        if any(f"/{t}/" in key for t in types):
            out += [data for _, data in _edit(key, raw)]
    return out
