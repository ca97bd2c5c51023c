"""Uploading and reading attachments: photos, proof material (证明材料) and import lists.

Every upload is checked by what the bytes are, not by the name or type the browser declared: a photo must
really be a JPEG or PNG, an import list a real ``.xlsx`` (see ``formats``). The file goes to the
content-addressed store (the same content is kept once), the row records who uploaded it for which unit,
and an ``attachment.uploaded`` audit row is written in the same transaction.

Reads are not audited: viewing a photo or a proof within one's jurisdiction is like viewing the record it
belongs to, which is not logged either. Exports of record data (SEC-4) are logged where they happen, for
example ``continuation.exported``.
"""

from __future__ import annotations

import enum
import logging
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.db import UnitOfWork
from backend.domain.actor import Actor
from backend.domain.attachments import formats
from backend.domain.attachments.errors import (
    AttachmentTooLargeError,
    AttachmentTypeNotAllowedError,
    AttachmentUnavailableError,
)
from backend.domain.attachments.store import FileStore, LocalFileStore
from backend.domain.audit.service import record_audit
from backend.domain.errors import NotFoundError
from backend.domain.permissions import Operation, authorize
from backend.domain.units.repository import subtree_filter
from backend.models import Attachment

log = logging.getLogger(__name__)

MB = 1024 * 1024
FILENAME_LENGTH = 200


class AttachmentPurpose(enum.StrEnum):
    PHOTO = "PHOTO"
    PROOF = "PROOF"
    IMPORT = "IMPORT"


@dataclass(frozen=True)
class Limit:
    label: str
    max_bytes: int
    formats: frozenset[str]


LIMITS: dict[AttachmentPurpose, Limit] = {
    AttachmentPurpose.PHOTO: Limit("照片", 2 * MB, frozenset({formats.JPEG, formats.PNG})),
    AttachmentPurpose.PROOF: Limit("证明材料", 10 * MB, frozenset({formats.JPEG, formats.PNG, formats.PDF})),
    AttachmentPurpose.IMPORT: Limit("导入文件", 20 * MB, frozenset({formats.XLSX})),
}


def default_store(uow: UnitOfWork) -> FileStore:
    return LocalFileStore(uow.settings.attachment_dir)


async def upload_attachment(
    uow: UnitOfWork,
    *,
    actor: Actor,
    purpose: AttachmentPurpose,
    filename: str,
    content_type: str,
    data: bytes,
    store: FileStore | None = None,
) -> Attachment:
    """Store a file for the actor's unit after checking its size and real format.

    Args:
        uow: the open unit of work; the row and its audit row join its transaction.
        actor: the uploader; the file belongs to the actor's unit.
        purpose: decides the limits (``LIMITS``): photos JPEG/PNG up to 2 MB, proof JPEG/PNG/PDF up to
            10 MB, import lists ``.xlsx`` up to 20 MB.
        filename: as uploaded; only its last path component is kept, at most 200 characters.
        content_type: as declared; it must name an allowed format or none, and agree with the content.
        data: the whole file.
        store: where the bytes go; the configured directory by default.

    Raises:
        ForbiddenError: the actor holds no business role.
        AttachmentTooLargeError: over the purpose's limit.
        AttachmentTypeNotAllowedError: the content (or the declared type) is not an allowed format.
    """
    authorize(actor, Operation.USE_ATTACHMENTS)
    purpose = AttachmentPurpose(purpose)
    detected = check_upload(purpose, content_type, data)
    sha256 = await (store or default_store(uow)).put(data)
    attachment = Attachment(
        sha256=sha256,
        size=len(data),
        content_type=detected,
        filename=clean_filename(filename),
        purpose=purpose,
        unit_id=actor.unit_id,
        unit_path=actor.unit_path,
        uploaded_by_id=actor.user_id,
        uploaded_at=uow.clock.now(),
    )
    uow.session.add(attachment)
    await uow.session.flush()
    await record_audit(
        uow,
        actor=actor,
        operation="attachment.uploaded",
        target_type="attachment",
        target_id=attachment.id,
        # No file name: it often carries a student's name, and the log is read far up the tree.
        after={"purpose": str(purpose), "size": len(data), "contentType": detected, "sha256": sha256},
    )
    return attachment


