"""The content-addressed file store and the magic-byte checks, with no database."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from backend.domain.attachments import formats
from backend.domain.attachments.errors import AttachmentTooLargeError, AttachmentTypeNotAllowedError
from backend.domain.attachments.service import AttachmentPurpose, check_upload, clean_filename
from backend.domain.attachments.store import LocalFileStore
from tests.domain.attachments.samples import JPEG, OLE2_XLS, PDF, PNG, files_under, xlsx_bytes, zip_bytes


async def test_store_writes_content_addressed_files(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path)

    digest = await store.put(PNG)

    assert digest == hashlib.sha256(PNG).hexdigest()
    assert files_under(tmp_path) == [tmp_path / digest[:2] / digest[2:4] / digest]
    assert await store.get(digest) == PNG
    assert await store.exists(digest)


async def test_store_keeps_the_same_content_once(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path)

    first = await store.put(PNG)
    second = await store.put(PNG)
    other = await store.put(JPEG)

    assert first == second != other
    assert len(files_under(tmp_path)) == 2  # no temporary files left behind either


async def test_store_rewrites_a_damaged_file(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path)
    digest = await store.put(PNG)
    store.path_of(digest).write_bytes(b"half")

    with pytest.raises(ValueError, match="does not match"):
        await store.get(digest)
    await store.put(PNG)

    assert await store.get(digest) == PNG


async def test_store_refuses_keys_that_are_not_hashes(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path)

    with pytest.raises(ValueError, match="not a SHA-256"):
        await store.get("../../etc/passwd")
    with pytest.raises(FileNotFoundError):
        await store.get("0" * 64)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (PNG, formats.PNG),
        (JPEG, formats.JPEG),
        (PDF, formats.PDF),
        (b"plain text renamed to .png", None),
        (OLE2_XLS, None),  # a legacy .xls
        (zip_bytes({"word/document.xml": b"<x/>", "[Content_Types].xml": b"<x/>"}), None),  # a .docx
        (b"PK\x03\x04 not really a zip", None),
        (b"", None),
    ],
)
def test_sniff_reads_the_first_bytes(data: bytes, expected: str | None) -> None:
    assert formats.sniff(data) == expected


def test_sniff_recognises_a_real_workbook() -> None:
    assert formats.sniff(xlsx_bytes()) == formats.XLSX


def test_macro_workbooks_are_refused() -> None:
    data = zip_bytes({"[Content_Types].xml": b"<x/>", "xl/workbook.xml": b"<x/>", "xl/vbaProject.bin": b"x"})

    with pytest.raises(AttachmentTypeNotAllowedError):
        formats.sniff(data)


def test_zip_bombs_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(formats, "MAX_XLSX_UNPACKED", 1000)
    data = zip_bytes(
        {"[Content_Types].xml": b"<x/>", "xl/workbook.xml": b"<x/>", "xl/sheet.xml": b" " * 2000}
    )

    with pytest.raises(AttachmentTooLargeError):
        formats.sniff(data)


@pytest.mark.parametrize(
    ("purpose", "content_type", "data", "expected"),
    [
        (AttachmentPurpose.PHOTO, "image/png", PNG, formats.PNG),
        (AttachmentPurpose.PHOTO, "image/jpg", JPEG, formats.JPEG),
        (AttachmentPurpose.PHOTO, "application/octet-stream", JPEG, formats.JPEG),
        (AttachmentPurpose.PROOF, "application/pdf", PDF, formats.PDF),
        (AttachmentPurpose.PROOF, "", PNG, formats.PNG),
        (AttachmentPurpose.IMPORT, "application/vnd.ms-excel", xlsx_bytes(), formats.XLSX),
    ],
)
def test_allowed_uploads(purpose: AttachmentPurpose, content_type: str, data: bytes, expected: str) -> None:
    assert check_upload(purpose, content_type, data) == expected


@pytest.mark.parametrize(
    ("purpose", "content_type", "data"),
    [
        (AttachmentPurpose.PHOTO, "application/pdf", PDF),  # a PDF is no photo
        (AttachmentPurpose.PHOTO, "image/png", PDF),  # declared PNG, really a PDF
        (AttachmentPurpose.PHOTO, "image/jpeg", PNG),  # declared JPEG, really a PNG
        (AttachmentPurpose.PHOTO, "image/gif", b"GIF89a" + b"\x00" * 10),
        (AttachmentPurpose.PROOF, "text/plain", b"hello"),
        (AttachmentPurpose.IMPORT, formats.XLSX, "姓名,性别\n".encode()),  # a renamed .txt/.csv
        (AttachmentPurpose.IMPORT, "application/vnd.ms-excel", OLE2_XLS),  # a renamed .xls
        (AttachmentPurpose.IMPORT, formats.XLSX, b""),
    ],
)
def test_refused_types(purpose: AttachmentPurpose, content_type: str, data: bytes) -> None:
    with pytest.raises(AttachmentTypeNotAllowedError) as caught:
        check_upload(purpose, content_type, data)
    assert caught.value.code == "ATTACHMENT_TYPE_NOT_ALLOWED"


@pytest.mark.parametrize(
    ("purpose", "limit"),
    [(AttachmentPurpose.PHOTO, 2), (AttachmentPurpose.PROOF, 10), (AttachmentPurpose.IMPORT, 20)],
)
def test_size_limits(purpose: AttachmentPurpose, limit: int) -> None:
    head = PNG if purpose is not AttachmentPurpose.IMPORT else b"PK\x03\x04"
    at_limit = head + b"\x00" * (limit * 1024 * 1024 - len(head))

    with pytest.raises(AttachmentTooLargeError) as caught:
        check_upload(purpose, "", at_limit + b"\x00")

    assert caught.value.code == "ATTACHMENT_TOO_LARGE"
    assert f"{limit}MB" in caught.value.message
    if purpose is not AttachmentPurpose.IMPORT:
        assert check_upload(purpose, "", at_limit) == formats.PNG


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("照片.jpg", "照片.jpg"),
        ("C:\\Users\\x\\证明.pdf", "证明.pdf"),
        ("../../etc/passwd", "passwd"),
        ("a\x00b\nc.png", "abc.png"),
        ("", "file"),
        ("长" * 300 + ".xlsx", "长" * 195 + ".xlsx"),
    ],
)
def test_clean_filename(given: str, expected: str) -> None:
    assert clean_filename(given) == expected
