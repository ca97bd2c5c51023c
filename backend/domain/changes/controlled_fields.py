"""Controlled fields (受控字段): each department declares its own and sees those above (CHG-1, CFG-3).

A controlled field is one whose change, once a record has been submitted, needs the supervising
department's approval (CHG-3) instead of being edited by the school directly (CHG-2). Every department
level — ministry, province, city, county — declares fields *for its own level*: the declaration is a
``ControlledField`` row on its unit and applies to every school below it. A school's set in force is the
union of the declarations of all departments above it plus the key information, which is controlled by
rule (SEC-6) and so cannot be declared or taken back. ``records.service.controlled_field_keys`` reads that
set when a record is edited; this module administers the declarations and shows where each comes from.

Decisions:

- Declaring is configuration (``MANAGE_CONTROLLED_FIELDS``): the system administrator of a department,
  for its own unit only (ORG-2). Nobody declares for another level, above or below.
- Viewing (``VIEW_CONFIGURATION``) is open to the registrars, leaders and administrators of a unit for
  their own unit and every unit below (ORG-3): a department checks what its counties add, and a school
  sees which of its fields need approval. A unit's list holds its own declarations (removable by that
  unit), those inherited from each level above with the declaring unit, and the key information.
- Declaring a field that is already in force — declared by this level, or by a level above — is refused
  (``ALREADY_CONTROLLED``, naming the unit that controls it) rather than accepted as a no-op: the
  administrator learns who controls the field, and no redundant row outlives the upper level's choice
  unnoticed. A declaration made below *before* an upper level declared the same field stays; the set in
  force is a union, so it is harmless, and the lists show both.
- Only a level's own declarations can be removed there; one inherited from above is refused
  (``INHERITED_FIELD``) — only the declaring level may take it back (CHG-1).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.db import UnitOfWork
from backend.domain.actor import Actor, SystemActor
from backend.domain.audit.service import record_audit
from backend.domain.changes.errors import (
    AlreadyControlledError,
    AlwaysControlledError,
    FieldNotControllableError,
    InheritedFieldError,
    NotADepartmentError,
    NotDeclaredError,
    UnknownFieldError,
)
from backend.domain.errors import NotFoundError, ValidationError
from backend.domain.permissions import DEPARTMENTS, Operation, authorize, may, within_reach
from backend.domain.records.fields import CATALOGUE, KEY_INFORMATION_KEYS, FieldSpec
from backend.domain.units.tree import path_ids
from backend.models import ControlledField, Unit

FIELD = "fieldKey"
# Lists follow the order of the national form, not the alphabet.
_FORM_ORDER = {key: position for position, key in enumerate(CATALOGUE)}


class ControlledFieldSource(enum.StrEnum):
    KEY_INFORMATION = "KEY_INFORMATION"  # controlled by rule after submission (SEC-6)
    INHERITED = "INHERITED"  # declared by a department above the unit (CHG-1)
    OWN = "OWN"  # declared by the unit itself, for its own level (CHG-1)


@dataclass(frozen=True)
class ControlledFieldEntry:
    """One controlled field as a unit sees it: where the control comes from, whether it may remove it."""

    field_key: str
    label_zh: str
    source: ControlledFieldSource
    declared_by: Unit | None  # the declaring department; ``None`` for key information
    declared_at: datetime | None
    removable: bool


@dataclass(frozen=True)
class ControlledFieldsView:
    """The controlled fields of one unit: key information, then inherited top-down, then its own."""

    unit: Unit
    fields: list[ControlledFieldEntry]
    can_manage: bool  # the viewer administers this unit's declarations
    declarable: list[FieldSpec]  # what this unit could still declare, shown to whoever can manage it

    @property
    def effective_keys(self) -> frozenset[str]:
        """The fields whose change needs approval at a school directly below (or at) this unit."""
        return frozenset(entry.field_key for entry in self.fields)


async def list_controlled_fields(
    session: AsyncSession, actor: Actor, unit_id: int | None = None
) -> ControlledFieldsView:
    """The controlled fields of a unit in the actor's jurisdiction, with their origin (CHG-1, SEC-6).

    Args:
        session: a read session.
        actor: the caller; any registrar, leader or system administrator (``VIEW_CONFIGURATION``).
        unit_id: the unit to show, the actor's own or one below it (ORG-3); ``None`` for the own unit.

    Raises:
        ForbiddenError: the actor's roles do not include viewing configuration.
        NotFoundError: no such unit, or outside the jurisdiction (``field="unitId"``).
    """
    authorize(actor, Operation.VIEW_CONFIGURATION)
    unit = await session.get(Unit, actor.unit_id if unit_id is None else unit_id)
    if unit is None:
        raise NotFoundError(field="unitId")
    _authorize_on(actor, Operation.VIEW_CONFIGURATION, unit.path, field="unitId")
    can_manage = may(actor, Operation.MANAGE_CONTROLLED_FIELDS) and within_reach(
        actor, Operation.MANAGE_CONTROLLED_FIELDS, unit.path
    )
    declarations = await _declarations(session, unit)
    fields = [
        ControlledFieldEntry(key, _label(key), ControlledFieldSource.KEY_INFORMATION, None, None, False)
        for key in sorted(KEY_INFORMATION_KEYS, key=_form_position)
    ]
    inherited = [(row, by) for row, by in declarations if by.id != unit.id]
    own = [(row, by) for row, by in declarations if by.id == unit.id]
    fields += [_entry(row, by, ControlledFieldSource.INHERITED, removable=False) for row, by in inherited]
    fields += [_entry(row, by, ControlledFieldSource.OWN, removable=can_manage) for row, by in own]
    in_force = {entry.field_key for entry in fields}
    # Only a department's own administrator can manage it (the policy's unit kinds and reach).
    declarable = (
        [spec for key, spec in CATALOGUE.items() if key not in in_force and not spec.managed]
        if can_manage
        else []
    )
    return ControlledFieldsView(unit=unit, fields=fields, can_manage=can_manage, declarable=declarable)


async def add_controlled_field(
    uow: UnitOfWork, *, actor: Actor | SystemActor, field_key: str, unit_id: int | None = None
) -> ControlledFieldEntry:
    """Declare a field controlled for the actor's own department level (CHG-1, CFG-3).

    From then on a school below that changes the field after submission gets it back in
    ``needs_approval`` and must ask through a change request (CHG-3). Writes the audit row
    ``controlled_field.added``; never commits.

    Args:
        uow: the unit of work.
        actor: a department's system administrator (``MANAGE_CONTROLLED_FIELDS``), or the system.
        field_key: a catalogue key (``phone``, ``currentAddress`` …).
        unit_id: the declaring unit; ``None`` for the actor's own. The system must name one; an actor
            naming another unit is refused as if it did not exist (own level only, CHG-1).

    Raises:
        ForbiddenError: not a department's system administrator (ORG-2).
        NotFoundError: ``unit_id`` is not the actor's own unit.
        UnknownFieldError: ``UNKNOWN_FIELD``, not in the catalogue.
        FieldNotControllableError: ``NOT_CONTROLLABLE``, grade or class.
        AlwaysControlledError: ``ALWAYS_CONTROLLED``, key information (SEC-6).
        AlreadyControlledError: ``ALREADY_CONTROLLED``, declared here or above already.
    """
    unit = await _managed_unit(uow.session, actor, unit_id)
    key = field_key.strip()
    spec = CATALOGUE.get(key)
    if spec is None:
        raise UnknownFieldError(f"学籍信息中没有字段“{key}”", field=FIELD)
    if spec.managed:
        raise FieldNotControllableError(field=FIELD)
    if spec.key_information:
        raise AlwaysControlledError(field=FIELD)
    found = await _declarations(uow.session, unit, key)
    if found:
        by = next((by for _, by in found if by.id == unit.id), found[-1][1])
        who = "本级" if by.id == unit.id else f"上级部门{by.name}"
        raise AlreadyControlledError(f"{who}已将“{spec.label_zh}”设为受控字段", field=FIELD)
    row = ControlledField(unit_id=unit.id, field_key=key, created_at=uow.clock.now())
    uow.session.add(row)
    try:
        await uow.session.flush()
    except IntegrityError as error:  # the same declaration committed meanwhile by another request
        raise AlreadyControlledError(f"本级已将“{spec.label_zh}”设为受控字段", field=FIELD) from error
    await record_audit(
        uow,
        actor=actor,
        operation="controlled_field.added",
        target_type="unit",
        target_id=unit.id,
        after={"fieldKey": key},
        scope_path=unit.path,
    )
    return _entry(row, unit, ControlledFieldSource.OWN, removable=True)


async def remove_controlled_field(
    uow: UnitOfWork, *, actor: Actor | SystemActor, field_key: str, unit_id: int | None = None
) -> ControlledFieldEntry:
    """Take back a field the actor's own department level declared (CHG-1, CFG-3).

    The field stays controlled where a level above also declares it. Writes the audit row
    ``controlled_field.removed``; never commits.

    Returns:
        The declaration as it was before its removal.

    Raises:
        ForbiddenError: not a department's system administrator (ORG-2).
        NotFoundError: ``unit_id`` is not the actor's own unit.
        AlwaysControlledError: ``ALWAYS_CONTROLLED``, key information (SEC-6).
        InheritedFieldError: ``INHERITED_FIELD``, declared by a level above only.
        UnknownFieldError: ``UNKNOWN_FIELD``, not in the catalogue and not declared.
        NotDeclaredError: ``NOT_DECLARED``, not declared at this level.
    """
    unit = await _managed_unit(uow.session, actor, unit_id)
    key = field_key.strip()
    row = await uow.session.scalar(
        select(ControlledField)
        .where(ControlledField.unit_id == unit.id, ControlledField.field_key == key)
        .with_for_update()
    )
    if row is None:
        if key in KEY_INFORMATION_KEYS:
            raise AlwaysControlledError(field=FIELD)
        above = await _declarations(uow.session, unit, key)
        if above:
            raise InheritedFieldError(
                f"“{_label(key)}”由上级部门{above[-1][1].name}设为受控字段，本级不能取消", field=FIELD
            )
        if key not in CATALOGUE:
            raise UnknownFieldError(f"学籍信息中没有字段“{key}”", field=FIELD)
        raise NotDeclaredError(f"本级没有将“{_label(key)}”设为受控字段", field=FIELD)
    removed = _entry(row, unit, ControlledFieldSource.OWN, removable=False)
    await uow.session.delete(row)
    await record_audit(
        uow,
        actor=actor,
        operation="controlled_field.removed",
        target_type="unit",
        target_id=unit.id,
        before={"fieldKey": key},
        scope_path=unit.path,
    )
    await uow.session.flush()
    return removed


# --- helpers ---------------------------------------------------------------------------------------


async def _managed_unit(session: AsyncSession, actor: Actor | SystemActor, unit_id: int | None) -> Unit:
    """The department whose declarations the actor administers: its own unit (CHG-1, ORG-2)."""
    authorize(actor, Operation.MANAGE_CONTROLLED_FIELDS)
    if unit_id is None:
        if isinstance(actor, SystemActor):
            raise ValidationError("须指明设置受控字段的单位", field="unitId")
        unit_id = actor.unit_id
    unit = await session.get(Unit, unit_id)
    if unit is None:
        raise NotFoundError(field="unitId")
    _authorize_on(actor, Operation.MANAGE_CONTROLLED_FIELDS, unit.path, field="unitId")
    if unit.kind not in DEPARTMENTS:
        raise NotADepartmentError(field="unitId")
    return unit


def _authorize_on(actor: Actor | SystemActor, operation: Operation, path: str, *, field: str) -> None:
    """``authorize`` on a unit named by the input ``field``: out of reach looks absent, on that field."""
    try:
        authorize(actor, operation, path)
    except NotFoundError as error:
        raise NotFoundError(field=field) from error


async def _declarations(
    session: AsyncSession, unit: Unit, field_key: str | None = None
) -> Sequence[tuple[ControlledField, Unit]]:
    """Declarations in force at ``unit``: its own and every ancestor's, top level first, in one query."""
    stmt = (
        select(ControlledField, Unit)
        .join(Unit, Unit.id == ControlledField.unit_id)
        .where(ControlledField.unit_id.in_(path_ids(unit.path)))
    )
    if field_key is not None:
        stmt = stmt.where(ControlledField.field_key == field_key)
    rows = [(row, by) for row, by in await session.execute(stmt)]
    return sorted(rows, key=lambda pair: (pair[1].depth, _form_position(pair[0].field_key)))


def _entry(
    row: ControlledField, by: Unit, source: ControlledFieldSource, *, removable: bool
) -> ControlledFieldEntry:
    return ControlledFieldEntry(row.field_key, _label(row.field_key), source, by, row.created_at, removable)


def _label(key: str) -> str:
    spec = CATALOGUE.get(key)
    return key if spec is None else spec.label_zh  # a key the catalogue has since dropped


def _form_position(key: str) -> int:
    return _FORM_ORDER.get(key, len(_FORM_ORDER))
