"""Generator of extended storage files: bedside vitals (ORU^R30 under
`L-OBSERVATIONS^OBSERVATIONS^99ZL01`), CDA R2 documents and PDF documents under LOINC-coded kind
folders. Content folders get the standard 7-part name, so a document update is a `_2` folder plus a
new `_1` one with a later timestamp."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from xml.sax.saxutils import escape, quoteattr

from renkei.connectors.hl7v2 import parse_dtm
from renkei.records import Coding, Document, Observation, Record

from . import _synthetic as V
from ._gen_adt import doctor
from ._gen_common import FLAG_STATUS, SynthPatient, at, msh, stamp, ts
from ._naming import NO_ORDER

VITALS_KIND = "L-OBSERVATIONS^OBSERVATIONS^99ZL01"
JP_PATIENT_ID_ROOT = "1.2.392.100495.20.3.51.19999999"  # JP patient id OID + an invented institution
DOCUMENT_ID_ROOT = "2.25.329800735698586629295641978511506172918"  # a UUID-derived OID, owned by no one


def _folder(p: SynthPatient, day: date, kind: str, content: str) -> str:
    return f"{p.pid[0:3]}/{p.pid[3:6]}/{p.pid}/{day:%Y%m%d}/{kind}/{content}"


def _content(p: SynthPatient, day: date, label: str, order_no: str, when: datetime, flag: str) -> str:
    return f"{p.pid}_{day:%Y%m%d}_{label}_{order_no}_{stamp(when)}_{p.dept[0]}_{flag}"


def vitals(p: SynthPatient, rng: random.Random, measured: datetime) -> tuple[str, bytes, list[Record]]:
    day = measured.date()
    sent = measured + timedelta(minutes=rng.randint(1, 20), milliseconds=rng.randrange(1000))
    key = f"{_folder(p, day, VITALS_KIND, _content(p, day, 'L-OBSERVATIONS', NO_ORDER, sent, '1'))}/main_document.hl7"
    when = ts(measured, 12)
    lines = [
        msh("ORU^R30^ORU_R30", sent, f"V{p.pid}{stamp(sent)[-9:]}"),
        p.pid_segment(),
        f"PV1|0001|I|{rng.randint(31, 45)}^{rng.randint(301, 330)}^^^^N",
        f"ORC|NW|||||||||||{doctor(rng)[1]}",
        f"OBR|1|||L-OBSERVATIONS^バイタルサイン^99ZL01|||{when}",
    ]
    records: list[Record] = []
    slot = f"@{day:%Y%m%d}"
    for i, (code, name, unit, low, high, dec) in enumerate(V.VITALS, start=1):
        value = f"{rng.uniform(low, high):.{dec}f}"
        lines.append(f"OBX|{i}|NM|{code}^{name}^JC10||{value}|{unit}^{unit}^ISO+|||||F|||{when}")
        records.append(
            Observation(
                patient_id=p.pid, code=Coding(code, name, "JC10"), value=value, value_type="NM", unit=unit,
                effective=parse_dtm(when), result_status="F", record_key=f"{p.pid}/EXT/{slot}/{code}/{when}",
                source=key,
            )
        )  # fmt: skip
    return key, ("\r".join(lines) + "\r").encode("iso2022_jp"), records


def cda_xml(
    p: SynthPatient, doc_id: str, loinc: str, title: str, authored: datetime, sections: list[tuple[str, list[str]]]
) -> bytes:
    """A CDA R2 document (UTF-8) with one section per (title, paragraphs)."""
    parts = []
    for sec_title, paragraphs in sections:
        paras = "".join(f"<paragraph>{escape(t)}</paragraph>" for t in paragraphs)
        parts.append(
            f"<component><section><title>{escape(sec_title)}</title><text>{paras}</text></section></component>"
        )
    f, g = p.family, p.given
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
        '<realmCode code="JP"/><typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>\n'
        f'<id root="{DOCUMENT_ID_ROOT}" extension="{doc_id}"/>\n'
        f'<code code="{loinc}" codeSystem="2.16.840.1.113883.6.1" displayName={quoteattr(title)}/>\n'
        f"<title>{escape(title)}</title>\n"
        f'<effectiveTime value="{ts(authored)}+0900"/>\n'
        '<confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25"/><languageCode code="ja-JP"/>\n'
        f'<recordTarget><patientRole><id root="{JP_PATIENT_ID_ROOT}" extension="{p.pid}"/>\n'
        f"<patient><name>{escape(f[0])} {escape(g[0])}</name>"
        f'<administrativeGenderCode code="{p.sex}" codeSystem="2.16.840.1.113883.5.1"/>'
        f'<birthTime value="{p.birth:%Y%m%d}"/></patient></patientRole></recordTarget>\n'
        f'<author><time value="{ts(authored)}+0900"/><assignedAuthor><id extension="D0001"/></assignedAuthor>'
        "</author>\n"
        f"<component><structuredBody>{''.join(parts)}</structuredBody></component>\n"
        "</ClinicalDocument>\n"
    ).encode()


def tiny_pdf(lines: list[str]) -> bytes:
    """A minimal valid one-page PDF (ASCII text, Helvetica) with a correct cross-reference table."""
    text = " ".join(f"({line}) Tj T*" for line in lines)
    stream = f"BT /F1 12 Tf 14 TL 72 720 Td {text} ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _file(data: bytes, name: str = "main_document.xml") -> dict[str, object]:
    """The file fields the reader gives a document that is its stored input."""
    return {"content": "raw", "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "file_name": name}


def _document_files(
    p: SynthPatient, rng: random.Random, day: date, conditions: bool
) -> Iterator[tuple[str, bytes, list[Record]]]:
    loinc, title = V.DOCUMENT_KINDS[0] if rng.random() < 0.6 else rng.choice(V.DOCUMENT_KINDS[1:])
    kind = f"^{title}^^{loinc}^{title}^LN"
    doc_no = f"{rng.randrange(10**14, 10**15):015d}"
    authored = at(day, rng.randint(9, 18), rng.randrange(60), rng.randrange(60))
    sections = [
        ("主訴", [rng.choice(V.CLINICAL_NOTES)]),
        ("経過", [rng.choice(V.FINDINGS), f"{rng.choice(V.DISEASES)[1]}に対し加療した。"]),
        ("今後の方針", [rng.choice(V.DIET_NOTES), "訪問看護にて経過観察"]),
    ]
    data = cda_xml(p, doc_no, loinc, title, authored, sections)
    text = "\n".join(line for sec_title, paras in sections for line in (sec_title, *paras))
    versions = ["2", "1"] if conditions else ["1"]
    when = authored + timedelta(minutes=5, milliseconds=rng.randrange(1000))
    for flag in versions:
        key = f"{_folder(p, day, kind, _content(p, day, loinc, doc_no, when, flag))}/main_document.xml"
        yield key, data, [
            Document(
                patient_id=p.pid, title=title, code=Coding(loinc, title, "LN"), media_type="application/hl7-cda+xml",
                path=key, text=text, authored_at=parse_dtm(f"{ts(authored)}+0900"),
                record_key=f"{p.pid}/EXT/{doc_no}/document/{loinc}", status=FLAG_STATUS[flag], source=key,
                **_file(data),
            )
        ]  # fmt: skip
        when += timedelta(hours=rng.randint(1, 30))
    # A referral letter scanned to PDF (no order number: keyed by the care date).
    loinc, title = "57133-1", "診療情報提供書"
    kind = f"^{title}^^{loinc}^{title}^LN"
    sent = authored + timedelta(minutes=30, milliseconds=rng.randrange(1000))
    key = f"{_folder(p, day, kind, _content(p, day, loinc, NO_ORDER, sent, '1'))}/main_document.pdf"
    pdf = tiny_pdf(["Referral letter", f"patient {p.pid}", f"{day:%Y-%m-%d}"])
    yield key, pdf, [
        Document(
            patient_id=p.pid, title=title, code=Coding(loinc, title, "LN"), media_type="application/pdf", path=key,
            record_key=f"{p.pid}/EXT/@{day:%Y%m%d}/document/{loinc}", source=key, **_file(pdf, "main_document.pdf"),
        )
    ]  # fmt: skip


def extended_files(
    p: SynthPatient, rng: random.Random, *, conditions: bool = False
) -> Iterator[tuple[str, bytes, list[Record]]]:
    """One patient's extended files: 2-4 vitals sets over a few days, a CDA document, a PDF."""
    start = date(2024, 1, 5) + timedelta(days=rng.randrange(300))
    for n in range(rng.randint(2, 4)):
        yield vitals(p, rng, at(start + timedelta(days=n // 2), 6 + 8 * (n % 2), rng.randrange(60)))
    yield from _document_files(p, rng, start + timedelta(days=rng.randint(3, 9)), conditions)
