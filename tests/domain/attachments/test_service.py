"""Uploading and reading attachments against a real database: limits, jurisdiction, audit rows."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
from sqlalchemy import select

from backend.clock import FixedClock
from backend.config import Settings
from backend.db import Database, UnitOfWork
from backend.domain.actor import Actor
from backend.domain.attachments import formats
from backend.domain.attachments.service import (
    AttachmentPurpose,
    read_attachment,
    upload_attachment,
)
from backend.domain.attachments.store import LocalFileStore
from backend.domain.errors import DomainError
from backend.models import Attachment, AuditEntry, Unit
from backend.models.enums import Role
from tests.domain.attachments.samples import JPEG, PDF, PNG, files_under, xlsx_bytes
from tests.domain.factories import Tree, actor_of, build_tree, count_rows, make_user

Step = Callable[[], AbstractAsyncContextManager[UnitOfWork]]
Action = Callable[[UnitOfWork], Awaitable[Any]]


@pytest.fixture
def step(db: Database, clock: FixedClock, settings: Settings) -> Step:
    return lambda: db.unit_of_work(clock, settings)


@pytest.fixture
async def tree(step: Step) -> Tree:
    async with step() as uow:
        return await build_tree(uow)


@pytest.fixture
def store(settings: Settings) -> LocalFileStore:
    return LocalFileStore(settings.attachment_dir)


async def actor_at(step: Step, unit: Unit, role: Role = Role.REGISTRAR) -> Actor:
    async with step() as uow:
        user = await make_user(uow, unit, f"u{unit.code}.{role.lower()}"[:64], (role,))
        return await actor_of(uow.session, user)


async def refusal(step: Step, action: Action) -> DomainError:
    try:
        async with step() as uow:
            await action(uow)
    except DomainError as error:
        return error
    pytest.fail("expected a DomainError")


async def upload(
    step: Step, actor: Actor, purpose: AttachmentPurpose, data: bytes, content_type: str = ""
) -> Attachment:
    async with step() as uow:
        return await upload_attachment(
            uow, actor=actor, purpose=purpose, filename="upload.bin", content_type=content_type, data=data
        )


async def counts(step: Step) -> tuple[int, int]:
    async with step() as uow:
        return await count_rows(uow.session, Attachment), await count_rows(uow.session, AuditEntry)


async def test_registrar_uploads_a_photo(
    step: Step, tree: Tree, store: LocalFileStore, clock: FixedClock
) -> None:
    registrar = await actor_at(step, tree.school_a1)

    async with step() as uow:
        attachment = await upload_attachment(
            uow,
            actor=registrar,
            purpose=AttachmentPurpose.PHOTO,
            filename="C:\\相册\\张三.png",
            content_type="image/png",
            data=PNG,
        )

    async with step() as uow:
        stored = await uow.session.get(Attachment, attachment.id)
        audit = (await uow.session.scalars(select(AuditEntry))).all()
    assert stored is not None
    assert (stored.purpose, stored.content_type, stored.filename, stored.size) == (
        "PHOTO",
        formats.PNG,
        "张三.png",
        len(PNG),
    )
    assert (stored.unit_id, stored.unit_path, stored.uploaded_by_id) == (
        tree.school_a1.id,
        tree.school_a1.path,
        registrar.user_id,
    )
    assert stored.uploaded_at == clock.now()
    assert await store.get(stored.sha256) == PNG
    assert len(audit) == 1
    assert (audit[0].operation, audit[0].target_id, audit[0].user_id) == (
        "attachment.uploaded",
        str(stored.id),
        registrar.user_id,
    )
    assert audit[0].after == {
        "purpose": "PHOTO",
        "size": len(PNG),
        "contentType": formats.PNG,
        "sha256": stored.sha256,
    }


async def test_same_content_is_stored_once(step: Step, tree: Tree, settings: Settings) -> None:
    registrar = await actor_at(step, tree.school_a1)
    other = await actor_at(step, tree.school_b1)

    first = await upload(step, registrar, AttachmentPurpose.PROOF, PDF)
    second = await upload(step, other, AttachmentPurpose.PROOF, PDF)

    assert first.id != second.id
    assert first.sha256 == second.sha256
    assert (first.unit_id, second.unit_id) == (tree.school_a1.id, tree.school_b1.id)
    assert len(files_under(settings.attachment_dir)) == 1


async def test_oversized_photo_is_refused_and_nothing_is_written(
    step: Step, tree: Tree, settings: Settings
) -> None:
    registrar = await actor_at(step, tree.school_a1)
    big = JPEG + b"\x00" * (2 * 1024 * 1024)

    error = await refusal(
        step,
        lambda uow: upload_attachment(
            uow,
            actor=registrar,
            purpose=AttachmentPurpose.PHOTO,
            filename="a.jpg",
            content_type="image/jpeg",
            data=big,
        ),
    )

    assert (error.code, error.field) == ("ATTACHMENT_TOO_LARGE", "file")
    assert await counts(step) == (0, 0)
    assert files_under(settings.attachment_dir) == []


@pytest.mark.parametrize(
    ("purpose", "content_type", "data"),
    [
        (AttachmentPurpose.PHOTO, "image/jpeg", PDF),
        (AttachmentPurpose.IMPORT, formats.XLSX, "姓名\t性别\n张三\t男\n".encode()),
    ],
    ids=["pdf-as-photo", "renamed-txt-as-xlsx"],
)
async def test_wrong_content_is_refused(
    step: Step, tree: Tree, purpose: AttachmentPurpose, content_type: str, data: bytes
) -> None:
    registrar = await actor_at(step, tree.school_a1)

    error = await refusal(
        step,
        lambda uow: upload_attachment(
            uow, actor=registrar, purpose=purpose, filename="名单.xlsx", content_type=content_type, data=data
        ),
    )

    assert error.code == "ATTACHMENT_TYPE_NOT_ALLOWED"
    assert await counts(step) == (0, 0)


async def test_an_import_list_is_accepted(step: Step, tree: Tree) -> None:
    registrar = await actor_at(step, tree.school_a1)

    attachment = await upload(step, registrar, AttachmentPurpose.IMPORT, xlsx_bytes(), formats.XLSX)

    assert (attachment.purpose, attachment.content_type) == ("IMPORT", formats.XLSX)


async def test_system_administrators_do_not_upload(step: Step, tree: Tree) -> None:
    # RULES: ORG-2
    admin = await actor_at(step, tree.school_a1, Role.SYSTEM_ADMINISTRATOR)

    error = await refusal(
        step,
        lambda uow: upload_attachment(
            uow,
            actor=admin,
            purpose=AttachmentPurpose.PHOTO,
            filename="a.png",
            content_type="image/png",
            data=PNG,
        ),
    )

    assert error.code == "FORBIDDEN"


async def test_read_within_jurisdiction(step: Step, tree: Tree, store: LocalFileStore) -> None:
    # RULES: ORG-3
    registrar = await actor_at(step, tree.school_a1)
    county_leader = await actor_at(step, tree.county_a, Role.LEADER)
    attachment = await upload(step, registrar, AttachmentPurpose.PROOF, PDF)

    async with step() as uow:
        own = await read_attachment(uow.session, registrar, attachment.id, store)
        above = await read_attachment(uow.session, county_leader, attachment.id, store)

    assert own[1] == above[1] == PDF
    assert own[0].id == above[0].id == attachment.id
    assert await counts(step) == (1, 1)  # reads write no audit rows; only the upload did


async def test_read_outside_jurisdiction_is_not_found(step: Step, tree: Tree, store: LocalFileStore) -> None:
    # RULES: ORG-3
    registrar = await actor_at(step, tree.school_a1)
    neighbour = await actor_at(step, tree.school_a2)
    other_county = await actor_at(step, tree.county_b, Role.LEADER)
    attachment = await upload(step, registrar, AttachmentPurpose.PROOF, PDF)

    for outsider, attachment_id in (
        (neighbour, attachment.id),
        (other_county, attachment.id),
        (registrar, 999_999),
    ):
        error = await refusal(
            step, lambda uow, a=outsider, i=attachment_id: read_attachment(uow.session, a, i, store)
        )
        assert (error.code, error.field) == ("NOT_FOUND", "attachmentId")


async def test_damaged_file_is_reported_unavailable(step: Step, tree: Tree, store: LocalFileStore) -> None:
    registrar = await actor_at(step, tree.school_a1)
    attachment = await upload(step, registrar, AttachmentPurpose.PHOTO, PNG)
    store.path_of(attachment.sha256).write_bytes(b"tampered")

    error = await refusal(step, lambda uow: read_attachment(uow.session, registrar, attachment.id, store))

    assert error.code == "ATTACHMENT_UNAVAILABLE"
