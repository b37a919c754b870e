"""Extended storage documents: CDA R2 XML and PDF `main_document.*` files into Document records.

CDA is read with the standard library's expat through an ElementTree TreeBuilder, with every entity
declaration refused (the defusing that defusedxml does, without the dependency): a clinical document
has no business declaring entities, and expanding them is the billion-laughs and external-entity
attack surface. Malformed XML raises SSMIX2Error `bad_document` with expat's line and column.

Kind folder names are CWE-like (`code^text^system^alt code^alt text^alt system`, e.g.
`^退院時サマリー^^18842-5^退院時サマリー^LN`) and read tolerantly: percent-encoded or full-width
carets are accepted, and a LOINC coding in either triplet is the document's code.
"""

from __future__ import annotations

import hashlib
import re
import xml.parsers.expat as expat
from urllib.parse import unquote
from xml.etree.ElementTree import Element, TreeBuilder

from renkei.connectors.hl7v2 import parse_dtm
from renkei.mappings import content as kinds
from renkei.records import Coding, Document, RecordStatus

from ._errors import Defect, SSMIX2Error
from ._naming import StorageName

CDA_MEDIA_TYPE = kinds.CDA
PDF_MEDIA_TYPE = kinds.PDF
_BY_EXTENSION = {"pdf": kinds.PDF, "png": kinds.PNG, "jpg": kinds.JPEG, "jpeg": kinds.JPEG, "gif": kinds.GIF,
                 "xml": kinds.CDA, "docx": kinds.DOCX, "xlsx": kinds.XLSX}  # fmt: skip
LOINC_OID = "2.16.840.1.113883.6.1"
_LOINC_NAMES = frozenset(["LN", "LOINC", LOINC_OID])
# Narrative elements that start a new line when the text is flattened (CDA R2 narrative block).
_BLOCKS = frozenset(["paragraph", "br", "list", "item", "table", "thead", "tbody", "tfoot", "tr", "caption"])
_CELLS = frozenset(["td", "th"])
_DECLARED = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_EXPAT_NATIVE = frozenset(["utf-8", "utf8", "utf-16", "us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1"])
_JP_CODECS = {
    "shift-jis": "cp932", "shift_jis": "cp932", "sjis": "cp932", "x-sjis": "cp932", "windows-31j": "cp932",
    "cp932": "cp932", "euc-jp": "euc_jp", "iso-2022-jp": "iso2022_jp",
}  # fmt: skip


def kind_coding(folder: str) -> tuple[Coding | None, str]:
    """(LOINC coding or None, human label) of an extended storage kind folder name."""
    name = unquote(folder) if "%" in folder else folder
    c = [*name.replace("＾", "^").split("^"), "", "", "", "", "", ""][:6]
    code = None
    if c[5].upper() in _LOINC_NAMES and c[3]:
        code = Coding(c[3], c[4], "LN")
    elif c[2].upper() in _LOINC_NAMES and c[0]:
        code = Coding(c[0], c[1], "LN")
    label = (code.display if code else "") or next((x for x in (c[1], c[4], c[0], c[3]) if x), name)
    return code, label


def _bad(sn: StorageName, problem: str, offset: int | None = None) -> SSMIX2Error:
    return SSMIX2Error(Defect("bad_document", sn.key, problem=problem, offset=offset), list(sn.defects))


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1]


class _Refused(Exception):
    pass


def parse_xml(raw: bytes, sn: StorageName) -> Element:
    """The element tree of an XML document (namespaces dropped: CDA is one namespace), defused."""
    data, override = raw, None
    declared = _DECLARED.match(raw[:300])
    if declared:
        enc = declared.group(1).decode("ascii").lower()
        if enc not in _EXPAT_NATIVE:
            try:
                data, override = raw.decode(_JP_CODECS.get(enc, enc)).encode("utf-8"), "utf-8"
            except LookupError:
                raise _bad(sn, f"XML declares the unknown encoding {enc!r}") from None
            except UnicodeDecodeError as exc:
                raise _bad(sn, f"XML is not valid {enc} ({exc.reason})", exc.start) from None
    builder = TreeBuilder()
    parser = expat.ParserCreate(override, namespace_separator="}")
    root_ns: list[str] = []

    def start(tag: str, attrs: dict[str, str]) -> None:
        if not root_ns:
            root_ns.append(tag.rsplit("}", 1)[0] if "}" in tag else "")
        builder.start(_local(tag), {_local(k): v for k, v in attrs.items()})

    def refuse(*_: object) -> None:
        raise _Refused

    parser.StartElementHandler = start
    parser.EndElementHandler = lambda tag: builder.end(_local(tag))
    parser.CharacterDataHandler = builder.data
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise _bad(
            sn, f"malformed XML: {expat.ErrorString(exc.code)} at line {exc.lineno}, column {exc.offset + 1}"
        ) from None
    except _Refused:
        raise _bad(
            sn,
            f"XML declares an entity at line {parser.CurrentLineNumber}, column {parser.CurrentColumnNumber + 1};"
            " refused (entity expansion is a denial-of-service and disclosure risk)",
        ) from None
    root = builder.close()
    root.set("{renkei}namespace", root_ns[0] if root_ns else "")
    return root


