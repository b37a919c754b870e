"""Document files for the document tests: a real (if small) PDF with binary content, placed in an SS-MIX2
extended storage the way a hospital exports a scanned referral letter."""

from __future__ import annotations

from pathlib import Path

PID = "9999013"
DAY = f"999/901/{PID}/20240105"
REFERRAL_KIND = "^診療情報提供書^^57133-1^診療情報提供書^LN"
CONTENT = f"{PID}_20240105_57133-1_999999999999999_20240105110000000_01_1"
PDF_KEY = f"{DAY}/{REFERRAL_KIND}/{CONTENT}/main_document.pdf"


def binary_pdf() -> bytes:
    """A one-page PDF whose content stream holds every byte value 0-255 (so any text-mode, charset or
    base64 slip in the path shows as a difference), cross-reference offsets computed."""
    payload = bytes(range(256)) * 4
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(payload) + payload + b"\nendstream",
    ]
    out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
    offsets = []
    for n, obj in enumerate(objs, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (n, obj)
    xref = len(out)
    out += b"xref\n0 5\n0000000000 65535 f \n" + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    return out + b"trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref


def write_referral_pdf(root: Path, data: bytes | None = None, key: str = PDF_KEY) -> bytes:
    data = binary_pdf() if data is None else data
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data
