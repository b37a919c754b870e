"""Generator builders for order-shaped and result data types: OMD, OMP-01/02/11/12, OML-01/11 and
OMG-01/02/03/11/12/13. Each returns a Spec whose records are what the reader must make of it."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

from renkei.connectors.hl7v2 import parse_dtm
from renkei.records import Coding, Medication, Observation, Order, Record

from . import _synthetic as V
from ._gen_adt import doctor
from ._gen_common import Spec, SynthPatient, at, esc, seg, ts

NURSE = "N0200^看護^花子^^^^^^^L^^^^^I"


def _order_no(rng: random.Random) -> str:
    return f"{rng.randrange(10**14, 10**15 - 100):015d}"


def _orc(ctl: str, order_no: str, ordered: datetime, doc: str, dept: tuple[str, str], **more: str) -> str:
    fields = {1: ctl, 2: order_no, 9: ts(ordered), 12: doc, 17: f"{dept[0]}^{dept[1]}^99XY1"}
    fields.update({int(k[1:]): v for k, v in more.items()})  # f4="1": ORC-4 …
    return seg("ORC", fields)


def _sent(rng: random.Random, after: datetime) -> datetime:
    return after + timedelta(minutes=rng.randint(1, 90), milliseconds=rng.randrange(1000))


def omd(p: SynthPatient, rng: random.Random, day: date) -> Spec:
    order_no, (_, doc) = _order_no(rng), doctor(rng)
    ordered = at(day, rng.randint(8, 17), rng.randrange(60), rng.randrange(60))
    code, name = rng.choice(V.DIETS)
    note = rng.choice(V.DIET_NOTES)
    body = [
        p.pid_segment(),
        f"PV1|0001|I|{rng.randint(31, 45)}^{rng.randint(301, 330)}^^^^N||||{doc}|||{p.dept[0]}",
        _orc("NW", order_no, ordered, doc, p.dept),
        f"TQ1|1||TID&１日３回&HL70335||||{ts(ordered + timedelta(days=1), 10)}||R^ルーチン^HL70485",
        f"ODS|D||{code}^{name}^99XY3|{esc(note)}",
    ]
    rec = Order(
        patient_id=p.pid, category="diet", order_no=order_no, code=Coding(code, name, "99XY3"),
        ordered_at=parse_dtm(ts(ordered)), order_status="NW", text=note,
        record_key=f"{p.pid}/OMD/{order_no}/{order_no}/{code}",
    )  # fmt: skip
    return Spec("OMD", f"{day:%Y%m%d}", order_no, _sent(rng, ordered), p.dept[0], "OMD^O03^OMD_O03", body, [rec])


def omp01(p: SynthPatient, rng: random.Random, day: date) -> Spec:
    order_no, (_, doc) = _order_no(rng), doctor(rng)
    ordered = at(day, rng.randint(9, 16), rng.randrange(60), rng.randrange(60))
    body = [p.pid_segment(), f"PV1|0001|O|{p.dept[0]}^^^^^C||||{doc}|||{p.dept[0]}"]
    records: list[Record] = []
    for rp, (hot, name, dose, unit, unit_name) in enumerate(rng.sample(V.ORAL_DRUGS, rng.randint(1, 3)), start=1):
        usage, usage_text = rng.choice(V.USAGES)
        days = rng.choice((7, 14, 28))
        start = ts(ordered + timedelta(days=1), 10)
        end = ts(ordered + timedelta(days=days), 10)
        body += [
            _orc("NW", order_no, ordered, doc, p.dept, f4=str(rp)),
            f"RXE||{hot}^{esc(name)}^HOT9|{dose}||{unit}^{unit_name}^MR9P|||||{days * 3}|{unit}^{unit_name}^MR9P"
            f"||||||||||OHP^外来処方^MR9P~OHI^院内処方^MR9P",
            f"TQ1|1||{usage}&{usage_text}&JAMISDP01|||{days}^d|{start}|{end}",
            "RXR|PO^口^HL70162",
        ]
        records.append(
            Medication(
                patient_id=p.pid, activity="prescription", drug=Coding(hot, name, "HOT9"), dose=dose,
                dose_unit=unit, route="PO", timing=usage_text, start=parse_dtm(start), end=parse_dtm(end),
                order_no=order_no, record_key=f"{p.pid}/OMP-01/{order_no}/{rp}/{hot}",
                rp_number=str(rp), order_in_rp=1, authored_at=parse_dtm(ts(ordered)),
                usage=Coding(usage, usage_text, "JAMISDP01"), dose_unit_system="MR9P", supply_days=str(days),
            )
        )  # fmt: skip
    return Spec("OMP-01", f"{day:%Y%m%d}", order_no, _sent(rng, ordered), p.dept[0], "RDE^O11^RDE_O11", body, records)


def omp02(p: SynthPatient, rng: random.Random, day: date) -> Spec:
    order_no, (_, doc) = _order_no(rng), doctor(rng)
    ordered = at(day, rng.randint(0, 9), rng.randrange(60), rng.randrange(60))
    body = [p.pid_segment(), f"PV1|0001|I|{rng.randint(31, 45)}^{rng.randint(301, 330)}^^^^N||||{doc}|||{p.dept[0]}"]
    records: list[Record] = []
    first = at(day, 8)
    for k in range(1, rng.randint(1, 3) + 1):
        rp = f"{order_no}_01_{k:03d}"
        start, end = ts(first + timedelta(hours=5 * (k - 1)), 12), ts(first + timedelta(hours=5 * k), 12)
        body += [
            _orc("NW", order_no, ordered, doc, p.dept, f4=rp),
            "RXE||00^一般^99I02|500||ML^ミリリットル^MR9P|INJ^注射剤^MR9P|^５時間一定速度で^99IC6"
            "||||||||||||IHP^入院処方^MR9P~FTP^定時処方^99I01",
            f"TQ1|1||||||{start}|{end}",
            "RXR|IV^静脈内^HL70162||IVP^点滴ポンプ^HL70164",
        ]
        for place, (mark, (hot, name, dose, unit, unit_name)) in enumerate(
            zip("BA", V.INJECTIONS[: rng.randint(1, 2)], strict=False), start=1
        ):
            body.append(f"RXC|{mark}|{hot}^{esc(name)}^HOT9|{dose}|{unit}^{unit_name}^MR9P")
            records.append(
                Medication(
                    patient_id=p.pid, activity="injection", drug=Coding(hot, name, "HOT9"), dose=dose,
                    dose_unit=unit, route="IV", start=parse_dtm(start), end=parse_dtm(end), order_no=order_no,
                    record_key=f"{p.pid}/OMP-02/{order_no}/{rp}/{hot}",
                    rp_number=rp, order_in_rp=place, authored_at=parse_dtm(ts(ordered)), dose_unit_system="MR9P",
                )
            )  # fmt: skip
    return Spec("OMP-02", f"{day:%Y%m%d}", order_no, _sent(rng, ordered), p.dept[0], "RDE^O11^RDE_O11", body, records)


def omp_administration(p: SynthPatient, rng: random.Random, day: date, dtype: str) -> Spec:
    """OMP-11 (oral, route PO) or OMP-12 (injection, IV): RXA-3 is the care date."""
    order_no, (_, doc) = _order_no(rng), doctor(rng)
    oral = dtype == "OMP-11"
    ordered = at(day - timedelta(days=1), rng.randint(9, 16), rng.randrange(60), rng.randrange(60))
    given = at(day, rng.randint(7, 20), rng.randrange(60))
    finished = given + timedelta(minutes=0 if oral else rng.randint(60, 300))
    start, end = ts(given, 12), ts(finished, 12)
    route = ("PO", "口") if oral else ("IV", "静脈内")
    rp = "1" if oral else f"{order_no}_01_001"
    body = [
        p.pid_segment(),
        f"PV1|0001|I|{rng.randint(31, 45)}^{rng.randint(301, 330)}^^^^N||||{doc}|||{p.dept[0]}",
        _orc("NW", order_no, ordered, doc, p.dept, f4=rp),
    ]
    records: list[Record] = []
    drugs = V.ORAL_DRUGS if oral else V.INJECTIONS
    for hot, name, dose, unit, unit_name in rng.sample(drugs, rng.randint(1, 2)):
        body.append(
            f"RXA|0|1|{start}|{end}|{hot}^{esc(name)}^HOT9|{dose}|{unit}^{unit_name}^MR9P|||{NURSE}||||||||||CP"
        )
        records.append(
            Medication(
                patient_id=p.pid, activity="administration" if oral else "injection_administration",
                drug=Coding(hot, name, "HOT9"), dose=dose,
                dose_unit=unit, route=route[0], start=parse_dtm(start), end=parse_dtm(end), order_no=order_no,
                record_key=f"{p.pid}/{dtype}/{order_no}/{rp}/{hot}/{start}",
            )
        )  # fmt: skip
    body.append(f"RXR|{route[0]}^{route[1]}^HL70162")
    return Spec(dtype, f"{day:%Y%m%d}", order_no, _sent(rng, finished), p.dept[0], "RAS^O17^RAS_O17", body, records)


def oml01(p: SynthPatient, rng: random.Random, day: date) -> Spec:
    order_no, (_, doc) = _order_no(rng), doctor(rng)
    ordered = at(day, rng.randint(8, 16), rng.randrange(60), rng.randrange(60))
    collect = ts(ordered + timedelta(hours=1), 12)
    body = [p.pid_segment(), f"PV1|0001|O|{p.dept[0]}^^^^^C||||{doc}|||{p.dept[0]}"]
    records: list[Record] = []
    labs = sorted(rng.sample(V.LABS, rng.randint(2, 6)))
    groups = [
        ("E001", "血液学的検査", "022", "血漿", [lab for lab in labs if lab[0].startswith("2")]),
        ("E002", "生化学的検査", "023", "血清", [lab for lab in labs if not lab[0].startswith("2")]),
    ]
    n_spm = 0
    for code, name, material, material_name, tests in groups:
        if not tests:
            continue
        n_spm += 1
        body += [
            f"SPM|{n_spm}|||{material}^{material_name}^JC10|||||||||||||{collect}",
            _orc("NW", order_no, ordered, doc, p.dept),
            f"OBR|1|{order_no}||{code}^{name}^99O03||||||||||||{doc}",
        ]
        for i, (jlac, display, local, local_display, *_) in enumerate(tests, start=1):
            body.append(f"OBX|{i}||{jlac}^{esc(display)}^JC10^{local}^{esc(local_display)}^99X03||||||||O")
        records.append(
            Order(
                patient_id=p.pid, category="lab", order_no=order_no, code=Coding(code, name, "99O03"),
                ordered_at=parse_dtm(ts(ordered)), order_status="NW", text="\n".join(t[1] for t in tests),
                record_key=f"{p.pid}/OML-01/{order_no}/{order_no}/{code}",
            )
        )  # fmt: skip
    return Spec("OML-01", f"{day:%Y%m%d}", order_no, _sent(rng, ordered), p.dept[0], "OML^O33^OML_O33", body, records)


def oml11(p: SynthPatient, rng: random.Random, day: date) -> Spec:
    collected = at(day, rng.randint(7, 16), rng.randrange(60))
    reported = collected + timedelta(hours=rng.randint(1, 30), milliseconds=rng.randrange(1000))
    order_no = _order_no(rng)
    dept_code, dept_name = p.dept
    spm = f"{order_no[-9:]}{rng.randrange(1000):03d}"
    body = [
        p.pid_segment(),
        f"PV1|0001|O|{dept_code}^^^^^C",
        f"SPM|1|{spm}||023^血清^JC10|||||||||||||{ts(collected, 12)}",
        f"OBR|1|{order_no}|{spm}|E001^検体検査^99O03|||{ts(collected, 12)}|||||||||{doctor(rng)[1]}",
        f"ORC|SC|{order_no}|{spm}||CM||||{ts(reported)}||||{dept_code}^^^^^C||||{dept_code}^{dept_name}^99XY1",
    ]
    records: list[Record] = []
    specimen = {"position": "1", "set_id": "1", "id": spm, "type_code": "023", "type_display": "血清"}
    specimen |= {"type_system": "JC10", "collected": (parse_dtm(ts(collected, 12)) or collected).isoformat()}
    for i, (jlac, display, local, local_display, unit, low, high, dec) in enumerate(
        sorted(rng.sample(V.LABS, rng.randint(3, 8))), start=1
    ):
        span = high - low
        value = f"{round(rng.uniform(low - span * 0.3, high + span * 0.3), dec):.{dec}f}"
        flag = "H" if float(value) > high else "L" if float(value) < low else "N"
        ref = f"{low:.{dec}f}-{high:.{dec}f}"
        body.append(
            f"OBX|{i}|NM|{jlac}^{esc(display)}^JC10^{local}^{esc(local_display)}^99X03||{value}|{esc(unit)}^{esc(unit)}"
            f"^99XYZ|{ref}|{flag}|||F|||{ts(collected, 12)}"
        )
        records.append(
            Observation(
                patient_id=p.pid, code=Coding(jlac, display, "JC10"), local_code=Coding(local, local_display, "99X03"),
                value=value, value_type="NM", unit=unit, reference_range=ref, abnormal_flag=flag,
                effective=parse_dtm(ts(collected, 12)), result_status="F", order_no=order_no,
                specimen=dict(specimen), record_key=f"{p.pid}/OML-11/{order_no}/{jlac}",
            )
        )  # fmt: skip
    return Spec("OML-11", f"{day:%Y%m%d}", order_no, reported, dept_code, "OUL^R22^OUL_R22", body, records)


# data type -> (category, MSH-9, parent code, code system, child codes, performed)
IMAGING: dict[str, tuple[str, str, tuple[str, str], str, list[tuple[str, str]], bool]] = {
    "OMG-01": ("radiology", "OMG^O19^OMG_O19", V.RADIOLOGY, "JJ1017", V.RADIOLOGY_PARTS, False),
    "OMG-02": ("endoscopy", "OMG^O19^OMG_O19", V.ENDOSCOPY, "LENDO", V.ENDOSCOPY_PARTS, False),
    "OMG-03": ("physiology", "OMG^O19^OMG_O19", V.ECG, "JC10", [], False),
    "OMG-11": ("radiology", "OMI^Z23^OMI_Z23", V.RADIOLOGY, "JJ1017", V.RADIOLOGY_PARTS, True),
    "OMG-12": ("endoscopy", "OMI^Z23^OMI_Z23", V.ENDOSCOPY, "LENDO", V.ENDOSCOPY_PARTS, True),
}


def omg(p: SynthPatient, rng: random.Random, day: date, dtype: str) -> Spec:
    """An order (OMG-01/02/03: ORC-9 is the care date) or its performed report (OMG-11/12: OBR-7), the
    parent order with a clinical note or findings, then child orders (ORC CH) for each part."""
    category, msh9, (code, name), system, parts, performed = IMAGING[dtype]
    order_no, (_, doc) = _order_no(rng), doctor(rng)
    ordered = at(day - timedelta(days=rng.randint(1, 7)) if performed else day, rng.randint(8, 16), rng.randrange(60))
    done = at(day, rng.randint(9, 17), rng.randrange(60), rng.randrange(60))
    obr7 = ts(done) if performed else ""
    modality = "CR" if category == "radiology" else "ES"
    uid = f"2.25.{rng.randrange(10**30)}"
    body = [p.pid_segment(), f"PV1|0001|O|{p.dept[0]}^^^^^C||||{doc}|||{p.dept[0]}"]
    records: list[Record] = []

    def group(ctl: str, no: str, c: str, n: str, note: tuple[str, str] | None, parent: str = "") -> None:
        body.append(_orc(ctl, no, ordered, doc, p.dept, f8=parent))
        body.append("TQ1|1||||||||R^^HL70485")
        obr = {2: no, 4: f"{c}^{n}^{system}", 16: doc}
        if performed:
            obr.update({7: obr7, 22: obr7, 25: "F"})
        if parent:
            obr[29] = parent
        body.append(seg("OBR", obr))
        if note:
            body.append(f"OBX|1|TX|{note[0]}||{esc(note[1])}||||||F")
        if performed:
            body.append(f"IPC|A{no}|P{no[-6:]}|{uid}||{modality}^^DCM")
        records.append(
            Order(
                patient_id=p.pid, category=category, order_no=no, code=Coding(c, n, system),
                ordered_at=parse_dtm(obr7 or ts(ordered)), order_status="performed" if performed else ctl,
                text=f"{note[0].split('^')[1]}: {note[1]}" if note else "",
                record_key=f"{p.pid}/{dtype}/{order_no}/{no}/{c}",
            )
        )  # fmt: skip

    if performed:
        note = ("MS3-44^所見^JSHR", rng.choice(V.FINDINGS))
    else:
        note = ("MS3-34^臨床病名^JSHR", rng.choice(V.CLINICAL_NOTES))
    group("NW", order_no, code, name, note)
    for k, (c, n) in enumerate(rng.sample(parts, rng.randint(1, len(parts))) if parts else [], start=1):
        group("CH", f"{int(order_no) + k:015d}", c, n, None, order_no)
    sent = _sent(rng, done if performed else ordered)
    return Spec(dtype, f"{day:%Y%m%d}", order_no, sent, p.dept[0], msh9, body, records)


def omg13(p: SynthPatient, rng: random.Random, day: date) -> Spec:
    """ORU^R01 physiology results: an ECG finding (TX) and its measurements (NM, MFER codes)."""
    order_no, (_, doc) = _order_no(rng), doctor(rng)
    done = at(day, rng.randint(9, 17), rng.randrange(60), rng.randrange(60))
    reported = _sent(rng, done)
    finding = rng.choice(V.FINDINGS)
    body = [
        p.pid_segment(),
        f"PV1|0001|O|{p.dept[0]}^^^^^C||||{doc}|||{p.dept[0]}",
        f"OBR|1|{order_no}||{V.ECG[0]}^{V.ECG[1]}^JC10|||{ts(done)}|||||||||{doc}||||||{ts(reported)}|||F",
        f"OBX|1|TX|9A100&IMP^心電図所見^JC10|1|{esc(finding)}||||||F",
    ]
    effective = parse_dtm(ts(done))
    records: list[Record] = [
        Observation(
            patient_id=p.pid, code=Coding("9A100&IMP", "心電図所見", "JC10"), value=finding, value_type="TX",
            effective=effective, result_status="F", order_no=order_no,
            record_key=f"{p.pid}/OMG-13/{order_no}/9A100&IMP/1",
        )
    ]  # fmt: skip
    for i, (code, name, unit, low, high) in enumerate(V.ECG_VALUES, start=2):
        value = str(rng.randint(low, high))
        body.append(f"OBX|{i}|NM|{code}^{name}^99MFR|2|{value}|{unit}|||||F")
        records.append(
            Observation(
                patient_id=p.pid, code=Coding(code, name, "99MFR"), value=value, value_type="NM", unit=unit,
                effective=effective, result_status="F", order_no=order_no,
                record_key=f"{p.pid}/OMG-13/{order_no}/{code}/2",
            )
        )  # fmt: skip
    return Spec("OMG-13", f"{day:%Y%m%d}", order_no, reported, p.dept[0], "ORU^R01^ORU_R01", body, records)


__all__ = ["omd", "omg", "omg13", "oml01", "oml11", "omp01", "omp02", "omp_administration"]
