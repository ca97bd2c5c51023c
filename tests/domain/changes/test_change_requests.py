"""Controlled-field changes: requested with proof, approved by the school leader and the department."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from backend.clock import FixedClock
from backend.config import Settings
from backend.db import Database, UnitOfWork
from backend.domain.changes.service import request_change
from backend.domain.workflows.engine import act
from backend.models import ChangeRequest, ControlledField, StudentRecord
from backend.models.enums import NumberKind, RecordStatus
from tests.domain.factories import make_proof
from tests.domain.records.support import (
    Step,
    World,
    audit_rows,
    build_world,
    history,
    load,
    refusal,
    registered,
    stepper,
)


@pytest.fixture
def step(db: Database, clock: FixedClock, settings: Settings) -> Step:
    return stepper(db, clock, settings)


@pytest.fixture
async def world(step: Step) -> World:
    return await build_world(step)


async def ask(
    step: Step, world: World, record: StudentRecord, values: dict, proof: list[int]
) -> ChangeRequest:
    async with step() as uow:
        proof_ids = [await make_proof(uow, world.tree.school_a1) for _ in proof]
        return await request_change(
            uow,
            actor=world.registrar,
            record_id=record.id,
            values=values,
            reason="户口簿更正",
            proof_ids=proof_ids,
        )


async def approve_all(step: Step, world: World, request: ChangeRequest) -> None:
    for actor in (world.leader, world.county_registrar):
        async with step() as uow:
            await act(uow, actor=actor, instance_id=request.workflow_id or 0, action="approve", comment=None)


async def test_key_information_changes_only_after_both_approvals(step: Step, world: World) -> None:
    # RULES: CHG-3, CHG-4, SEC-6 — school leader, then the department; only then does the change take effect.
    record = await registered(step, world.registrar, world.grade3)
    request = await ask(step, world, record, {"name": "张晓明"}, [1])

    assert (await load(step, record.id)).name == "张小明"
    async with step() as uow:
        await act(
            uow, actor=world.leader, instance_id=request.workflow_id or 0, action="approve", comment=None
        )
    assert (await load(step, record.id)).name == "张小明"
    async with step() as uow:
        await act(
            uow,
            actor=world.county_registrar,
            instance_id=request.workflow_id or 0,
            action="approve",
            comment=None,
        )

    changed = await load(step, record.id)
    assert changed.name == "张晓明"
    assert changed.number_kind is NumberKind.G  # CHG-4: the identity check ran again and passed
    assert [h.kind for h in await history(step, record.id)][-2:] == ["CHANGE_REQUESTED", "CHANGE_APPROVED"]
    assert len(await audit_rows(step, "change_request.applied")) == 1


async def test_identity_change_needs_household_proof(step: Step, world: World) -> None:
    # RULES: CHG-3
    record = await registered(step, world.registrar, world.grade3)

    async def without_proof(uow: UnitOfWork) -> None:
        await request_change(
            uow,
            actor=world.registrar,
            record_id=record.id,
            values={"name": "张晓明"},
            reason="更正",
            proof_ids=[],
        )

    error = await refusal(step, without_proof)
    assert (error.code, error.field) == ("PROOF_REQUIRED", "proofIds")


async def test_a_rejected_change_changes_nothing(step: Step, world: World) -> None:
    # RULES: CHG-3
    record = await registered(step, world.registrar, world.grade3)
    request = await ask(step, world, record, {"name": "张晓明"}, [1])

    async with step() as uow:
        await act(
            uow, actor=world.leader, instance_id=request.workflow_id or 0, action="reject", comment="证明不符"
        )

    assert (await load(step, record.id)).name == "张小明"
    async with step() as uow:
        stored = await uow.session.get(ChangeRequest, request.id)
        assert stored is not None
        assert stored.state == "REJECTED"


async def test_a_departments_controlled_field_goes_through_a_request(step: Step, world: World) -> None:
    # RULES: CHG-1, CHG-2 — the county controls the phone number; other fields stay direct.
    record = await registered(step, world.registrar, world.grade3)
    async with step() as uow:
        uow.session.add(
            ControlledField(unit_id=world.tree.county_a.id, field_key="phone", created_at=uow.clock.now())
        )

    async def loose(uow: UnitOfWork) -> None:
        await request_change(
            uow,
            actor=world.registrar,
            record_id=record.id,
            values={"postalCode": "230012"},
            reason="x",
            proof_ids=[],
        )

    assert (await refusal(step, loose)).code == "NOT_CONTROLLED"
    request = await ask(step, world, record, {"phone": "13800001111"}, [])
    await approve_all(step, world, request)
    assert (await load(step, record.id)).details["phone"] == "13800001111"


async def test_graduated_records_cannot_be_changed(step: Step, world: World) -> None:
    # RULES: CHG-7
    record = await registered(step, world.registrar, world.grade3)
    async with step() as uow:
        stored = await uow.session.get(StudentRecord, record.id)
        assert stored is not None
        stored.status = RecordStatus.GRADUATED

    async def change(uow: UnitOfWork) -> None:
        await request_change(
            uow,
            actor=world.registrar,
            record_id=record.id,
            values={"name": "张晓明"},
            reason="x",
            proof_ids=[1],
        )

    assert (await refusal(step, change)).code == "RECORD_READ_ONLY"


async def test_only_the_records_school_may_ask(step: Step, world: World) -> None:
    # RULES: CHG-3, ORG-3
    record = await registered(step, world.registrar, world.grade3)

    async def foreign(uow: UnitOfWork) -> None:
        await request_change(
            uow,
            actor=world.a2_registrar,
            record_id=record.id,
            values={"name": "x"},
            reason="x",
            proof_ids=[1],
        )

    assert (await refusal(step, foreign)).code == "NOT_FOUND"
    async with step() as uow:
        assert (await uow.session.scalars(select(ChangeRequest))).all() == []


async def test_proof_must_be_a_file_of_ones_own_jurisdiction(step: Step, world: World) -> None:
    # RULES: CHG-3, ORG-3 — citing another school's upload (or no upload at all) is refused.
    record = await registered(step, world.registrar, world.grade3)
    async with step() as uow:
        foreign = await make_proof(uow, world.tree.school_a2)

    async def cite(uow: UnitOfWork) -> None:
        await request_change(
            uow,
            actor=world.registrar,
            record_id=record.id,
            values={"name": "张晓明"},
            reason="x",
            proof_ids=[foreign],
        )

    error = await refusal(step, cite)
    assert (error.code, error.field) == ("NOT_FOUND", "proofIds")


async def test_a_retried_request_with_its_key_returns_the_first_one(step: Step, world: World) -> None:
    # RULES: CHG-3
    record = await registered(step, world.registrar, world.grade3)

    async def request(key: str) -> ChangeRequest:
        async with step() as uow:
            proof = await make_proof(uow, world.tree.school_a1)
            return await request_change(
                uow,
                actor=world.registrar,
                record_id=record.id,
                values={"name": "张晓明"},
                reason="户口簿更正",
                proof_ids=[proof],
                idempotency_key=key,
            )

    first = await request("chg-1")
    again = await request("chg-1")

    assert again.id == first.id
    assert len(await audit_rows(step, "change_request.created")) == 1
