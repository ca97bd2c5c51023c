"""Changing a province's business windows and switches (CFG-2)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from backend.db import UnitOfWork
from backend.domain.actor import Actor, SystemActor
from backend.domain.audit.service import record_audit
from backend.domain.errors import NotFoundError, ValidationError
from backend.domain.permissions import Operation, authorize
from backend.domain.settings.provincial import SETTINGS
from backend.models import ProvinceSetting, Unit
from backend.models.enums import UnitKind


class UnknownSettingError(ValidationError):
    code = "UNKNOWN_SETTING"
    message = "没有这项业务设置"


async def set_province_setting(
    uow: UnitOfWork, *, actor: Actor | SystemActor, province_id: int, key: str, value: Any
) -> ProvinceSetting | None:
    """Set one window or switch of a province; ``None`` goes back to the national default (CFG-2).

    Province settings are configuration (``Operation.CONFIGURE_PROVINCE``): the province's own system
    administrator (ORG-2) or the system itself (CLI, demo, tests). Writes the audit row
    ``province_setting.set``; never commits.

    Returns:
        The stored row, or ``None`` when the key was reset to its default.

    Raises:
        ForbiddenError: the actor is not a system administrator of a province.
        NotFoundError: ``province_id`` is not the actor's province (or no province at all).
        UnknownSettingError: no such key (``field="key"``).
        ValidationError: the value does not fit the key (``field="value"`` or ``value[i]``).
    """
    authorize(actor, Operation.CONFIGURE_PROVINCE)
    province = await uow.session.get(Unit, province_id)
    if province is None or province.kind is not UnitKind.PROVINCE:
        raise NotFoundError(field="provinceId")
    try:
        authorize(actor, Operation.CONFIGURE_PROVINCE, province.path)
    except NotFoundError as error:  # another province: absent, on the input that named it
        raise NotFoundError(field="provinceId") from error
    spec = SETTINGS.get(key)
    if spec is None:
        raise UnknownSettingError(field="key")
    stored = None if value is None else spec.check(value)
    row = await uow.session.scalar(
        select(ProvinceSetting).where(ProvinceSetting.province_id == province_id, ProvinceSetting.key == key)
    )
    before = None if row is None else row.value
    if stored is None:
        if row is not None:
            await uow.session.delete(row)
        row = None
    else:
        if row is None:
            row = ProvinceSetting(province_id=province_id, key=key)
            uow.session.add(row)
        row.value = stored
        row.updated_at = uow.clock.now()
        row.updated_by_id = actor.user_id
    await record_audit(
        uow,
        actor=actor,
        operation="province_setting.set",
        target_type="province",
        target_id=province_id,
        before={"key": key, "value": before},
        after={"key": key, "value": stored},
        scope_path=province.path,
    )
    await uow.session.flush()
    return row