def _flatten(elem: Element, out: list[str]) -> None:
    block = elem.tag in _BLOCKS
    if block:
        out.append("\n")
    elif elem.tag in _CELLS:
        out.append(" ")
    if elem.text:
        out.append(elem.text)
    for child in elem:
        _flatten(child, out)
        if child.tail:
            out.append(child.tail)
    if block:
        out.append("\n")


def narrative(root: Element) -> str:
    """Section titles and narrative text of a CDA body, one line per block, whitespace collapsed."""
    lines: list[str] = []

    def add(parts: list[str]) -> None:
        for line in "".join(parts).split("\n"):
            text = " ".join(line.split())
            if text:
                lines.append(text)

    for section in root.iter("section"):
        for child in section:
            if child.tag == "title":
                add(["".join(child.itertext())])
            elif child.tag == "text":
                parts: list[str] = []
                _flatten(child, parts)
                add(parts)
    for body in root.iter("nonXMLBody"):  # plain-text bodies only; others stay in the raw file
        text = body.find("text")
        if (
            text is not None
            and text.get("mediaType", "text/plain") == "text/plain"
            and text.get("representation", "TXT") == "TXT"
        ):
            add(["".join(text.itertext())])
    return "\n".join(lines)


def _record_key(sn: StorageName, pid: str, fact: str) -> str:
    slot = sn.order_no or f"@{sn.care_date}"
    return f"{pid}/EXT/{slot}/document/{fact}"


def cda(sn: StorageName, raw: bytes, pid: str, status: RecordStatus) -> tuple[Document, list[Defect]]:
    root = parse_xml(raw, sn)
    if root.tag != "ClinicalDocument":
        raise _bad(sn, f"not a CDA document: the root element is <{root.tag}>, not <ClinicalDocument>")
    namespace = root.get("{renkei}namespace", "")
    if namespace != "urn:hl7-org:v3":
        raise _bad(
            sn,
            f"not a CDA document: <ClinicalDocument> is in the namespace {namespace or '(none)'!r}, "
            "not 'urn:hl7-org:v3'",
        )
    defects: list[Defect] = []
    kind_code, label = kind_coding(sn.folder_kind)
    code = kind_code
    el = root.find("code")
    if el is not None and el.get("code"):
        system = el.get("codeSystem", "")
        code = Coding(el.get("code", ""), el.get("displayName", ""), "LN" if system in _LOINC_NAMES else system)
        if kind_code is not None and kind_code.code != code.code:
            defects.append(
                Defect(
                    "data_type_mismatch", sn.key, "ClinicalDocument", "code",
                    f"CDA code {code.code} but the kind folder says {kind_code.code}",
                )
            )  # fmt: skip
    title_el = root.find("title")
    title = " ".join("".join(title_el.itertext()).split()) if title_el is not None else ""
    authored = None
    eff = root.find("effectiveTime")
    if eff is not None and eff.get("value"):
        authored = parse_dtm(eff.get("value", ""))
        if authored is None:
            defects.append(Defect("bad_value", sn.key, "ClinicalDocument", "effectiveTime", "not a date/time"))
    ids = [
        i.get("extension", "")
        for i in root.findall("recordTarget/patientRole/id")
        if i.get("extension")
    ]  # fmt: skip
    if ids and pid not in ids:
        defects.append(
            Defect(
                "patient_mismatch", sn.key, "recordTarget", "patientRole/id",
                "patient ids disagree: the CDA's recordTarget names another patient than the patient folder",
            )
        )  # fmt: skip
    doc = Document(
        patient_id=pid,
        title=title or label,
        code=code,
        media_type=CDA_MEDIA_TYPE,
        path=sn.key,
        text=narrative(root),
        authored_at=authored,
        author=_author(root),
        **_file(sn, raw),
        record_key=_record_key(sn, pid, code.code if code else label),
        status=status,
        source=sn.key,
    )
    return doc, defects


