"""Extended storage files are read by content: images become documents with their file, a CDA outside the
urn:hl7-org:v3 namespace and files over the limit are refused naming the file, the author is read."""

from __future__ import annotations

import hashlib

import pytest

from renkei.connectors.ssmix2 import SSMIX2Error, parse_file
from renkei.mappings.content import MAX_DOCUMENT_BYTES
from renkei.records import Document

PID = "9999013"
DAY = f"999/901/{PID}/20240105"
CONTENT = f"{PID}_20240105_72170-4_999999999999999_20240105110000000_01_1"
PHOTO_KIND = "^写真^^72170-4^Photographic image^LN"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256))


def _doc(key: str, raw: bytes) -> Document:
    (doc,) = parse_file(key, raw).records
    assert isinstance(doc, Document)
    return doc


def test_an_image_is_a_document_with_its_file() -> None:
    key = f"{DAY}/{PHOTO_KIND}/{CONTENT}/main_document.jpg"
    doc = _doc(key, JPEG)
    assert (doc.media_type, doc.content, doc.size, doc.file_name) == (
        "image/jpeg",
        "raw",
        len(JPEG),
        "main_document.jpg",
    )
    assert doc.sha256 == hashlib.sha256(JPEG).hexdigest() and doc.title == "Photographic image"
    # no extension at all: the bytes still tell
    assert _doc(f"{DAY}/{PHOTO_KIND}/{CONTENT}/main_document", JPEG).media_type == "image/jpeg"


def test_cda_must_be_in_the_hl7_v3_namespace_and_its_author_is_read() -> None:
    key = f"{DAY}/^退院時サマリー^^18842-5^退院時サマリー^LN/{CONTENT}/main_document.xml"
    cda = (
        '<ClinicalDocument xmlns="urn:hl7-org:v3"><title>退院時サマリー</title><author><assignedAuthor>'
        "<assignedPerson><name><family>田中</family><given>一郎</given></name></assignedPerson>"
        "</assignedAuthor></author></ClinicalDocument>"
    )
    doc = _doc(key, cda.encode())
    assert (doc.author, doc.media_type, doc.content) == ("田中 一郎", "application/hl7-cda+xml", "raw")
    with pytest.raises(SSMIX2Error) as exc:
        parse_file(key, cda.replace("urn:hl7-org:v3", "urn:example").encode())
    assert exc.value.kind == "bad_document" and "not 'urn:hl7-org:v3'" in str(exc.value)
    assert str(exc.value).startswith(key)


def test_unsupported_and_oversize_files_are_refused_naming_the_file() -> None:
    key = f"{DAY}/{PHOTO_KIND}/{CONTENT}/main_document.exe"
    with pytest.raises(SSMIX2Error, match=r"unsupported extended storage document 'exe'.*starts with 4d 5a"):
        parse_file(key, b"MZ\x90\x00")
    big = b"%PDF-1.4\n" + bytes(MAX_DOCUMENT_BYTES)
    with pytest.raises(SSMIX2Error, match=rf"the document is {len(big)} bytes; the limit is {MAX_DOCUMENT_BYTES}"):
        parse_file(f"{DAY}/{PHOTO_KIND}/{CONTENT}/main_document.pdf", big)
