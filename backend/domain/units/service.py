"""Administering the organisation tree (ORG-1): creating and editing units.

Units are created from above: a system administrator adds units below its own and edits those strictly
below (a level does not re-define itself). A new unit's path is its parent's path plus its own id, so it is
written after the id is known, inside the same transaction.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from sqlalchemy import select

from backend.db import UnitOfWork
from backend.domain.actor import Actor
from backend.domain.audit.service import record_audit
from backend.domain.errors import NotFoundError, ValidationError
from backend.domain.permissions import Operation, authorize
from backend.domain.units.errors import (
    InvalidSchoolProfileError,
    InvalidUnitCodeError,
    InvalidUnitPlacementError,
    UnitCodeTakenError,
)
from backend.domain.units.repository import get_unit
from backend.domain.units.tree import ALLOWED_CHILDREN, child_path, depth_of
from backend.models import Unit
from backend.models.enums import SchoolSystem, Stage, UnitKind

DIVISION_CODE = re.compile(r"^\d{6}$")
SCHOOL_CODE = re.compile(r"^\d{10}$")
SCHOOL_STAGES = frozenset({Stage.PRIMARY, Stage.JUNIOR, Stage.SENIOR, Stage.VOCATIONAL})


@dataclass(frozen=True)
class SchoolProfile:
    stages: frozenset[Stage] = frozenset()
    school_system: SchoolSystem | None = None
    is_central_school: bool = False


def _check_code(kind: UnitKind, code: str) -> str:
    code = code.strip()
    pattern = SCHOOL_CODE if kind is UnitKind.SCHOOL else DIVISION_CODE
    if not pattern.match(code):
        raise InvalidUnitCodeError(field="code")
    return code


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationError("单位名称不能为空且不超过100字", field="name")
    return name


def _check_profile(kind: UnitKind, profile: SchoolProfile) -> SchoolProfile:
    if kind is not UnitKind.SCHOOL:
        if profile.stages or profile.school_system or profile.is_central_school:
            raise InvalidSchoolProfileError("学段、学制和中心校只适用于学校", field="stages")
        return profile
    if not profile.stages or not profile.stages <= SCHOOL_STAGES:
        raise InvalidSchoolProfileError(field="stages")
    needs_system = bool(profile.stages & {Stage.PRIMARY, Stage.JUNIOR})
    if needs_system and profile.school_system is None:
        raise InvalidSchoolProfileError(field="schoolSystem")
    return profile


async def _check_code_free(uow: UnitOfWork, code: str, except_id: int | None = None) -> None:
    existing = await uow.session.scalar(select(Unit.id).where(Unit.code == code))
    if existing is not None and existing != except_id:
        raise UnitCodeTakenError(field="code")


async def _check_central_change(uow: UnitOfWork, unit: Unit, central: bool) -> None:
    """Only a school directly under a department may be central; one with branches stays central (ORG-1)."""
    parent = await get_unit(uow.session, unit.parent_id) if unit.parent_id else None
    if central and parent is not None and parent.kind is UnitKind.SCHOOL:
        raise InvalidUnitPlacementError("分校不能设为中心校", field="isCentralSchool")
    if not central:
        has_branches = await uow.session.scalar(select(Unit.id).where(Unit.parent_id == unit.id).limit(1))
        if has_branches is not None:
            raise InvalidUnitPlacementError("该中心校下仍有分校，不能取消中心校", field="isCentralSchool")


def _snapshot(unit: Unit) -> dict[str, object]:
    return {
        "kind": str(unit.kind),
        "name": unit.name,
        "code": unit.code,
        "parentId": unit.parent_id,
        "stages": list(unit.stages),
        "schoolSystem": str(unit.school_system) if unit.school_system else None,
        "isCentralSchool": unit.is_central_school,
        "isActive": unit.is_active,
    }


async def create_unit(
    uow: UnitOfWork,
    *,
    actor: Actor,
    parent_id: int,
    kind: UnitKind,
    name: str,
    code: str,
    profile: SchoolProfile = SchoolProfile(),
) -> Unit:
    """Add a unit below ``parent_id`` (ORG-1): kinds nest in order; branch schools under a central school."""
    authorize(actor, Operation.MANAGE_UNITS)
    parent = await get_unit(uow.session, parent_id)
    if parent is None or not actor.covers_path(parent.path):
        raise NotFoundError(field="parentId")
    if kind not in ALLOWED_CHILDREN[parent.kind] or (
        parent.kind is UnitKind.SCHOOL and not parent.is_central_school
    ):
        raise InvalidUnitPlacementError(field="kind")
    code = _check_code(kind, code)
    name = _check_name(name)
    profile = _check_profile(kind, profile)
    if parent.kind is UnitKind.SCHOOL and profile.is_central_school:
        raise InvalidUnitPlacementError("分校不能再设为中心校", field="isCentralSchool")
    await _check_code_free(uow, code)
    now = uow.clock.now()
    unit = Unit(
        kind=kind,
        name=name,
        code=code,
        parent_id=parent.id,
        path=f"/pending/{uuid.uuid4().hex}/",
        depth=parent.depth + 1,
        is_central_school=profile.is_central_school,
        stages=sorted(str(s) for s in profile.stages),
        school_system=profile.school_system,
        is_active=True,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(unit)
    await uow.session.flush()
    unit.path = child_path(parent.path, unit.id)
    unit.depth = depth_of(unit.path)
    await record_audit(
        uow,
        actor=actor,
        operation="unit.created",
        target_type="unit",
        target_id=unit.id,
        after=_snapshot(unit),
    )
    return unit


async def update_unit(
    uow: UnitOfWork,
    *,
    actor: Actor,
    unit_id: int,
    name: str | None = None,
    code: str | None = None,
    stages: frozenset[Stage] | None = None,
    school_system: SchoolSystem | None = None,
    is_central_school: bool | None = None,
    is_active: bool | None = None,
) -> Unit:
    """Edit a unit strictly below the actor's own (a level is maintained by the one above)."""
    authorize(actor, Operation.MANAGE_UNITS)
    unit = await get_unit(uow.session, unit_id)
    if unit is None:
        raise NotFoundError(field="unitId")
    authorize(actor, Operation.MANAGE_UNITS, unit.path)
    before = _snapshot(unit)
    if name is not None:
        unit.name = _check_name(name)
    if code is not None:
        new_code = _check_code(unit.kind, code)
        await _check_code_free(uow, new_code, except_id=unit.id)
        unit.code = new_code
    if stages is not None or school_system is not None or is_central_school is not None:
        profile = SchoolProfile(
            stages=stages if stages is not None else frozenset(Stage(s) for s in unit.stages),
            school_system=school_system or unit.school_system,
            is_central_school=unit.is_central_school if is_central_school is None else is_central_school,
        )
        checked = _check_profile(unit.kind, profile)
        if checked.is_central_school != unit.is_central_school:
            await _check_central_change(uow, unit, checked.is_central_school)
        unit.stages = sorted(str(s) for s in checked.stages)
        unit.school_system = checked.school_system
        unit.is_central_school = checked.is_central_school
    if is_active is not None:
        unit.is_active = is_active
    unit.updated_at = uow.clock.now()
    await record_audit(
        uow,
        actor=actor,
        operation="unit.updated",
        target_type="unit",
        target_id=unit.id,
        before=before,
        after=_snapshot(unit),
    )
    return unit