def check_upload(purpose: AttachmentPurpose, content_type: str, data: bytes) -> str:
    """The canonical content type of ``data`` if it may be stored for ``purpose``; else raise."""
    limit = LIMITS[purpose]
    allowed = "、".join(sorted(formats.LABELS[f] for f in limit.formats))
    if len(data) > limit.max_bytes:
        raise AttachmentTooLargeError(f"{limit.label}不能超过{limit.max_bytes // MB}MB", field="file")
    if not data:
        raise AttachmentTypeNotAllowedError("文件为空", field="file")
    declared = formats.canonical_type(content_type)
    if declared is None or (declared and declared not in limit.formats):
        raise AttachmentTypeNotAllowedError(f"{limit.label}只接受{allowed}文件", field="file")
    detected = formats.sniff(data)
    if detected is None or detected not in limit.formats:
        raise AttachmentTypeNotAllowedError(
            f"{limit.label}只接受{allowed}文件，所传文件的内容不是这些格式（仅改扩展名无效）", field="file"
        )
    if declared and declared != detected:
        raise AttachmentTypeNotAllowedError("文件内容与声明的类型不一致", field="file")
    return detected


def clean_filename(filename: str) -> str:
    """The last path component, without control characters, at most ``FILENAME_LENGTH`` characters."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip()
    if len(name) > FILENAME_LENGTH:
        stem, dot, extension = name.rpartition(".")
        if dot and 0 < len(extension) <= 10:
            name = stem[: FILENAME_LENGTH - len(extension) - 1] + "." + extension
        else:
            name = name[:FILENAME_LENGTH]
    return name or "file"


async def attachment_in_jurisdiction(session: AsyncSession, actor: Actor, attachment_id: int) -> Attachment:
    """The attachment if its unit lies in the actor's subtree (ORG-3); NOT_FOUND otherwise."""
    authorize(actor, Operation.USE_ATTACHMENTS)
    attachment = await session.scalar(
        select(Attachment).where(
            Attachment.id == attachment_id, subtree_filter(Attachment.unit_path, actor.unit_path)
        )
    )
    if attachment is None:
        raise NotFoundError(field="attachmentId")
    return attachment


async def read_attachment(
    session: AsyncSession, actor: Actor, attachment_id: int, store: FileStore
) -> tuple[Attachment, bytes]:
    """The attachment and its bytes, within the actor's jurisdiction (ORG-3).

    Raises:
        ForbiddenError: the actor holds no business role.
        NotFoundError: absent, or uploaded for a unit outside the actor's subtree.
        AttachmentUnavailableError: the stored bytes are missing or damaged.
    """
    attachment = await attachment_in_jurisdiction(session, actor, attachment_id)
    return attachment, await load_bytes(attachment, store)


async def load_bytes(attachment: Attachment, store: FileStore) -> bytes:
    """The stored bytes of an attachment already checked for access."""
    try:
        return await store.get(attachment.sha256)
    except (FileNotFoundError, ValueError) as exc:
        log.error("attachment %s (%s) unreadable: %s", attachment.id, attachment.sha256, exc)
        raise AttachmentUnavailableError() from exc


async def require_proofs(
    session: AsyncSession, actor: Actor, attachment_ids: Sequence[int], *, field: str
) -> list[int]:
    """The ids of proof files the actor may cite: uploaded as PROOF within its jurisdiction, in one query.

    A citation of someone else's file, or of a file that does not exist, is NOT_FOUND on ``field``.
    """
    authorize(actor, Operation.USE_ATTACHMENTS)
    wanted = list(dict.fromkeys(attachment_ids))
    if not wanted:
        return []
    found = set(
        await session.scalars(
            select(Attachment.id).where(
                Attachment.id.in_(wanted),
                Attachment.purpose == AttachmentPurpose.PROOF,
                subtree_filter(Attachment.unit_path, actor.unit_path),
            )
        )
    )
    if len(found) != len(wanted):
        raise NotFoundError("证明材料不存在或无权引用", field=field)
    return wanted
