"""What a file really is, from its first bytes, whatever name and type the browser declared. No I/O.

JPEG starts ``FF D8 FF``, PNG with its 8-byte signature, PDF with ``%PDF-``. An ``.xlsx`` workbook is a ZIP
holding ``[Content_Types].xml`` and ``xl/workbook.xml``: a renamed ``.txt``, a legacy ``.xls`` (an OLE2
file) or some other ZIP is not one. Macro-enabled workbooks (``xl/vbaProject.bin``) are refused, and so
are ZIPs whose entries claim to unpack to more than ``MAX_XLSX_UNPACKED`` (a "ZIP bomb" would otherwise
make the spreadsheet reader allocate without bound).
"""

from __future__ import annotations

import io
import zipfile

from backend.domain.attachments.errors import AttachmentTooLargeError, AttachmentTypeNotAllowedError

JPEG = "image/jpeg"
PNG = "image/png"
PDF = "application/pdf"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# A 100,000-row list unpacks to about 60 MB; real lists are far smaller.
MAX_XLSX_UNPACKED = 256 * 1024 * 1024
XLSX_PARTS = ("[Content_Types].xml", "xl/workbook.xml")
MACRO_PART = "xl/vbaProject.bin"

# Declared types that name no format: the content alone decides.
GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})
# What browsers and operating systems declare for each format.
ALIASES: dict[str, str] = {
    JPEG: JPEG,
    "image/jpg": JPEG,
    "image/pjpeg": JPEG,
    PNG: PNG,
    "image/x-png": PNG,
    PDF: PDF,
    "application/x-pdf": PDF,
    XLSX: XLSX,
    # Some systems label any spreadsheet or ZIP this way; the content check still has to pass.
    "application/vnd.ms-excel": XLSX,
    "application/zip": XLSX,
    "application/x-zip-compressed": XLSX,
}
LABELS = {JPEG: "JPEG", PNG: "PNG", PDF: "PDF", XLSX: "Excel（.xlsx）"}


def sniff(data: bytes) -> str | None:
    """The format the bytes are in (one of the constants above), or ``None`` if none of ours.

    Raises:
        AttachmentTooLargeError: an xlsx-looking ZIP that would unpack to more than ``MAX_XLSX_UNPACKED``.
        AttachmentTypeNotAllowedError: a macro-enabled workbook.
    """
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(b"PK\x03\x04") and _is_xlsx(data):
        return XLSX
    return None


def _is_xlsx(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError):
        return False
    names = {entry.filename for entry in entries}
    if not all(part in names for part in XLSX_PARTS):
        return False
    if MACRO_PART in names:
        raise AttachmentTypeNotAllowedError("不接受含宏的工作簿，请另存为普通的 .xlsx 文件", field="file")
    if sum(entry.file_size for entry in entries) > MAX_XLSX_UNPACKED:
        raise AttachmentTooLargeError("工作簿解压后过大", field="file")
    return True


def canonical_type(declared: str) -> str | None:
    """The format a declared content type names; ``""`` for a generic one, ``None`` for an unknown one."""
    value = declared.split(";", 1)[0].strip().lower()
    if value in GENERIC_TYPES:
        return ""
    return ALIASES.get(value)
