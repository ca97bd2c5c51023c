"""Post-graduation cross-province study (TRF-10, TRF-11): a separate business from transfer."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from backend.clock import shanghai
from backend.domain.transfers.queries import TransferView
from backend.domain.transfers.rules import REJECTION_REASONS
from backend.domain.transfers.service import reject_post_graduation_study, retrieve_file
from backend.domain.transfers.workflow import GRADUATING_DEPARTMENT_STEP, RETRIEVAL_STEP
from backend.domain.workflows.engine import act
from backend.models import StudentRecord
from backend.models.enums import BusinessState, RecordStatus, Role, Stage, StepKind, WorkflowState
from tests.domain.transfers.support import (
    World,
    approve_reviews,
    counts,
    decide,
    history_kinds,
    instance_of,
    record_of,
    refusal,
    start_study,
    steps_of,
    student,
    transfer_of,
)


async def graduate(w: World, name: str = "王小明") -> StudentRecord:
    return await student(w, w.classes["p.g6"], status=RecordStatus.GRADUATED, region="320102", name=name)


async def _at_graduating_county(w: World) -> tuple[StudentRecord, TransferView]:
    record = await graduate(w)
    view = await start_study(w, w["a1.reg"], record, w.classes["a1.g7"])
    await approve_reviews(w, view, w["a1.lead"], w["ca.reg"])
    return record, view


async def test_three_parties_then_file_retrieval(w: World) -> None:  # RULES: TRF-10
    t = w.tree
    record = await graduate(w)

    view = await start_study(w, w["a1.reg"], record, w.classes["a1.g7"])

    steps = await steps_of(w, view.transfer.workflow_id)
    assert [(s.acting_unit_id, s.acting_role, s.kind) for s in steps] == [
        (t.school_a1.id, Role.LEADER, StepKind.REVIEW),
        (t.county_a.id, Role.REGISTRAR, StepKind.REVIEW),
        (w.county_p.id, Role.REGISTRAR, StepKind.REVIEW),
        (t.school_a1.id, Role.REGISTRAR, StepKind.RETRIEVAL),
    ]
    assert [steps[2].name, steps[3].name] == [GRADUATING_DEPARTMENT_STEP, RETRIEVAL_STEP]
    await approve_reviews(w, view, w["a1.lead"], w["ca.reg"], w["cp.reg"])
    async with w.uow() as uow:
        done = await retrieve_file(uow, actor=w["a1.reg"], transfer_id=view.transfer.id, reported=True)

    assert done.state is BusinessState.COMPLETED
    moved = await record_of(w, record.id)
    assert (moved.school_id, moved.stage, moved.grade, moved.status) == (
        t.school_a1.id,
        Stage.JUNIOR,
        7,
        RecordStatus.IN_SCHOOL,
    )
    assert (await history_kinds(w, moved.id))[-1] == "STUDIED_ACROSS_PROVINCES"


@pytest.mark.parametrize(
    ("at", "open_"),
    [
        (shanghai(2026, 8, 14, 23, 59), False),
        (shanghai(2026, 8, 15, 0, 0), True),
        (shanghai(2026, 12, 14, 23, 59), True),
        (shanghai(2026, 12, 15, 0, 0), False),
        (shanghai(2026, 2, 28, 23, 59), False),
        (shanghai(2026, 3, 1, 0, 0), True),
        (shanghai(2026, 5, 31, 23, 59), True),
        (shanghai(2026, 6, 1, 0, 0), False),
    ],
    ids=["8/14", "8/15", "12/14", "12/15", "2/28", "3/1", "5/31", "6/1"],
)
async def test_new_requests_only_in_the_two_windows(
    w: World, at: datetime, open_: bool
) -> None:  # RULES: TRF-10
    record = await graduate(w)
    w.clock.set(at)
    before = await counts(w)

    if open_:
        view = await start_study(w, w["a1.reg"], record, w.classes["a1.g7"])
        assert view.state is BusinessState.IN_REVIEW
    else:
        error = await refusal(w, lambda uow: _start(uow, w, record))
        assert error.code == "STUDY_WINDOW_CLOSED"
        assert await counts(w) == before


async def test_only_graduates_of_another_province(w: World) -> None:  # RULES: TRF-10
    in_school = await student(w, w.classes["p.g6"], region="320102")
    local_graduate = await student(w, w.classes["b1.g3"], status=RecordStatus.GRADUATED, name="本省毕业")
    graduated = await graduate(w, name="毕业生")
    before = await counts(w)

    not_graduated = await refusal(w, lambda uow: _start(uow, w, in_school))
    same_province = await refusal(
        w, lambda uow: _start(uow, w, local_graduate, target_class_id=w.classes["a1.g7"].id)
    )
    same_grade = await refusal(
        w, lambda uow: _start(uow, w, graduated, target_class_id=w.classes["a1.g6"].id)
    )

    assert not_graduated.code == "NOT_GRADUATED"
    assert same_province.code == "NOT_CROSS_PROVINCE"
    assert (same_grade.code, same_grade.field) == ("GRADE_MISMATCH", "targetClassId")
    assert await counts(w) == before


async def test_the_graduating_county_rejects_only_for_a_fixed_reason(w: World) -> None:  # RULES: TRF-10
    record, view = await _at_graduating_county(w)
    workflow_id = view.transfer.workflow_id
    transfer_id = view.transfer.id
    before = await counts(w)

    free_text = await refusal(
        w,
        lambda uow: act(uow, actor=w["cp.reg"], instance_id=workflow_id, action="reject", comment="分数太低"),
    )
    unknown = await refusal(
        w,
        lambda uow: reject_post_graduation_study(
            uow, actor=w["cp.reg"], transfer_id=transfer_id, reason_code="SCORES_TOO_LOW"
        ),
    )
    not_theirs = await refusal(
        w,
        lambda uow: reject_post_graduation_study(
            uow, actor=w["city.reg"], transfer_id=transfer_id, reason_code="IDENTITY_MISMATCH"
        ),
    )

    assert free_text.code == "FIXED_REJECTION_REASON_REQUIRED"
    assert (unknown.code, unknown.field) == ("UNKNOWN_REJECTION_REASON", "reasonCode")
    assert not_theirs.code == "FORBIDDEN"
    outside = await refusal(
        w,
        lambda uow: reject_post_graduation_study(
            uow, actor=w["cc.reg"], transfer_id=transfer_id, reason_code="IDENTITY_MISMATCH"
        ),
    )
    assert (outside.code, outside.field) == ("NOT_FOUND", "transferId")
    assert await counts(w) == before
    assert (await instance_of(w, workflow_id)).state is WorkflowState.OPEN

    reason = REJECTION_REASONS[2]
    async with w.uow() as uow:
        rejected = await reject_post_graduation_study(
            uow,
            actor=w["cp.reg"],
            transfer_id=transfer_id,
            reason_code=reason.code,
            comment="已在本地高中注册",
        )

    assert rejected.state is BusinessState.REJECTED
    transfer = await transfer_of(w, transfer_id)
    assert transfer.details["rejection"] == {"code": reason.code, "label": reason.label}
    assert (await record_of(w, record.id)).status is RecordStatus.GRADUATED
    async with w.db.read_session() as session:
        from backend.domain.workflows.engine import finishing_action

        action = await finishing_action(session, workflow_id)
        assert action is not None
        assert action.comment == f"{reason.label}。已在本地高中注册"


async def test_the_receiving_side_rejects_with_its_own_reason(w: World) -> None:  # RULES: TRF-10
    record = await graduate(w)
    view = await start_study(w, w["a1.reg"], record, w.classes["a1.g7"])

    await decide(w, w["a1.lead"], view.transfer.workflow_id, "reject", "本校该年级学位已满")

    assert (await transfer_of(w, view.transfer.id)).state is BusinessState.REJECTED


async def test_a_preschool_graduate_under_six_is_flagged(w: World) -> None:  # RULES: TRF-11
    young = await student(
        w, w.classes["p.k3"], status=RecordStatus.GRADUATED, region="320102", birth=date(2020, 9, 1)
    )
    of_age = await student(
        w,
        w.classes["p.k3"],
        status=RecordStatus.GRADUATED,
        region="320102",
        birth=date(2020, 8, 31),
        name="满六岁",
    )

    flagged = await start_study(w, w["a1.reg"], young, w.classes["a1.g1"])
    unflagged = await start_study(w, w["a1.reg"], of_age, w.classes["a1.g1"])

    assert [warning["code"] for warning in flagged.warnings] == ["UNDER_ENTRY_AGE"]
    assert "2026年8月31日未满6周岁" in flagged.warnings[0]["message"]
    assert unflagged.warnings == []


async def _start(uow, w: World, record, *, target_class_id=None):  # type: ignore[no-untyped-def]
    from backend.domain.transfers.service import start_post_graduation_study

    return await start_post_graduation_study(
        uow,
        actor=w["a1.reg"],
        national_number=record.national_number,
        name=record.name,
        target_class_id=target_class_id or w.classes["a1.g7"].id,
        reason="随父母到外省就学",
    )
