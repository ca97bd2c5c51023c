"""Plain async factories for domain tests: a small organisation tree, accounts with a known password.

Everything is built directly with the models (no services, no audit rows), so a test's assertions about
audit rows and sign-in events see only what the code under test wrote. Each test builds its own data.

The tree (codes are made-up test data in the shape of real ones)::

    ministry 100000 (/1/ in a fresh database)
    └── province 340000
        ├── city 340100
        │   ├── county A 340102 ── school A1 3401020001, school A2 3401020002
        │   └── county B 340103 ── school B1 3401030001
        └── city 340200
            └── county C 340202 ── school C1 3402020001
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.db import UnitOfWork
from backend.domain.accounts.passwords import hash_password_sync
from backend.domain.accounts.service import actor_for
from backend.domain.actor import Actor
from backend.domain.units.tree import child_path, depth_of, root_path
from backend.models import Unit, User, UserRole
from backend.models.enums import Role, SchoolSystem, Stage, UnitKind

# Satisfies the policy (SEC-1): 12 characters, digits, upper, lower, symbol; contains no test user name.
PASSWORD = "Xj#2026-Safe"


@dataclass(frozen=True)
class Tree:
    ministry: Unit
    province: Unit
    city: Unit
    county_a: Unit
    county_b: Unit
    school_a1: Unit
    school_a2: Unit
    school_b1: Unit
    city2: Unit
    county_c: Unit
    school_c1: Unit


async def make_unit(
    uow: UnitOfWork,
    kind: UnitKind,
    code: str,
    parent: Unit | None = None,
    *,
    name: str | None = None,
    is_central_school: bool = False,
) -> Unit:
    """A unit below ``parent`` (a root without one); its path is set once its id is known."""
    now = uow.clock.now()
    school = kind is UnitKind.SCHOOL
    unit = Unit(
        kind=kind,
        name=name or f"测试单位{code}",
        code=code,
        parent_id=None if parent is None else parent.id,
        path=f"/pending/{uuid.uuid4().hex}/",
        depth=0,
        is_central_school=is_central_school,
        stages=[str(Stage.PRIMARY)] if school else [],
        school_system=SchoolSystem.SIX_THREE if school else None,
        is_active=True,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(unit)
    await uow.session.flush()
    unit.path = root_path(unit.id) if parent is None else child_path(parent.path, unit.id)
    unit.depth = depth_of(unit.path)
    await uow.session.flush()
    return unit


async def build_tree(uow: UnitOfWork) -> Tree:
    ministry = await make_unit(uow, UnitKind.MINISTRY, "100000", name="教育部")
    province = await make_unit(uow, UnitKind.PROVINCE, "340000", ministry, name="测试省")
    city = await make_unit(uow, UnitKind.CITY, "340100", province, name="甲市")
    county_a = await make_unit(uow, UnitKind.COUNTY, "340102", city, name="甲市东区")
    county_b = await make_unit(uow, UnitKind.COUNTY, "340103", city, name="甲市西区")
    school_a1 = await make_unit(uow, UnitKind.SCHOOL, "3401020001", county_a, name="东区第一小学")
    school_a2 = await make_unit(uow, UnitKind.SCHOOL, "3401020002", county_a, name="东区第二小学")
    school_b1 = await make_unit(uow, UnitKind.SCHOOL, "3401030001", county_b, name="西区第一小学")
    city2 = await make_unit(uow, UnitKind.CITY, "340200", province, name="乙市")
    county_c = await make_unit(uow, UnitKind.COUNTY, "340202", city2, name="乙市南区")
    school_c1 = await make_unit(uow, UnitKind.SCHOOL, "3402020001", county_c, name="南区实验小学")
    return Tree(
        ministry=ministry,
        province=province,
        city=city,
        county_a=county_a,
        county_b=county_b,
        school_a1=school_a1,
        school_a2=school_a2,
        school_b1=school_b1,
        city2=city2,
        county_c=county_c,
        school_c1=school_c1,
    )


async def make_user(
    uow: UnitOfWork,
    unit: Unit,
    username: str,
    roles: Iterable[Role] = (Role.REGISTRAR,),
    *,
    password: str = PASSWORD,
    is_active: bool = True,
) -> User:
    """An account in ``unit`` whose password is ``password``, already changed (nothing forced)."""
    now = uow.clock.now()
    settings = uow.settings
    user = User(
        username=username,
        display_name=f"用户{username}",
        unit_id=unit.id,
        password_hash=hash_password_sync(password, settings.argon2_time_cost, settings.argon2_memory_kib),
        password_changed_at=now,
        must_change_password=False,
        failed_attempts=0,
        is_active=is_active,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(user)
    await uow.session.flush()
    uow.session.add_all(UserRole(user_id=user.id, role=role) for role in roles)
    await uow.session.flush()
    return user


async def actor_of(session: AsyncSession, user: User) -> Actor:
    """The actor a service sees for ``user`` signed in directly (no session, no delegation)."""
    return await actor_for(session, user)


async def count_rows(session: AsyncSession, model: type[object], *where: object) -> int:
    stmt = select(func.count()).select_from(model)
    for condition in where:
        stmt = stmt.where(condition)  # type: ignore[arg-type]
    return await session.scalar(stmt) or 0


async def make_proof(uow: UnitOfWork, unit: Unit) -> int:
    """A PROOF attachment row uploaded by ``unit`` (the bytes do not matter to the services citing it)."""
    from backend.models import Attachment

    attachment = Attachment(
        sha256="0" * 64,
        size=1,
        content_type="application/pdf",
        filename="证明.pdf",
        purpose="PROOF",
        unit_id=unit.id,
        unit_path=unit.path,
        uploaded_at=uow.clock.now(),
    )
    uow.session.add(attachment)
    await uow.session.flush()
    return attachment.id