def pdf(sn: StorageName, raw: bytes, pid: str, status: RecordStatus) -> tuple[Document, list[Defect]]:
    """A PDF is kept as it is (the engine stores the raw bytes); only its header is checked."""
    head = raw[:1024]
    if b"%PDF-" not in head:
        shown = " ".join(f"0x{b:02x}" for b in raw.lstrip()[:5])
        raise _bad(sn, f"not a PDF: no %PDF- header in the first 1024 bytes (starts with {shown})", 0)
    defects = []
    if b"%%EOF" not in raw[-1024:]:
        defects.append(Defect("bad_value", sn.key, problem="PDF has no %%EOF in its last 1024 bytes (truncated?)"))
    return _stored_file(sn, raw, pid, status, PDF_MEDIA_TYPE), defects


def _stored_file(sn: StorageName, raw: bytes, pid: str, status: RecordStatus, media_type: str) -> Document:
    """A document kept as it is (PDF, image): titled and coded by its kind folder, the file its raw input."""
    code, label = kind_coding(sn.folder_kind)
    return Document(
        patient_id=pid,
        title=label,
        code=code,
        media_type=media_type,
        path=sn.key,
        **_file(sn, raw),
        record_key=_record_key(sn, pid, code.code if code else label),
        status=status,
        source=sn.key,
    )


def _file(sn: StorageName, raw: bytes) -> dict[str, object]:
    """The file fields of a document whose stored input is the file itself (content "raw")."""
    return {
        "content": "raw",
        "size": len(raw),
        "sha256": hashlib.sha256(raw).hexdigest(),
        "file_name": sn.key.rsplit("/", 1)[-1],
    }


def _author(root: Element) -> str:
    """The first author's name (assignedPerson family + given), else the organisation's name."""
    for author in root.findall("author/assignedAuthor"):
        name = author.find("assignedPerson/name")
        if name is not None:
            parts = [" ".join("".join(p.itertext()).split()) for p in (*name.findall("family"), *name.findall("given"))]
            text = " ".join(p for p in parts if p) or " ".join("".join(name.itertext()).split())
            if text:
                return text
        org = author.find("representedOrganization/name")
        if org is not None and "".join(org.itertext()).strip():
            return " ".join("".join(org.itertext()).split())
    return ""


def image(
    sn: StorageName, raw: bytes, pid: str, status: RecordStatus, media_type: str
) -> tuple[Document, list[Defect]]:
    """An image (PNG, JPEG, GIF) is kept as it is, like a PDF; its kind folder names it."""
    return _stored_file(sn, raw, pid, status, media_type), []


def document(sn: StorageName, raw: bytes, pid: str, status: RecordStatus) -> tuple[Document, list[Defect]]:
    """Dispatch on the content (what the bytes are, mappings/content.py), never on the name alone: a file
    whose extension names another kind than its bytes, one over the size limit and one of no accepted
    kind are refused (the message is quarantined with the reason)."""
    name = sn.key.rsplit("/", 1)[-1]
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if len(raw) > kinds.MAX_DOCUMENT_BYTES:
        raise _bad(sn, f"the document is {len(raw)} bytes; the limit is {kinds.MAX_DOCUMENT_BYTES} bytes")
    found = kinds.identify(raw)
    named = _BY_EXTENSION.get(ext)
    if found is not None and named is not None and found != named and not (found == kinds.XML and ext == "xml"):
        what = kinds.LABELS.get(found, found)
        raise _bad(sn, f"the file is named .{ext} ({kinds.LABELS[named]}) but its content is {what}", 0)
    if found == kinds.PDF or (found is None and ext == "pdf"):
        return pdf(sn, raw, pid, status)
    if found in (kinds.PNG, kinds.JPEG, kinds.GIF):
        return image(sn, raw, pid, status, found)
    if found in (kinds.CDA, kinds.XML):
        return cda(sn, raw, pid, status)
    shown = kinds.describe_start(raw.lstrip(b"\xef\xbb\xbf\r\n\t "), 4)
    what = kinds.LABELS.get(found or "", "no accepted kind")
    raise _bad(
        sn,
        f"unsupported extended storage document {ext or '(no extension)'!r}: {what} (starts with {shown}); "
        "accepted are PDF, CDA (XML), PNG, JPEG, GIF",
        0,
    )
