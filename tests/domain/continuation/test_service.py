"""Continuation against a real database: import, classify, confirm, export, fill in (REG-8, REG-9, NUM-6)."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from sqlalchemy import event, select

from backend.clock import FixedClock
from backend.config import Settings
from backend.db import Database, UnitOfWork
from backend.domain.actor import Actor
from backend.domain.attachments import formats
from backend.domain.attachments.service import AttachmentPurpose, upload_attachment
from backend.domain.continuation import classify
from backend.domain.continuation.queries import get_import, list_rows
from backend.domain.continuation.service import (
    apply_filled_sheet,
    confirm_candidate,
    create_import,
    decide_continuation,
    export_rows,
    rows_ready_for_registration,
)
from backend.domain.errors import DomainError
from backend.domain.records.id_numbers import make_resident_id
from backend.domain.records.national_numbers import g_number, l_number
from backend.models import AuditEntry, ContinuationImport, ContinuationRow, StudentRecord, Unit
from backend.models.enums import (
    Gender,
    IdType,
    ImportRowState,
    RecordStatus,
    RegistrationState,
    Role,
    Stage,
)
from tests.domain.continuation.sheets import VOCATIONAL_HEADER, open_xlsx, save, xlsx
from tests.domain.factories import Tree, actor_of, build_tree, count_rows, make_user

Step = Callable[[], AbstractAsyncContextManager[UnitOfWork]]
Action = Callable[[UnitOfWork], Awaitable[Any]]

M, F = Gender.MALE, Gender.FEMALE
MATCHED, TO_CONFIRM, NOT_FOUND, INVALID = (
    ImportRowState.MATCHED,
    ImportRowState.TO_CONFIRM,
    ImportRowState.NOT_FOUND,
    ImportRowState.INVALID,
)
_serial = itertools.count(1)


def rid(birth: date, gender: Gender, sequence: int = 0) -> str:
    return make_resident_id("340102", birth, sequence, gender)


@pytest.fixture
def step(db: Database, clock: FixedClock, settings: Settings) -> Step:
    return lambda: db.unit_of_work(clock, settings)


@dataclass(frozen=True)
class World:
    tree: Tree
    registrar: Actor  # 东区第一小学 (primary)
    neighbour: Actor  # 东区第二小学's registrar


@pytest.fixture
async def world(step: Step) -> World:
    async with step() as uow:
        tree = await build_tree(uow)
    return World(tree, await actor_at(step, tree.school_a1), await actor_at(step, tree.school_a2))


async def actor_at(step: Step, unit: Unit, role: Role = Role.REGISTRAR) -> Actor:
    async with step() as uow:
        user = await make_user(uow, unit, f"u{unit.code}.{role.lower()}"[:64], (role,))
        return await actor_of(uow.session, user)


async def make_record(
    step: Step,
    school: Unit,
    name: str,
    gender: Gender,
    birth: date,
    id_number: str | None,
    *,
    stage: Stage = Stage.PRESCHOOL,
    status: RecordStatus = RecordStatus.IN_SCHOOL,
    registration_state: RegistrationState = RegistrationState.REGISTERED,
) -> int:
    """An existing record (by default a preschool child's, shared into the system for continuation)."""
    async with step() as uow:
        now = uow.clock.now()
        record = StudentRecord(
            national_number=g_number(id_number)
            if id_number
            else l_number("340102", birth, f"{next(_serial):04d}"),
            name=name,
            gender=gender,
            birth_date=birth,
            id_type=IdType.RESIDENT_ID if id_number else IdType.NONE,
            id_number=id_number,
            school_id=school.id,
            unit_path=school.path,
            stage=stage,
            grade=0,
            status=status,
            registration_state=registration_state,
            details={},
            created_at=now,
            updated_at=now,
        )
        uow.session.add(record)
        await uow.session.flush()
        return record.id


async def refusal(step: Step, action: Action) -> DomainError:
    try:
        async with step() as uow:
            await action(uow)
    except DomainError as error:
        return error
    pytest.fail("expected a DomainError")


async def upload(step: Step, actor: Actor, data: bytes) -> int:
    async with step() as uow:
        attachment = await upload_attachment(
            uow,
            actor=actor,
            purpose=AttachmentPurpose.IMPORT,
            filename="新生名单.xlsx",
            content_type=formats.XLSX,
            data=data,
        )
        return attachment.id


async def import_list(
    step: Step, actor: Actor, data: bytes, stage: Stage = Stage.PRIMARY
) -> ContinuationImport:
    attachment_id = await upload(step, actor, data)
    async with step() as uow:
        return await create_import(uow, actor=actor, attachment_id=attachment_id, target_stage=stage)


async def rows_of(step: Step, import_id: int) -> list[ContinuationRow]:
    async with step() as uow:
        stmt = select(ContinuationRow).where(ContinuationRow.import_id == import_id)
        return list((await uow.session.scalars(stmt.order_by(ContinuationRow.row_number))).all())


async def audit_operations(step: Step) -> list[str]:
    async with step() as uow:
        return list((await uow.session.scalars(select(AuditEntry.operation).order_by(AuditEntry.id))).all())


def summary(
    rows: list[ContinuationRow],
) -> list[tuple[int, ImportRowState, list[int], int | None, list[str]]]:
    return [
        (r.row_number, r.state, r.candidate_ids, r.matched_record_id, [e["code"] for e in r.errors])
        for r in rows
    ]


# --- importing and classifying ---------------------------------------------------------------------------


B1, B2 = date(2019, 9, 1), date(2020, 3, 15)


async def test_rows_are_classified_against_preschool_records(step: Step, world: World) -> None:
    # RULES: REG-8, NUM-6
    kindergarten = world.tree.school_b1
    zhang = await make_record(step, kindergarten, "张三", M, B1, rid(B1, M, 0))
    li = await make_record(step, kindergarten, "李四", F, B1, rid(B1, F, 0))
    wang = await make_record(step, kindergarten, "王五", M, B2, None)
    zhou = await make_record(step, kindergarten, "周九", F, B2, None)
    await make_record(step, kindergarten, "吴十", M, B2, None, stage=Stage.PRIMARY)  # not an earlier stage
    await make_record(
        step, kindergarten, "孙八", M, B1, rid(B1, M, 3), registration_state=RegistrationState.DELETED
    )
    await make_record(step, kindergarten, "钱七", M, B1, rid(B1, M, 4), stage=Stage.PRIMARY)
    data = xlsx(
        ["张三", "男", B1, "居民身份证", rid(B1, M, 0)],  # 2: ID and name match one record
        ["李思", "女", "2019/9/1", "居民身份证", rid(B1, F, 0)],  # 3: ID matches, name differs
        ["王五", "男", "20200315", "无", ""],  # 4: no ID; name, gender, birth date match
        ["周九", "女", B2, "居民身份证", rid(B2, F, 7)],  # 5: new ID; an ID-less record matches the rest
        ["吴十", "男", B2, "无", ""],  # 6: only a primary record matches
        ["孙八", "男", B1, "居民身份证", rid(B1, M, 3)],  # 7: its record was deleted
        ["钱七", "男", B1, "居民身份证", rid(B1, M, 4)],  # 8: already has a primary record
        ["赵六", "女", "2019-02-30", "居民身份证", rid(B1, F, 9)],  # 9: invalid date
    )

    continuation = await import_list(step, world.registrar, data)

    assert summary(await rows_of(step, continuation.id)) == [
        (2, MATCHED, [], zhang, []),
        (3, TO_CONFIRM, [li], None, []),
        (4, TO_CONFIRM, [wang], None, []),
        (5, TO_CONFIRM, [zhou], None, []),
        (6, NOT_FOUND, [], None, []),
        (7, NOT_FOUND, [], None, []),
        (8, NOT_FOUND, [], None, ["ALREADY_HAS_RECORD"]),
        (9, INVALID, [], None, ["INVALID_DATE"]),
    ]
    assert continuation.counts == {
        "MATCHED": 1,
        "TO_CONFIRM": 3,
        "NOT_FOUND": 3,
        "INVALID": 1,
        "TOTAL": 8,
        "WARNINGS": 1,
    }
    assert (
        continuation.school_id,
        continuation.unit_path,
        continuation.state,
        continuation.target_stage,
    ) == (
        world.tree.school_a1.id,
        world.tree.school_a1.path,
        "CLASSIFIED",
        "PRIMARY",
    )
    assert await audit_operations(step) == ["attachment.uploaded", "continuation.imported"]


async def test_stored_rows_keep_identity_and_errors(step: Step, world: World) -> None:
    # RULES: REG-8
    data = xlsx(
        ["张三", "男", B1, "居民身份证", rid(B1, M, 0)], ["李四", "女", B1, "居民身份证", 340102201909010020]
    )

    continuation = await import_list(step, world.registrar, data)

    good, bad = await rows_of(step, continuation.id)
    assert (good.name, good.gender, good.birth_date, good.id_type, good.id_number) == (
        "张三",
        M,
        B1,
        IdType.RESIDENT_ID,
        rid(B1, M, 0),
    )
    assert bad.errors == [
        {
            "row": 3,
            "column": "身份证件号码",
            "code": "ID_NUMBER_AS_NUMBER",
            "message": "身份证件号码被Excel存成了数字，末尾几位和开头的0会丢失；请将该列设为“文本”格式后重新填写",
            "level": "error",
        }
    ]
    assert (bad.state, bad.name, bad.id_number) == (INVALID, "李四", None)


async def test_duplicated_rows_in_a_file_are_both_flagged(step: Step, world: World) -> None:
    # RULES: REG-8, NUM-6
    number = rid(B1, M, 0)
    await make_record(step, world.tree.school_b1, "张三", M, B1, number)
    data = xlsx(
        ["张三", "男", B1, "居民身份证", number],
        ["李四", "女", B1, "居民身份证", rid(B1, F, 0)],
        ["张三", "男", B1, "居民身份证", number],
    )

    continuation = await import_list(step, world.registrar, data)

    rows = await rows_of(step, continuation.id)
    assert summary(rows) == [
        (2, INVALID, [], None, ["DUPLICATE_IN_FILE"]),
        (3, NOT_FOUND, [], None, []),
        (4, INVALID, [], None, ["DUPLICATE_IN_FILE"]),
    ]
    assert [r.errors[0]["message"] for r in (rows[0], rows[2])] == [
        "身份证件号码与第4行重复",
        "身份证件号码与第2行重复",
    ]


async def test_lookups_are_batched_never_one_per_row(
    step: Step, world: World, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(classify, "CHUNK", 10)
    monkeypatch.setattr(classify, "IDENTITY_CHUNK", 4)
    await make_record(step, world.tree.school_b1, "张三", M, B1, rid(B1, M, 0))
    rows = [["张三", "男", B1, "居民身份证", rid(B1, M, 0)]]
    rows += [[f"学生{i}", "男", B1, "居民身份证", rid(B1, M, i)] for i in range(1, 25)]  # 24 not found
    rows += [[f"无证{i}", "女", B2, "无", ""] for i in range(6)]  # 6 without ID
    attachment_id = await upload(step, world.registrar, xlsx(*rows))
    lookups: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM student_record" in statement:
            lookups.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        async with step() as uow:
            continuation = await create_import(
                uow, actor=world.registrar, attachment_id=attachment_id, target_stage=Stage.PRIMARY
            )
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)

    # 25 rows with an ID number: 3 statements of up to 10; the 30 unmatched: 8 of up to 4.
    assert len(lookups) == 3 + 8
    assert continuation.counts["MATCHED"] == 1
    assert continuation.counts["NOT_FOUND"] == 30


async def test_a_rejected_file_writes_nothing(step: Step, world: World) -> None:
    # RULES: REG-8
    attachment_id = await upload(
        step,
        world.registrar,
        xlsx(["张三", "男", B1, "居民身份证"], header=["姓名", "性别", "出生日期", "身份证件类型"]),
    )

    error = await refusal(
        step,
        lambda uow: create_import(
            uow, actor=world.registrar, attachment_id=attachment_id, target_stage=Stage.PRIMARY
        ),
    )

    assert (error.code, error.field) == ("IMPORT_COLUMNS", "file")
    assert "缺少列：“身份证件号码”" in error.message
    async with step() as uow:
        assert await count_rows(uow.session, ContinuationImport) == 0
        assert await count_rows(uow.session, ContinuationRow) == 0
    assert await audit_operations(step) == ["attachment.uploaded"]


async def test_only_the_schools_own_import_files(step: Step, world: World) -> None:
    # RULES: ORG-3
    foreign = await upload(step, world.neighbour, xlsx(["张三", "男", B1, "居民身份证", rid(B1, M, 0)]))
    async with step() as uow:
        photo = await upload_attachment(
            uow,
            actor=world.registrar,
            purpose=AttachmentPurpose.PHOTO,
            filename="a.png",
            content_type="image/png",
            data=b"\x89PNG\r\n\x1a\n" + b"\x00" * 8,
        )

    for attachment_id in (foreign, photo.id, 999_999):
        error = await refusal(
            step,
            lambda uow, a=attachment_id: create_import(
                uow, actor=world.registrar, attachment_id=a, target_stage=Stage.PRIMARY
            ),
        )
        assert (error.code, error.field) == ("NOT_FOUND", "attachmentId")


@pytest.mark.parametrize("stage", [Stage.PRESCHOOL, Stage.JUNIOR, Stage.VOCATIONAL])
async def test_target_stage_must_lead_somewhere_the_school_teaches(
    step: Step, world: World, stage: Stage
) -> None:
    # RULES: REG-7, REG-8
    attachment_id = await upload(step, world.registrar, xlsx(["张三", "男", B1, "居民身份证", rid(B1, M, 0)]))

    error = await refusal(
        step,
        lambda uow: create_import(
            uow, actor=world.registrar, attachment_id=attachment_id, target_stage=stage
        ),
    )

    assert (error.code, error.field) == ("INVALID_TARGET_STAGE", "targetStage")


@pytest.mark.parametrize(("unit", "role"), [("school_a1", Role.LEADER), ("county_a", Role.REGISTRAR)])
async def test_only_school_registrars_import(step: Step, world: World, unit: str, role: Role) -> None:
    # RULES: ORG-2, REG-8
    actor = await actor_at(step, getattr(world.tree, unit), role)

    error = await refusal(
        step, lambda uow: create_import(uow, actor=actor, attachment_id=1, target_stage=Stage.PRIMARY)
    )

    assert error.code == "FORBIDDEN"


# --- confirming candidates -------------------------------------------------------------------------------


@pytest.fixture
async def to_confirm(step: Step, world: World) -> tuple[ContinuationImport, list[ContinuationRow], list[int]]:
    """An import with a matched row (2), a row with two candidates (3) and a row with one (4)."""
    kindergarten = world.tree.school_b1
    matched = await make_record(step, kindergarten, "张三", M, B1, rid(B1, M, 0))
    first = await make_record(step, kindergarten, "王五", M, B2, None)
    second = await make_record(step, world.tree.school_c1, "王五", M, B2, None)
    single = await make_record(step, kindergarten, "李四", F, B1, rid(B1, F, 0))
    data = xlsx(
        ["张三", "男", B1, "居民身份证", rid(B1, M, 0)],
        ["王五", "男", B2, "无", ""],
        ["李思", "女", B1, "居民身份证", rid(B1, F, 0)],
    )
    continuation = await import_list(step, world.registrar, data)
    return continuation, await rows_of(step, continuation.id), [matched, first, second, single]


async def test_registrar_picks_a_candidate(step: Step, world: World, to_confirm: Any) -> None:
    # RULES: REG-8
    continuation, rows, (_, first, second, single) = to_confirm
    assert rows[1].candidate_ids == sorted([first, second])

    async with step() as uow:
        picked = await confirm_candidate(uow, actor=world.registrar, row_id=rows[1].id, record_id=second)
        none = await confirm_candidate(uow, actor=world.registrar, row_id=rows[2].id, record_id=None)

    assert (picked.state, picked.matched_record_id) == (MATCHED, second)
    assert (none.state, none.matched_record_id, none.candidate_ids) == (NOT_FOUND, None, [single])
    async with step() as uow:
        stored = await get_import(uow.session, world.registrar, continuation.id)
    assert stored.counts == {
        "MATCHED": 2,
        "TO_CONFIRM": 0,
        "NOT_FOUND": 1,
        "INVALID": 0,
        "TOTAL": 3,
        "WARNINGS": 0,
    }
    assert (await audit_operations(step))[-2:] == ["continuation.candidate_confirmed"] * 2


async def test_a_pick_can_be_changed_until_registration(step: Step, world: World, to_confirm: Any) -> None:
    _, rows, (_, first, second, _) = to_confirm

    async with step() as uow:
        await confirm_candidate(uow, actor=world.registrar, row_id=rows[1].id, record_id=second)
    async with step() as uow:
        again = await confirm_candidate(uow, actor=world.registrar, row_id=rows[1].id, record_id=first)

    assert (again.state, again.matched_record_id) == (MATCHED, first)


async def test_only_candidates_can_be_picked(step: Step, world: World, to_confirm: Any) -> None:
    _, rows, (matched, _, _, single) = to_confirm

    not_candidate = await refusal(
        step, lambda uow: confirm_candidate(uow, actor=world.registrar, row_id=rows[1].id, record_id=single)
    )
    system_matched = await refusal(
        step, lambda uow: confirm_candidate(uow, actor=world.registrar, row_id=rows[0].id, record_id=matched)
    )

    assert (not_candidate.code, not_candidate.field) == ("NOT_A_CANDIDATE", "recordId")
    assert (system_matched.code, system_matched.field) == ("ROW_STATE", "rowId")


async def test_other_schools_see_nothing(step: Step, world: World, to_confirm: Any) -> None:
    # RULES: ORG-3
    continuation, rows, (_, first, _, _) = to_confirm
    outsider = world.neighbour
    attachment_id = await upload(step, outsider, xlsx(["张三", "男", B1, "居民身份证", rid(B1, M, 0)]))
    actions: list[Action] = [
        lambda uow: confirm_candidate(uow, actor=outsider, row_id=rows[1].id, record_id=first),
        lambda uow: decide_continuation(uow, actor=outsider, row_id=rows[1].id, proceed=True),
        lambda uow: export_rows(uow, actor=outsider, import_id=continuation.id),
        lambda uow: apply_filled_sheet(
            uow, actor=outsider, import_id=continuation.id, attachment_id=attachment_id
        ),
        lambda uow: get_import(uow.session, outsider, continuation.id),
        lambda uow: list_rows(
            uow.session, outsider, continuation.id, state=None, first=10, after=None, max_page=100
        ),
    ]

    for action in actions:
        error = await refusal(step, action)
        assert error.code == "NOT_FOUND"
    assert "continuation.exported" not in await audit_operations(step)


async def test_list_rows_by_state(step: Step, world: World, to_confirm: Any) -> None:
    continuation, rows, _ = to_confirm

    async with step() as uow:
        page = await list_rows(
            uow.session,
            world.registrar,
            continuation.id,
            state=TO_CONFIRM,
            first=10,
            after=None,
            max_page=100,
        )

    assert [r.id for r in page.items] == [rows[1].id, rows[2].id]


# --- exporting and filling in ----------------------------------------------------------------------------


def cell_locked(sheet: Any, ref: str) -> bool:
    return bool(sheet[ref].protection.locked)


async def test_export_locks_identity_of_matched_rows(step: Step, world: World, to_confirm: Any) -> None:
    # RULES: REG-8, SEC-4
    continuation, rows, _ = to_confirm

    async with step() as uow:
        data = await export_rows(uow, actor=world.registrar, import_id=continuation.id)

    sheet = open_xlsx(data)
    assert [c.value for c in sheet[1]] == [
        "系统编号",
        "姓名",
        "性别",
        "出生日期",
        "身份证件类型",
        "身份证件号码",
        "识别结果",
        "民族",
        "国籍/地区",
        "户口所在地",
        "现住址",
        "联系电话",
        "监护人姓名",
        "监护人关系",
        "监护人电话",
    ]
    assert sheet.protection.sheet is True
    assert sheet.column_dimensions["A"].hidden is True
    assert [sheet.cell(row=n, column=1).value for n in (2, 3, 4)] == [r.id for r in rows]
    assert [sheet[f"{c}2"].value for c in "BCEF"] == ["张三", "男", "居民身份证", rid(B1, M, 0)]
    assert sheet["D2"].value.date() == B1
    assert sheet["F2"].number_format == "@"
    assert all(cell_locked(sheet, f"{c}2") for c in "ABCDEFG")  # matched: identity locked
    assert not any(cell_locked(sheet, f"{c}{n}") for c in "BCDEF" for n in (3, 4))  # to confirm: editable
    assert all(cell_locked(sheet, f"{c}{n}") for c in "AG" for n in (3, 4))
    assert sheet.column_dimensions["H"].protection.locked is False  # fill-in columns editable
    assert sheet["G2"].value == "已匹配（身份信息已锁定）"
    assert sheet["G3"].value == "待确认（请在系统中确认匹配的学籍）"
    async with step() as uow:
        audit = (
            await uow.session.scalars(
                select(AuditEntry).where(AuditEntry.operation == "continuation.exported")
            )
        ).all()
    assert len(audit) == 1
    assert (audit[0].target_id, audit[0].user_id, audit[0].after["rows"]) == (
        str(continuation.id),
        world.registrar.user_id,
        3,
    )


async def test_filled_sheet_is_applied_and_locked_identity_refused(step: Step, world: World) -> None:
    # RULES: REG-8
    kindergarten = world.tree.school_b1
    zhang = await make_record(step, kindergarten, "张三", M, B1, rid(B1, M, 0))
    li = await make_record(step, kindergarten, "李四", F, B1, rid(B1, F, 0))
    data = xlsx(
        ["张三", "男", B1, "居民身份证", rid(B1, M, 0)],  # matched
        ["李四", "女", B1, "居民身份证", rid(B1, F, 0)],  # matched
        ["赵六", "女", B2, "居民身份证", rid(B2, F, 1)],  # not found
        ["李四", "女", "2019-02-30", "居民身份证", rid(B1, F, 5)],  # invalid
    )
    continuation = await import_list(step, world.registrar, data)
    async with step() as uow:
        exported = await export_rows(uow, actor=world.registrar, import_id=continuation.id)
    sheet = open_xlsx(exported)
    sheet["B2"] = "张叁"  # a locked identity cell changed anyway (protection lifted by other software)
    sheet["H2"] = "汉族"
    sheet["H3"], sheet["L3"], sheet["M3"] = "回族", 13800000000, "李大"
    sheet["H4"], sheet["K4"] = "汉族", "合肥市蜀山区"
    sheet["B5"], sheet["D5"] = "李思", "2019-09-01"  # correcting the invalid row
    attachment_id = await upload(step, world.registrar, save(sheet))

    async with step() as uow:
        report = await apply_filled_sheet(
            uow, actor=world.registrar, import_id=continuation.id, attachment_id=attachment_id
        )

    assert [(e["row"], e["column"], e["code"]) for e in report.errors] == [(2, "姓名", "IDENTITY_LOCKED")]
    assert report.errors[0]["message"] == "已匹配学生的身份信息不能修改（姓名），该行未导入"
    assert (report.updated, report.reclassified) == (3, 1)
    rows = await rows_of(step, continuation.id)
    assert [(r.name, r.details) for r in rows] == [
        ("张三", {}),
        ("李四", {"ethnicity": "回族", "phone": "13800000000", "guardianName": "李大"}),
        ("赵六", {"ethnicity": "汉族", "currentAddress": "合肥市蜀山区"}),
        ("李思", {}),
    ]
    assert summary(rows)[3] == (5, NOT_FOUND, [], None, [])
    assert rows[3].birth_date == B1
    assert (rows[0].matched_record_id, rows[1].matched_record_id) == (zhang, li)
    assert report.counts == {
        "MATCHED": 2,
        "TO_CONFIRM": 0,
        "NOT_FOUND": 2,
        "INVALID": 0,
        "TOTAL": 4,
        "WARNINGS": 0,
    }
    assert (await audit_operations(step))[-1] == "continuation.sheet_applied"


async def test_corrections_are_checked_like_an_import(step: Step, world: World) -> None:
    # RULES: REG-8, NUM-6
    data = xlsx(
        ["张三", "男", B1, "居民身份证", rid(B1, M, 0)],
        ["李四", "女", B1, "居民身份证", rid(B1, F, 0)],
    )
    continuation = await import_list(step, world.registrar, data)
    async with step() as uow:
        sheet = open_xlsx(await export_rows(uow, actor=world.registrar, import_id=continuation.id))
    sheet["F3"] = rid(B1, M, 0)  # now the same ID number as row 2
    sheet["C3"] = "男"
    sheet.append([999_999, "新增", "男"])  # rows cannot be added through the sheet
    attachment_id = await upload(step, world.registrar, save(sheet))

    async with step() as uow:
        report = await apply_filled_sheet(
            uow, actor=world.registrar, import_id=continuation.id, attachment_id=attachment_id
        )

    assert [(e["row"], e["code"]) for e in report.errors] == [(3, "DUPLICATE_IN_FILE"), (4, "UNKNOWN_ROW")]
    rows = await rows_of(step, continuation.id)
    assert summary(rows) == [(2, NOT_FOUND, [], None, []), (3, INVALID, [], None, ["DUPLICATE_IN_FILE"])]


async def test_filled_sheet_must_keep_its_columns(step: Step, world: World) -> None:
    continuation = await import_list(
        step, world.registrar, xlsx(["张三", "男", B1, "居民身份证", rid(B1, M, 0)])
    )
    attachment_id = await upload(step, world.registrar, xlsx(["张三", "男", B1, "居民身份证", rid(B1, M, 0)]))

    error = await refusal(
        step,
        lambda uow: apply_filled_sheet(
            uow, actor=world.registrar, import_id=continuation.id, attachment_id=attachment_id
        ),
    )

    assert error.code == "IMPORT_COLUMNS"
    assert "缺少列：“系统编号”" in error.message


# --- vocational schools and registration hand-over ---------------------------------------------------------


async def test_vocational_entrant_already_admitted_to_senior_high(step: Step, world: World) -> None:
    # RULES: REG-9, NUM-6
    school = world.tree.school_c1
    async with step() as uow:
        unit = await uow.session.get(Unit, school.id)
        assert unit is not None
        unit.stages = ["VOCATIONAL"]
    registrar = await actor_at(step, school)
    born = date(2010, 5, 1)
    junior = await make_record(
        step,
        world.tree.school_a1,
        "刘一",
        M,
        born,
        rid(born, M, 0),
        stage=Stage.JUNIOR,
        status=RecordStatus.GRADUATED,
    )
    senior = await make_record(
        step, world.tree.school_a2, "陈二", F, born, rid(born, F, 0), stage=Stage.SENIOR
    )
    no_id = await make_record(
        step, world.tree.school_a2, "杨三", M, born, None, stage=Stage.JUNIOR, status=RecordStatus.GRADUATED
    )
    async with step() as uow:
        no_id_number = (await uow.session.get(StudentRecord, no_id)).national_number  # type: ignore[union-attr]
    data = xlsx(
        ["", "刘一", "男", born, "居民身份证", rid(born, M, 0)],
        ["G" + rid(born, F, 0), "陈二", "女", born, "居民身份证", rid(born, F, 0)],
        [no_id_number, "杨叁", "男", born, "无", ""],
        header=VOCATIONAL_HEADER,
    )

    continuation = await import_list(step, registrar, data, Stage.VOCATIONAL)

    rows = await rows_of(step, continuation.id)
    assert summary(rows) == [
        (2, MATCHED, [], junior, []),
        (3, MATCHED, [], senior, ["ALREADY_ADMITTED_SENIOR"]),
        (4, TO_CONFIRM, [no_id], None, []),
    ]
    assert rows[1].errors[0]["level"] == "warning"
    assert rows[1].errors[0]["decision"] is None
    assert rows[1].national_number == "G" + rid(born, F, 0)

    async def ready() -> list[int | None]:
        async with step() as uow:
            return [
                r.matched_record_id for r in await rows_ready_for_registration(uow.session, continuation.id)
            ]

    assert await ready() == [junior]
    async with step() as uow:
        await decide_continuation(uow, actor=registrar, row_id=rows[1].id, proceed=True)
    assert await ready() == [junior, senior]
    async with step() as uow:
        stopped = await decide_continuation(uow, actor=registrar, row_id=rows[1].id, proceed=False)
    assert stopped.errors[0]["decision"] == "STOP"
    assert await ready() == [junior]
    no_warning = await refusal(
        step, lambda uow: decide_continuation(uow, actor=registrar, row_id=rows[0].id, proceed=True)
    )
    assert no_warning.code == "ROW_STATE"
    assert (await audit_operations(step))[-2:] == ["continuation.decided"] * 2


async def test_confirming_an_admitted_senior_student_asks_for_the_choice(step: Step, world: World) -> None:
    # RULES: REG-9
    school = world.tree.school_c1
    async with step() as uow:
        unit = await uow.session.get(Unit, school.id)
        assert unit is not None
        unit.stages = ["VOCATIONAL"]
    registrar = await actor_at(step, school)
    born = date(2010, 5, 1)
    senior = await make_record(
        step, world.tree.school_a2, "陈二", F, born, rid(born, F, 0), stage=Stage.SENIOR
    )
    data = xlsx(["", "陈贰", "女", born, "居民身份证", rid(born, F, 0)], header=VOCATIONAL_HEADER)
    continuation = await import_list(step, registrar, data, Stage.VOCATIONAL)
    (row,) = await rows_of(step, continuation.id)

    async with step() as uow:
        confirmed = await confirm_candidate(uow, actor=registrar, row_id=row.id, record_id=senior)

    assert (confirmed.state, [e["code"] for e in confirmed.errors]) == (MATCHED, ["ALREADY_ADMITTED_SENIOR"])
    async with step() as uow:
        assert (await get_import(uow.session, registrar, continuation.id)).counts["WARNINGS"] == 1


async def test_rows_ready_for_registration_continue_existing_records(step: Step, world: World) -> None:
    # RULES: NUM-6, REG-8
    kindergarten = world.tree.school_b1
    zhang = await make_record(step, kindergarten, "张三", M, B1, rid(B1, M, 0))
    await make_record(step, kindergarten, "李四", F, B1, rid(B1, F, 0))
    await make_record(step, kindergarten, "钱七", M, B1, rid(B1, M, 4), stage=Stage.PRIMARY)
    data = xlsx(
        ["张三", "男", B1, "居民身份证", rid(B1, M, 0)],  # matched: continues record zhang
        ["李思", "女", B1, "居民身份证", rid(B1, F, 0)],  # to confirm: not ready
        ["赵六", "女", B2, "居民身份证", rid(B2, F, 1)],  # not found: a new record
        ["钱七", "男", B1, "居民身份证", rid(B1, M, 4)],  # has a primary record already: not ready
        ["孙八", "男", "2019-13-01", "居民身份证", rid(B1, M, 5)],  # invalid
    )
    continuation = await import_list(step, world.registrar, data)

    async with step() as uow:
        ready = await rows_ready_for_registration(uow.session, continuation.id)

    assert [(r.row_number, r.matched_record_id, r.name, r.id_number) for r in ready] == [
        (2, zhang, "张三", rid(B1, M, 0)),
        (4, None, "赵六", rid(B2, F, 1)),
    ]


def test_iterator_helper_chunks() -> None:
    chunks: Iterator[Any] = classify.chunks([1, 2, 3, 4, 5], 2)
    assert [list(c) for c in chunks] == [[1, 2], [3, 4], [5]]


async def test_vocational_lists_look_at_primary_and_secondary_records_only(step: Step, world: World) -> None:
    # RULES: REG-9
    school = world.tree.school_c1
    async with step() as uow:
        unit = await uow.session.get(Unit, school.id)
        assert unit is not None
        unit.stages = ["VOCATIONAL"]
    registrar = await actor_at(step, school)
    born = date(2010, 5, 1)
    await make_record(step, world.tree.school_b1, "刘一", M, born, rid(born, M, 0))  # a preschool record
    vocational = await make_record(
        step, world.tree.school_b1, "陈二", F, born, rid(born, F, 0), stage=Stage.VOCATIONAL
    )
    data = xlsx(
        ["", "刘一", "男", born, "居民身份证", rid(born, M, 0)],
        ["", "陈二", "女", born, "居民身份证", rid(born, F, 0)],
        header=VOCATIONAL_HEADER,
    )

    continuation = await import_list(step, registrar, data, Stage.VOCATIONAL)

    rows = await rows_of(step, continuation.id)
    assert summary(rows) == [(2, NOT_FOUND, [], None, []), (3, NOT_FOUND, [], None, ["ALREADY_HAS_RECORD"])]
    assert (
        rows[1].errors[0]["message"] == "该身份证件号码已有中职学籍，一人只能有一个学籍，请通过转学等业务办理"
    )
    assert vocational not in rows[1].candidate_ids
