"""ADT-00 NK1 (next of kin / contacts) and IN1 (insurance) into the Patient record's contacts and coverages.

Plain dicts of strings (renkei.records.Patient): what the FHIR mapping needs for Patient.contact and
Coverage, nothing more. NK1: 2 name (kanji, kana), 3 relationship (HL7 0063), 4 address, 5 phone,
6 business phone, 13 organization. IN1: 2 plan (SS-MIX2 JHSD0001 insurance type), 3 insurer number,
12/13 plan effective/expiration date, 17 insured's relationship to the patient (HL7 0063).
"""

from __future__ import annotations

from ._er7 import Message


def _name(m: Message, value: str) -> tuple[str, str]:
    kanji = kana = ""
    for rep in value.split(m.rs) if value else []:
        c = m.comps(rep)
        full = " ".join(p for p in c[:2] if p)
        if (c[7] if len(c) > 7 else "") == "P":
            kana = kana or full
        elif not kanji:
            kanji = full
    return kanji, kana


def _phone(m: Message, value: str) -> str:
    c = m.comps(value.split(m.rs)[0]) if value else []
    return (c[11] if len(c) > 11 and c[11] else c[0]) if c else ""


def contacts(m: Message) -> list[dict[str, str]]:
    out = []
    for seg in m.all("NK1"):
        kanji, kana = _name(m, m.raw(seg, 2))
        addr = m.comps(m.reps(seg, 4)[0]) if m.reps(seg, 4) else []
        addr += [""] * (8 - len(addr))
        contact = {
            "relationship": m.c(seg, 3, 1),
            "relationship_display": m.c(seg, 3, 2),
            "name": kanji,
            "name_kana": kana,
            "phone": _phone(m, m.raw(seg, 5)),
            "work_phone": _phone(m, m.raw(seg, 6)),
            "postcode": addr[4],
            "address": addr[7] or "".join(addr[i] for i in (3, 2, 0, 1)),
            "organization": m.c(seg, 13, 1),
        }
        out.append({k: v for k, v in contact.items() if v})
    return out


def coverages(m: Message) -> list[dict[str, str]]:
    out = []
    for seg in m.all("IN1"):
        coverage = {
            "plan": m.c(seg, 2, 1),
            "plan_display": m.c(seg, 2, 2),
            "plan_system": m.c(seg, 2, 3),
            "insurer": m.c(seg, 3, 1),
            "start": m.c(seg, 12, 1)[:8],
            "end": m.c(seg, 13, 1)[:8],
            "relationship": m.c(seg, 17, 1),
        }
        out.append({k: v for k, v in coverage.items() if v})
    return out
