"""What every generator module shares: the synthetic patient, MSH, file names, HL7 escaping, a segment
builder, and the Spec of one file before its condition flag is chosen."""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from renkei.connectors.hl7v2 import JST
from renkei.records import Patient, Record, RecordStatus

from ._synthetic import DEPARTMENTS, FAMILY, GIVEN_F, GIVEN_M, PLACES

MSH_TAIL = "P|2.5||||||~ISO IR87||ISO 2022-1994|SS-MIX2_1.20^SS-MIX2^1.2.392.200250.2.1.100.1.2.120^ISO"
FLAG_STATUS = {"1": RecordStatus.CURRENT, "2": RecordStatus.SUPERSEDED, "0": RecordStatus.DELETED}


@dataclass(slots=True)
class Written:
    key: str
    records: list[Record]


def esc(value: str) -> str:
    """HL7 escaping of a text value (the parser must undo it)."""
    if not any(ch in value for ch in "\\|^&~"):
        return value
    return (
        value.replace("\\", "\\E\\")
        .replace("|", "\\F\\")
        .replace("^", "\\S\\")
        .replace("&", "\\T\\")
        .replace("~", "\\R\\")
    )


def ts(dt: datetime, digits: int = 14) -> str:
    return dt.strftime("%Y%m%d%H%M%S")[:digits]


def at(day: date, hour: int, minute: int = 0, second: int = 0, ms: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, ms * 1000, tzinfo=JST)


def seg(name: str, fields: dict[int, str]) -> str:
    """`NAME|f1|f2…` from {index: value}; absent fields are empty, trailing empties dropped."""
    last = max(fields) if fields else 0
    return "|".join([name, *(fields.get(i, "") for i in range(1, last + 1))])


class SynthPatient:
    def __init__(self, rng: random.Random, index: int) -> None:
        self.pid = f"{(index * 7919 + 1000003) % 10**9:09d}"
        self.sex = rng.choice("MF")
        self.family = rng.choice(FAMILY)
        self.given = rng.choice(GIVEN_M if self.sex == "M" else GIVEN_F)
        self.birth = date(1925, 1, 1) + timedelta(days=rng.randrange(365 * 70))
        self.postcode, town = rng.choice(PLACES)
        self.address = f"{town}{rng.randint(1, 9)}−{rng.randint(1, 30)}−{rng.randint(1, 20)}"
        self.phone = f"0{rng.randint(3, 99)}-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}"
        self.mobile = f"090-{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}"
        self.dept = rng.choice(DEPARTMENTS)

    def pid_segment(self) -> str:
        f, g = self.family, self.given
        return (
            f"PID|0001||{self.pid}^^^^PI||{f[0]}^{g[0]}^^^^^L^I~{f[1]}^{g[1]}^^^^^L^P||{self.birth:%Y%m%d}|{self.sex}"
            f"|||^^^^{self.postcode}^JPN^H^{esc(self.address)}||^PRN^PH^^^^^^^^^{self.phone}"
            f"~^ORN^CP^^^^^^^^^{self.mobile}"
        )

    def record(self, key: str, flag: str) -> Patient:
        return Patient(
            patient_id=self.pid,
            name_kanji=f"{self.family[0]} {self.given[0]}",
            name_kana=f"{self.family[1]} {self.given[1]}",
            birth_date=self.birth,
            sex=self.sex,
            postcode=self.postcode,
            address=self.address,
            phones=[self.phone, self.mobile],
            record_key=f"{self.pid}/ADT-00/@-/patient",
            status=FLAG_STATUS[flag],
            source=key,
        )


def msh(code: str, when: datetime, control: str) -> str:
    return f"MSH|^~\\&|RENKEI-GEN|SEND|GW|RCV|{ts(when)}.{when.microsecond // 1000:03d}||{code}|{control}|{MSH_TAIL}"


def stamp(when: datetime) -> str:
    """The 17-digit event timestamp of a file name."""
    return f"{ts(when)}{when.microsecond // 1000:03d}"


def file_key(p: SynthPatient, care: str, dtype: str, order_no: str, when: datetime, dept: str, flag: str) -> str:
    name = f"{p.pid}_{care}_{dtype}_{order_no}_{stamp(when)}_{dept}_{flag}"
    return f"{p.pid[0:3]}/{p.pid[3:6]}/{p.pid}/{care}/{dtype}/{name}"


@dataclass(slots=True)
class Spec:
    """One standard-storage file before its condition flag: name parts, message and expected records.

    `records` carry their record keys (which never depend on the flag) and status CURRENT; `render`
    gives them the status the flag means and the key as source.
    """

    dtype: str
    care: str  # YYYYMMDD or "-"
    order_no: str
    when: datetime  # the event timestamp of the file name and MSH-7
    dept: str
    msh9: str
    body: list[str]  # segments after MSH, PID first
    records: list[Record] = field(default_factory=list)


def render(p: SynthPatient, spec: Spec, flag: str, control: str) -> tuple[str, str, list[Record]]:
    key = file_key(p, spec.care, spec.dtype, spec.order_no, spec.when, spec.dept, flag)
    text = "\r".join([msh(spec.msh9, spec.when, control), *spec.body]) + "\r"
    status = FLAG_STATUS[flag]
    return key, text, [dataclasses.replace(r, status=status, source=key) for r in spec.records]
