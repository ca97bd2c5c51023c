"""Reading transfers within jurisdiction, and the masked, audited lookup of another school's student."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from backend.domain.errors import DomainError
from backend.domain.transfers.queries import (
    TransferDirection,
    get_transfer,
    list_transfers,
    rejection_reasons,
)
from backend.domain.transfers.service import find_student_for_transfer
from backend.models import AuditEntry
from backend.models.enums import BusinessState, RecordStatus, TransferKind
from tests.domain.transfers.support import (
    World,
    approve_reviews,
    refusal,
    start,
    start_study,
    student,
)


async def ids(w: World, name: str, **filters: object) -> list[int]:
    async with w.db.read_session() as session:
        page = await list_transfers(session, w[name], **filters)  # type: ignore[arg-type]
        return [view.transfer.id for view in page.items]


async def test_each_side_lists_what_comes_in_and_goes_out(w: World) -> None:  # RULES: ORG-3, TRF-1
    into_a = await start(w, w["a1.reg"], await student(w, w.classes["b1.g3"]), w.classes["a1.g3"])
    out_of_a = await start(
        w,
        w["c1.reg"],
        await student(w, w.classes["a2.g3"], name="赵六"),
        w.classes["c1.g3"],
        proof="c1",
    )
    t_in, t_out = into_a.transfer.id, out_of_a.transfer.id

    assert await ids(w, "ca.reg", direction=TransferDirection.IN) == [t_in]
    assert await ids(w, "ca.reg", direction=TransferDirection.OUT) == [t_out]
    assert await ids(w, "ca.reg") == [t_out, t_in]  # newest first
    assert await ids(w, "cb.reg") == [t_in]
    assert await ids(w, "cc.reg") == [t_out]
    assert await ids(w, "city.reg") == [t_out, t_in]
    assert await ids(w, "a1.lead") == [t_in]
    assert await ids(w, "p.reg") == []
    assert await ids(w, "city.reg", unit_id=w.tree.county_b.id) == [t_in]
    outside = await refusal(
        w, lambda uow: list_transfers(uow.session, w["ca.reg"], unit_id=w.tree.county_b.id)
    )
    assert (outside.code, outside.field) == ("NOT_FOUND", "unitId")

    async with w.db.read_session() as session:
        assert await get_transfer(session, w["b1.lead"], t_in) is not None
        assert await get_transfer(session, w["c1.reg"], t_in) is None
        assert await get_transfer(session, w["p.reg"], t_in) is None


async def test_the_state_shown_and_its_filter(w: World) -> None:  # RULES: TRF-2
    local = await start(w, w["a1.reg"], await student(w, w.classes["b1.g3"]), w.classes["a1.g3"])
    across = await start(
        w, w["a1.reg"], await student(w, w.classes["p.g3"], region="320102", name="李四"), w.classes["a1.g3"]
    )
    await approve_reviews(w, across, w["a1.lead"], w["ca.reg"], w["p.lead"], w["cp.reg"])

    assert await ids(w, "a1.reg", state=BusinessState.AWAITING_RETRIEVAL) == [across.transfer.id]
    assert await ids(w, "a1.reg", state=BusinessState.IN_REVIEW) == [local.transfer.id]
    assert await ids(w, "a1.reg", state=BusinessState.COMPLETED) == []
    async with w.db.read_session() as session:
        shown = await get_transfer(session, w["a1.reg"], across.transfer.id)
        assert shown is not None
        assert shown.state is BusinessState.AWAITING_RETRIEVAL
        assert shown.retrieval_due_on is not None


async def test_kinds_are_told_apart(w: World) -> None:  # RULES: TRF-10
    transfer = await start(w, w["a1.reg"], await student(w, w.classes["b1.g3"]), w.classes["a1.g3"])
    study = await start_study(
        w,
        w["a1.reg"],
        await student(w, w.classes["p.g6"], status=RecordStatus.GRADUATED, region="320102", name="毕业生"),
        w.classes["a1.g7"],
    )

    assert await ids(w, "a1.reg", kind=TransferKind.TRANSFER) == [transfer.transfer.id]
    assert await ids(w, "a1.reg", kind=TransferKind.POST_GRADUATION_STUDY) == [study.transfer.id]


async def test_finding_another_schools_student_is_masked_and_audited(w: World) -> None:  # RULES: SEC-4, TRF-2
    record = await student(w, w.classes["p.g3"], region="320102", name="王小明")
    suspended = await student(w, w.classes["b1.g3"], name="钱七", status=RecordStatus.SUSPENDED)

    async with w.uow() as uow:
        found = await find_student_for_transfer(
            uow, actor=w["a1.reg"], national_number=record.national_number, name="王小明"
        )
        wrong_name = await find_student_for_transfer(
            uow, actor=w["a1.reg"], national_number=record.national_number, name="王小亮"
        )
        resume_first = await find_student_for_transfer(
            uow, actor=w["a1.reg"], national_number=suspended.national_number, name="钱七"
        )

    assert found is not None
    assert (found.masked_name, found.school_name, found.department_name, found.province_name) == (
        "王*明",
        "玄武区第一小学",
        "玄武区",
        "江苏省",
    )
    assert (found.cross_province, found.grade, found.refusal) == (True, 3, None)
    assert wrong_name is None
    assert resume_first is not None
    assert resume_first.refusal is not None
    assert resume_first.refusal.code == "RESUME_FIRST"
    assert resume_first.cross_province is False
    async with w.db.read_session() as session:
        rows = list(
            await session.scalars(
                select(AuditEntry.after)
                .where(AuditEntry.operation == "transfer.student_looked_up")
                .order_by(AuditEntry.id)
            )
        )
    assert [row["found"] for row in rows] == [True, False, True]
    assert all(record.national_number[1:] not in str(row) for row in rows)  # the number is masked


@pytest.mark.parametrize("name", ["a1.lead", "ca.reg", "a1.admin"])
async def test_only_school_registrars_look_students_up(w: World, name: str) -> None:  # RULES: ORG-2, SEC-4
    record = await student(w, w.classes["b1.g3"])

    error = await refusal(
        w,
        lambda uow: find_student_for_transfer(
            uow, actor=w[name], national_number=record.national_number, name=record.name
        ),
    )

    assert error.code == "FORBIDDEN"


async def test_rejection_reasons_are_for_reviewers(w: World) -> None:  # RULES: ORG-2, TRF-10
    assert rejection_reasons(w["cp.reg"])
    with pytest.raises(DomainError) as caught:
        rejection_reasons(w["a1.admin"])
    assert caught.value.code == "FORBIDDEN"
