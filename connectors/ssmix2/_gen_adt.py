"""Generator builders for patient-level data types: ADT-00 (with height, weight and an AL1 allergy),
the ten encounter events ADT-01…52 of one outpatient visit and one stay, ADT-61 allergies and PPR-01
problems. Each returns Specs whose records are exactly what the reader must make of the message."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

from renkei.connectors.hl7v2 import parse_dtm
from renkei.records import Allergy, Coding, Condition, Encounter, Observation

from . import _synthetic as V
from ._gen_common import Spec, SynthPatient, at, esc, seg, ts
from ._naming import NO_ORDER

# data type -> (MSH-9, event name the reader gives it)
ENCOUNTER_TYPES: dict[str, tuple[str, str]] = {
    "ADT-01": ("ADT^A54^ADT_A54", "attending"),
    "ADT-12": ("ADT^A04^ADT_A01", "visit"),
    "ADT-21": ("ADT^A14^ADT_A05", "admission_planned"),
    "ADT-22": ("ADT^A01^ADT_A01", "admission"),
    "ADT-31": ("ADT^A21^ADT_A21", "leave"),
    "ADT-32": ("ADT^A22^ADT_A21", "return"),
    "ADT-41": ("ADT^A15^ADT_A15", "transfer_planned"),
    "ADT-42": ("ADT^A02^ADT_A02", "transfer"),
    "ADT-51": ("ADT^A16^ADT_A16", "discharge_planned"),
    "ADT-52": ("ADT^A03^ADT_A03", "discharge"),
}


def doctor(rng: random.Random) -> tuple[str, str]:
    """(staff code, XCN) of an invented doctor: the records keep the code only."""
    code = f"D{rng.randrange(10000):04d}"
    return code, f"{code}^医師^{rng.choice(V.GIVEN_M)[0]}^^^^^^^L^^^^^I"


def adt00(p: SynthPatient, rng: random.Random, when: datetime) -> Spec:
    height = f"{rng.uniform(140, 185):.1f}"
    weight = f"{rng.uniform(35, 90):.1f}"
    body = [f"EVN||{ts(when, 12)}", p.pid_segment(), "PV1|0001|O"]
    spec = Spec("ADT-00", "-", NO_ORDER, when, "-", "ADT^A08^ADT_A01", body, [p.record("", "1")])
    for i, (code, name, value, unit) in enumerate(
        (("9N001000000000001", "身長", height, "cm"), ("9N006000000000001", "体重", weight, "kg")), start=1
    ):
        body.append(f"OBX|{i}|NM|{code}^{name}^JC10||{value}|{unit}^{unit}^ISO+|||||F")
        spec.records.append(
            Observation(
                patient_id=p.pid, code=Coding(code, name, "JC10"), value=value, value_type="NM", unit=unit,
                result_status="F", effective=parse_dtm(ts(when, 12)), record_key=f"{p.pid}/ADT-00/@-/{code}",
            )
        )  # fmt: skip
    if rng.random() < 0.5:
        cat, cat_text, code, name, system = rng.choice(V.ALLERGENS)
        sev, sev_text = rng.choice(V.SEVERITIES)
        reaction = rng.choice(V.REACTIONS)
        body.append(f"AL1|1|{cat}^{cat_text}^HL70127|{code}^{name}^{system}|{sev}^{sev_text}^HL70128|{reaction}")
        spec.records.append(
            Allergy(
                patient_id=p.pid, category=Coding(cat, cat_text, "HL70127"), allergen=Coding(code, name, system),
                severity=sev, reaction=reaction, record_key=f"{p.pid}/ADT-00/@-/allergy/{code}",
            )
        )  # fmt: skip
    return spec


def encounters(p: SynthPatient, rng: random.Random, start: date, types: frozenset[str]) -> list[Spec]:
    """An outpatient visit, then a stay: planned and done admission, a leave and return, a planned and
    done transfer, a planned and done discharge, and a change of attending doctor."""
    dept, _ = p.dept
    doc_code, doc = doctor(rng)
    visit = at(start, rng.randint(9, 11), rng.randrange(60))
    admit = at(start + timedelta(days=rng.randint(3, 20)), rng.randint(10, 15), rng.randrange(60))
    leave = admit + timedelta(days=2, hours=1)
    back = leave + timedelta(hours=rng.randint(3, 8))
    transfer = admit + timedelta(days=4, minutes=rng.randrange(300))
    discharge = admit + timedelta(days=rng.randint(8, 20), hours=rng.randint(-2, 2))
    change = admit + timedelta(days=3, hours=2)
    ward = f"{rng.randint(31, 45)}^{rng.randint(301, 330)}^{rng.randint(1, 4)}^^^N"
    new_ward = f"{rng.randint(51, 59)}^{rng.randint(501, 530)}^{rng.randint(1, 4)}^^^N"
    # dtype -> (event time, where the reader takes it, message time, location, prior location)
    plan: dict[str, tuple[datetime, str, datetime, str, str]] = {
        "ADT-12": (visit, "PV1-44", visit + timedelta(minutes=5), f"{dept}^^^^^C", ""),
        "ADT-21": (admit, "PV2-8", visit + timedelta(hours=1), ward, ""),
        "ADT-22": (admit, "PV1-44", admit + timedelta(minutes=10), ward, ""),
        "ADT-01": (change, "EVN-6", change + timedelta(minutes=3), ward, ""),
        "ADT-31": (leave, "EVN-6", leave + timedelta(minutes=2), ward, ""),
        "ADT-32": (back, "EVN-6", back + timedelta(minutes=2), ward, ""),
        "ADT-41": (transfer, "PV2-9", transfer - timedelta(days=1), ward, ""),
        "ADT-42": (transfer, "EVN-6", transfer + timedelta(minutes=4), new_ward, ward),
        "ADT-51": (discharge, "PV2-9", discharge - timedelta(days=2), new_ward, ""),
        "ADT-52": (discharge, "PV1-45", discharge + timedelta(minutes=8), new_ward, ""),
    }
    specs = []
    for dtype, (event_at, source, sent, location, prior) in plan.items():
        if dtype not in types:
            continue
        msh9, event = ENCOUNTER_TYPES[dtype]
        cls = "O" if dtype == "ADT-12" else "I"
        sent = sent.replace(microsecond=rng.randrange(1000) * 1000)
        when = ts(event_at, 12)
        evn = {2: ts(sent, 12)}
        pv1 = {1: "0001", 2: cls, 3: location, 7: doc, 10: dept, 17: doc}
        pv2: dict[int, str] = {}
        if source == "EVN-6":
            evn[6] = when
        elif source == "PV2-8":
            pv2[8] = when
        elif source == "PV2-9":
            pv2[9] = when
        if prior:
            pv1[6] = prior
        if cls == "I" and dtype not in ("ADT-21",):
            pv1[44] = ts(admit, 12)
        if source == "PV1-44":
            pv1[44] = when
        elif source == "PV1-45":
            pv1[45] = when
        body = [seg("EVN", evn), p.pid_segment()]
        if dtype == "ADT-01":
            body.append(f"ROL|1|UP|AT^担当医^HL70443|{doc}")
        body.append(seg("PV1", pv1))
        if pv2:
            body.append(seg("PV2", pv2))
        care = f"{event_at:%Y%m%d}"
        comps = location.split("^")[:3]
        spec = Spec(dtype, care, NO_ORDER, sent, dept, msh9, body)
        spec.records.append(
            Encounter(
                patient_id=p.pid, event=event, occurred_at=parse_dtm(when), patient_class=cls, department=dept,
                location="-".join(c for c in comps if c), attending=doc_code, admitted_at=parse_dtm(pv1.get(44, "")),
                record_key=f"{p.pid}/{dtype}/@{care}/{event}",
            )
        )  # fmt: skip
        specs.append(spec)
    return specs


def adt61(p: SynthPatient, rng: random.Random, when: datetime) -> Spec:
    body = [f"EVN||{ts(when)}", p.pid_segment()]
    spec = Spec("ADT-61", "-", NO_ORDER, when, "-", "ADT^A60^ADT_A60", body)
    for i, (cat, cat_text, code, name, system) in enumerate(rng.sample(V.ALLERGENS, rng.randint(1, 3)), start=1):
        sev, sev_text = rng.choice(V.SEVERITIES)
        reaction = rng.choice(V.REACTIONS)
        since = f"{rng.randint(1960, 2020)}{rng.randint(1, 12):02d}"
        body.append(
            f"IAM|{i}|{cat}^{cat_text}^HL70127|{code}^{name}^{system}|{sev}^{sev_text}^HL70128|{reaction}"
            f"|A^追加^HL70323|||||{since}"
        )
        spec.records.append(
            Allergy(
                patient_id=p.pid, category=Coding(cat, cat_text, "HL70127"), allergen=Coding(code, name, system),
                severity=sev, reaction=reaction, record_key=f"{p.pid}/ADT-61/@-/allergy/{code}",
            )
        )  # fmt: skip
    return spec


def ppr01(p: SynthPatient, rng: random.Random, when: datetime) -> Spec:
    dept, _ = p.dept
    body = [p.pid_segment()]
    spec = Spec("PPR-01", "-", NO_ORDER, when, dept, "PPR^ZD1^PPR_ZD1", body)
    for medis, name, icd in rng.sample(V.DISEASES, rng.randint(1, 3)):
        problem_id = f"{rng.randrange(10**14, 10**15)}"
        onset = when.date() - timedelta(days=rng.randrange(3000))
        status, status_text = rng.choice(V.CLINICAL_STATUS)
        body.append(
            seg(
                "PRB",
                {
                    1: "AD", 2: ts(when), 3: f"{medis}^{name}^MDCDX2", 4: problem_id, 7: ts(when),
                    9: f"{onset:%Y%m%d}", 10: f"{icd}^^I10", 14: f"{status}^{status_text}^HL70241",
                    15: f"{when:%Y%m%d}", 16: f"{onset:%Y%m%d}", 17: esc(name),
                },
            )
        )  # fmt: skip
        prefix = rng.sample(V.PREFIX_MODIFIERS, rng.randint(0, 1))
        suffix = rng.sample(V.SUFFIX_MODIFIERS, rng.randint(0, 1))
        modifiers = [Coding(c, t, "MDCDX2") for c, t in (*prefix, *suffix)]
        if modifiers:
            pre = "~".join(f"{c}^{t}^MDCDX2" for c, t in prefix)
            suf = "~".join(f"{c}^{t}^MDCDX2" for c, t in suffix)
            body.append(f"ZPR||{medis}^{name}^MDCDX2|{pre}|{suf}")
        spec.records.append(
            Condition(
                patient_id=p.pid, code=Coding(medis, name, "MDCDX2"), icd10=icd, modifiers=modifiers,
                onset=onset, clinical_status=status, record_key=f"{p.pid}/PPR-01/@-/problem/{problem_id}",
            )
        )  # fmt: skip
    return spec
