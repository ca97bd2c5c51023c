"""Read side of a province's business windows and switches (CFG-2): every key, with its default.

Who may read: a province's windows are the calendar of its schools' business — a school must know when
registration opens — so every registrar, leader and system administrator of a unit *inside* the province
reads them (``VIEW_CONFIGURATION``), as do those of the ministry above it. ORG-3 alone would hide the
province from the units below it; here the province is on the caller's own line, which is what counts.
Other provinces look absent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.domain.actor import Actor
from backend.domain.errors import NotFoundError
from backend.domain.permissions import Operation, authorize, within_reach
from backend.domain.settings.provincial import SETTINGS, ProvinceSettings, load_province_settings
from backend.domain.units.tree import path_ids
from backend.models import ProvinceSetting, Unit
from backend.models.enums import UnitKind


@dataclass(frozen=True)
class ProvinceSettingView:
    key: str
    label_zh: str
    value: Any  # in force: the province's own value, else the national default
    default: Any  # the national default
    is_default: bool  # the province has not set this key: it follows the national default


@dataclass(frozen=True)
class ProvinceSettingsView:
    province: Unit
    settings: list[ProvinceSettingView]


async def read_province_settings(
    session: AsyncSession, actor: Actor, province_id: int | None = None
) -> ProvinceSettingsView:
    """Every key in ``SETTINGS`` for a province: the value in force and whether it is the default (CFG-2).

    Args:
        session: a read session.
        actor: the caller; any registrar, leader or system administrator (``VIEW_CONFIGURATION``).
        province_id: the province; ``None`` for the province the actor's unit belongs to.

    Raises:
        ForbiddenError: the actor's roles do not include viewing configuration.
        NotFoundError: no such province, or one the actor's unit neither lies in nor is above
            (``field="provinceId"``).
    """
    authorize(actor, Operation.VIEW_CONFIGURATION)
    if province_id is None:
        province = await session.scalar(
            select(Unit).where(Unit.id.in_(path_ids(actor.unit_path)), Unit.kind == UnitKind.PROVINCE)
        )
    else:
        province = await session.get(Unit, province_id)
    if province is None or province.kind is not UnitKind.PROVINCE or not _on_the_line(actor, province):
        raise NotFoundError(field="provinceId")
    settings = await load_province_settings(session, province.path)
    return ProvinceSettingsView(province=province, settings=[_view(key, settings) for key in SETTINGS])


def setting_view(key: str, row: ProvinceSetting | None) -> ProvinceSettingView:
    """One key as ``set_province_setting`` left it: its row, or ``None`` after a reset to the default."""
    return _view(key, ProvinceSettings({} if row is None else {key: row.value}))


def _view(key: str, settings: ProvinceSettings) -> ProvinceSettingView:
    spec = SETTINGS[key]
    return ProvinceSettingView(
        key=key,
        label_zh=spec.label_zh,
        value=settings.value(key),
        default=spec.default,
        is_default=key not in settings.stored,
    )


def _on_the_line(actor: Actor, province: Unit) -> bool:
    """The actor's unit lies in the province (or is it), or the province is within the actor's reach."""
    return actor.unit_path.startswith(province.path) or within_reach(
        actor, Operation.VIEW_CONFIGURATION, province.path
    )
