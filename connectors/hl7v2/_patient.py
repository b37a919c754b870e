"""The PID segment into a Patient record (ADT-00 patient basics)."""

from __future__ import annotations

from renkei.records import Patient

from ._context import Ctx
from ._values import parse_dt


def patient_from_pid(ctx: Ctx) -> Patient | None:
    m = ctx.msg
    pid = m.first("PID")
    if pid is None:
        return None
    kanji = kana = ""
    for rep in m.reps(pid, 5):
        c = m.comps(rep)
        full = " ".join(p for p in c[:2] if p)
        rep_code = c[7] if len(c) > 7 else ""
        if rep_code == "P":
            kana = kana or full
        elif rep_code in ("I", "") and not kanji:
            kanji = full
    birth = m.f(pid, 7)
    birth_date = parse_dt(birth)
    postcode = address = ""
    addresses = [m.comps(r) for r in m.reps(pid, 11)]
    if addresses:
        home = next((a for a in addresses if len(a) > 6 and a[6] == "H"), addresses[0])
        home += [""] * (8 - len(home))
        postcode = home[4]
        address = home[7] or "".join(home[i] for i in (3, 2, 0, 1))
    phones: list[str] = []
    for i in (13, 14):
        for rep in m.reps(pid, i):
            c = m.comps(rep)
            number = c[11] if len(c) > 11 and c[11] else c[0]
            if number:
                phones.append(number)
    return Patient(
        patient_id=ctx.pid,
        name_kanji=kanji,
        name_kana=kana,
        birth_date=birth_date,
        sex=m.f(pid, 8),
        postcode=postcode,
        address=address,
        phones=phones,
        record_key=ctx.record_key("", "patient"),
        status=ctx.status,
        source=ctx.key,
    )
