"""What a file is, told by its bytes (magic numbers), never by its name, and whether it may be sent.

Documents reach renkei from SS-MIX2 extended storage (`main_document.*`), HL7 v2 ED attachments (base64
in OBX-5) and users' light pushes (level 3). Each is identified here by content:

    PDF            %PDF- within the first 1024 bytes (ISO 32000 allows leading junk there)
    PNG / JPEG / GIF  their signatures (89 50 4E 47 0D 0A 1A 0A / FF D8 FF / GIF87a, GIF89a)
    CDA R2         XML whose root element is ClinicalDocument in the urn:hl7-org:v3 namespace
    DOCX / XLSX    a zip (PK 03 04) holding [Content_Types].xml and word/ or xl/ parts

A refusal (`ContentRefused`, an InputError: the message is quarantined, kept and reprocessable) names
the file and field, what was expected and what the bytes are, never the content itself.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from renkei.errors import InputError
from renkei.records import Document, Record

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
GIF = "image/gif"
CDA = "application/hl7-cda+xml"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
XML = "application/xml"  # XML that is not a CDA document
MP4 = "video/mp4"
WEBM = "video/webm"
WAV = "audio/wav"
MP3 = "audio/mpeg"
M4A = "audio/mp4"
HEIC = "image/heic"
WEBP = "image/webp"

CLINICAL = frozenset([PDF, PNG, JPEG, GIF, CDA])  # what a clinical source may post as a file
OFFICE = frozenset([DOCX, XLSX])  # accepted from users' light pushes (level 3)
MEDIA = frozenset([MP4, WEBM, WAV, MP3, M4A, HEIC, WEBP])  # video and voice notes, from light pushes too
MAX_DOCUMENT_BYTES = 20 * 1024 * 1024  # per file: what care SNS tools commonly accept

LABELS = {PDF: "PDF", PNG: "PNG", JPEG: "JPEG", GIF: "GIF", CDA: "CDA", DOCX: "Word (docx)", XLSX: "Excel (xlsx)",
          XML: "XML", MP4: "MP4", WEBM: "WebM", WAV: "WAV", MP3: "MP3", M4A: "M4A", HEIC: "HEIC",
          WEBP: "WebP"}  # fmt: skip
EXTENSIONS = {PDF: "pdf", PNG: "png", JPEG: "jpg", GIF: "gif", CDA: "xml", DOCX: "docx", XLSX: "xlsx", XML: "xml",
              MP4: "mp4", WEBM: "webm", WAV: "wav", MP3: "mp3", M4A: "m4a", HEIC: "heic", WEBP: "webp"}  # fmt: skip
# Media types a sender may use for the same content (HL7 v2 OBX-5.2/5.3 are often loose).
_ALIASES = {"image/jpg": JPEG, "image/pjpeg": JPEG, "text/xml": CDA, "application/xml": CDA, "application/x-pdf": PDF}

_V3 = "urn:hl7-org:v3"
_ROOT = re.compile(rb"<(?![?!])([A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)([^>]*)>", re.S)
_XMLNS = re.compile(rb"""xmlns(?::([\w.-]+))?\s*=\s*["']([^"']*)["']""")
_BOM = b"\xef\xbb\xbf"


class ContentRefused(InputError):
    """A file refused for what its bytes are (type or size)."""


@dataclass(slots=True, frozen=True)
class Checked:
    media_type: str
    size: int


def describe_start(data: bytes, n: int = 8) -> str:
    """The first bytes in hex, for a refusal: what the file starts with, never its text."""
    return " ".join(f"{b:02x}" for b in data[:n]) or "(empty)"


def identify(data: bytes) -> str | None:
    """The media type the bytes are, or None when they are none of the known kinds."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if b"%PDF-" in data[:1024]:
        return PDF
    if data.startswith(b"PK\x03\x04"):
        return _office(data)
    if data[4:8] == b"ftyp":  # ISO base media: the brand says photo (HEIC), voice (M4A) or video
        brand = data[8:12]
        if brand in (b"heic", b"heix", b"mif1", b"msf1", b"hevc"):
            return HEIC
        return M4A if brand.startswith(b"M4A") else MP4
    if data.startswith(b"\x1a\x45\xdf\xa3"):
        return WEBM
    if data.startswith(b"RIFF") and data[8:12] in (b"WAVE", b"WEBP"):
        return WAV if data[8:12] == b"WAVE" else WEBP
    if data.startswith(b"ID3") or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return MP3
    body = data[3:] if data.startswith(_BOM) else data
    if body.lstrip(b"\r\n\t ").startswith(b"<"):
        return CDA if _is_cda(body) else XML
    return None


def _office(data: bytes) -> str | None:
    try:
        names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return None
    if "[Content_Types].xml" not in names:
        return None
    if any(n.startswith("word/") for n in names):
        return DOCX
    if any(n.startswith("xl/") for n in names):
        return XLSX
    return None


def _is_cda(data: bytes) -> bool:
    """Whether the root element is ClinicalDocument in the HL7 v3 namespace (read from the start tag only;
    the document itself is parsed, defused, by whoever reads it)."""
    head = data[:65536]
    for m in _ROOT.finditer(head):
        prefix = (m.group(1) or b"")[:-1]
        if m.group(2) != b"ClinicalDocument":
            return False
        namespaces = {(p or b""): uri for p, uri in _XMLNS.findall(m.group(3))}
        return namespaces.get(prefix) == _V3.encode()
    return False


def normalise(media_type: str) -> str:
    mt = media_type.strip().lower().split(";", 1)[0]
    return _ALIASES.get(mt, mt)


def check(
    data: bytes,
    where: str,
    *,
    declared: str = "",
    allowed: frozenset[str] = CLINICAL,
    limit: int = MAX_DOCUMENT_BYTES,
) -> Checked:
    """The media type of `data` if it may be sent; ContentRefused naming `where` (file and field) if not:
    too large, not a kind in `allowed`, or not what `declared` (the sender's media type) says."""
    if len(data) > limit:
        raise ContentRefused(
            f"{where}: the file is {len(data)} bytes ({len(data) / 1048576:.1f} MB); the limit is {limit} bytes"
        )
    if not data:
        raise ContentRefused(f"{where}: the file is empty")
    found = identify(data)
    if found is None or found not in allowed:
        if found == XML:
            what = "XML that is not a CDA document (no urn:hl7-org:v3 ClinicalDocument root)"
        elif found is None:
            what = f"no known file type (starts with {describe_start(data)})"
        else:
            what = LABELS[found]
        kinds = ", ".join(sorted(LABELS[k] for k in allowed))
        raise ContentRefused(f"{where}: the content is {what}; accepted are {kinds}")
    if declared and normalise(declared) != found:
        raise ContentRefused(f"{where}: declared as {declared} but the content is {LABELS[found]} ({found})")
    return Checked(found, len(data))


def verify_files(records: Iterable[Record], read: Callable[[str], bytes], where: str) -> None:
    """Check every document file the records carry (by content, against the declared media type and the size
    limit) and set each record's media type to what its bytes are; ContentRefused names `where` (the input)
    and the file's place in it (e.g. "OBX/2")."""
    for r in records:
        if isinstance(r, Document) and r.content:
            place = r.content.split(":", 1)[-1]
            r.media_type = check(read(r.content), f"{where} {place}", declared=r.media_type).media_type
