"""Issuing and changing national numbers (全国学籍号) over a record's life (NUM-1..7).

Every record gets a temporary ``L`` number when it is created (NUM-3): ``L`` + the area code of the
school's county + birth date + 4 random digits (NUM-7). When its registration is approved the number is
promoted (``promote_number``): a student with a resident ID whose identity check matches gets ``G`` + the ID
number (NUM-1); one without a resident ID whose duplicate check passed gets a ``J`` number with the next
3-digit sequence of its area and birth date (NUM-2). A J holder whose ID is added and verified moves on to
G (NUM-2), and a G holder whose ID number changes gets the new G (NUM-5), by the same call.

A record keeps every number it held: each change closes the open ``NationalNumberHistory`` row and opens
a new one (NUM-2, NUM-5, NUM-6), and writes ``RecordHistory(kind="NUMBER_ISSUED")``. Numbers once issued are
never issued again, so uniqueness is checked against the history as well as the live records.

Services outside this module never branch on the number kind: L holders are ordinary records in every
business (NUM-3). The one exception the rules name, the deletion guard of NUM-4, lives here too
(``ensure_deletable``).

Concurrency: the unique index on the live records' ``national_number`` is the final guard. Two transactions
issuing the same number at the same instant (the same random L digits, or the same next J sequence) make
one of them fail on commit; the edge retries the operation.
"""

from __future__ import annotations

import enum
import secrets
from datetime import date

from sqlalchemy import func, select, union, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.db import UnitOfWork
from backend.domain.problems.repository import UNRESOLVED, problems_of_record
from backend.domain.problems.service import open_problem
from backend.domain.records.duplicates import check_duplicates
from backend.domain.records.errors import OfficialNumberProtectedError
from backend.domain.records.identity import IDENTITY_ANSWERS_ZH, IdentityAnswer, IdentityVerifier
from backend.domain.records.national_numbers import (
    NationalNumberKind,
    g_number,
    j_number,
    l_number,
    parse_national_number,
)
from backend.domain.settings import ProvinceSettings
from backend.domain.units.repository import ancestors
from backend.models import NationalNumberHistory, RecordHistory, StudentRecord, Unit
from backend.models.enums import IdType, NumberKind, ProblemType, RegistrationState, UnitKind

CANDIDATES_PER_QUERY = 5
MAX_QUERIES = 4

REASON_TEMPORARY = "建立学籍，分配临时学籍号"
REASON_G = "通过查重和身份比对，核发G字头正式学籍号"
REASON_J = "无身份证件号码，查重通过，核发J字头正式学籍号"
REASON_BIRTH_DATE = "出生日期更正，重新分配临时学籍号"


class Promotion(enum.StrEnum):
    """What ``promote_number`` did."""

    ISSUED = "ISSUED"  # a new official number (G or J)
    UNCHANGED = "UNCHANGED"  # the record already holds the number it is due
    ID_ERROR = "ID_ERROR"  # the identity check failed: type-1 problem opened, number kept (PRB-1)
    DUPLICATE = "DUPLICATE"  # an unresolved duplicate stands in the way: number kept (NUM-1, NUM-2)


def random_digits() -> str:
    """Four random digits for an L number (a module attribute, so tests can make collisions happen)."""
    return f"{secrets.randbelow(10_000):04d}"


async def area_code(session: AsyncSession, school: Unit) -> str:
    """The division code of the school's county, the nearest department above it.

    A school run directly by a city or province gets that department's code; a branch school looks past
    its central school.
    """
    for unit in reversed(await ancestors(session, school)):
        if unit.kind is not UnitKind.SCHOOL:
            return unit.code
    raise ValueError(f"school {school.id} has no department above it")


async def new_temporary_number(session: AsyncSession, *, area: str, birth_date: date) -> str:
    """A free L number (NUM-3, NUM-7): random candidates, checked in one query each round."""
    for _ in range(MAX_QUERIES):
        candidates = list(
            dict.fromkeys(l_number(area, birth_date, random_digits()) for _ in range(CANDIDATES_PER_QUERY))
        )
        taken = await _issued(session, candidates)
        for number in candidates:
            if number not in taken:
                return number
    raise RuntimeError(f"no free temporary number for {area} {birth_date}")


async def next_j_number(session: AsyncSession, *, area: str, birth_date: date) -> str:
    """The next J number of an area and birth date (NUM-2, NUM-7): one query for the highest issued.

    Raises:
        InvalidNationalNumberError: the 1,000 sequence numbers of that day and area are used up.
    """
    prefix = f"J{area}{birth_date:%Y%m%d}"
    # Every J number of the day and area sorts between the prefix and the prefix with its last digit
    # raised by one, under any collation: the numbers differ from the bounds in a digit.
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    live = StudentRecord.national_number
    past = NationalNumberHistory.number
    highest = union_all(
        select(func.max(live).label("number")).where(live >= prefix, live < upper),
        select(func.max(past).label("number")).where(past >= prefix, past < upper),
    ).subquery()
    top = await session.scalar(select(func.max(highest.c.number)))
    sequence = 0 if top is None else int(top[len(prefix) : len(prefix) + 3]) + 1
    return j_number(area, birth_date, sequence)


def open_number_history(uow: UnitOfWork, record: StudentRecord, *, reason: str) -> NationalNumberHistory:
    """Start the history row of the number the (flushed) record holds now."""
    row = NationalNumberHistory(
        record_id=record.id,
        number=record.national_number,
        kind=record.number_kind,
        valid_from=uow.clock.now(),
        valid_until=None,
        reason=reason,
    )
    uow.session.add(row)
    return row


async def close_number_history(uow: UnitOfWork, record: StudentRecord) -> None:
    """End the record's current number in its history (a change or a deletion)."""
    await uow.session.execute(
        update(NationalNumberHistory)
        .where(NationalNumberHistory.record_id == record.id, NationalNumberHistory.valid_until.is_(None))
        .values(valid_until=uow.clock.now())
    )


async def change_number(
    uow: UnitOfWork,
    record: StudentRecord,
    *,
    number: str,
    kind: NumberKind,
    reason: str,
    user_id: int | None = None,
) -> None:
    """Give the record a new number, keeping the old one in its history (NUM-2, NUM-5, SEC-7)."""
    old = record.national_number
    now = uow.clock.now()
    await close_number_history(uow, record)
    record.national_number = number
    record.number_kind = kind
    record.version += 1
    record.updated_at = now
    open_number_history(uow, record, reason=reason)
    uow.session.add(
        RecordHistory(
            record_id=record.id,
            at=now,
            user_id=user_id,
            kind="NUMBER_ISSUED",
            reason=reason,
            changes={"nationalNumber": [old, number]},
            proof_ids=[],
        )
    )
    await uow.session.flush()


async def promote_number(uow: UnitOfWork, record: StudentRecord, verifier: IdentityVerifier) -> Promotion:
    """Issue the official number a record is due, after the checks the rules ask for (NUM-1, NUM-2, NUM-5).

    - With a resident ID: the identity check (NUM-1). A mismatch or unknown number keeps the current
      number and opens a type-1 problem record (PRB-1). On a match, and when no other live record holds
      the same ID (the duplicate check; PRB-2 lets only one remain) nor that G number, the number becomes
      ``G`` + ID; a deleted record of the same person hands it back (NUM-6). This also moves a J holder
      whose ID was added (NUM-2) and a G holder whose ID number changed (NUM-5).
    - Without one (no ID, or a non-resident document): a J number once no unresolved duplicate problem
      stands in the way (NUM-2, PRB-3: a confirmed type-3 group no longer counts); a J holder keeps it.

    Called when a registration is approved, and by changes of identity fields once they take effect.
    """
    if record.id_type is IdType.RESIDENT_ID and record.id_number:
        answer = await verifier.verify(record.name, record.id_number)
        if answer is not IdentityAnswer.MATCH:
            await open_problem(
                uow,
                record=record,
                problem_type=ProblemType.ID_ERROR,
                group_key=record.id_number,
                detail=IDENTITY_ANSWERS_ZH[answer],
            )
            return Promotion.ID_ERROR
        number = g_number(record.id_number)
        if record.national_number == number:
            return Promotion.UNCHANGED
        findings = await check_duplicates(
            uow.session,
            id_type=record.id_type,
            id_number=record.id_number,
            name=record.name,
            gender=record.gender,
            birth_date=record.birth_date,
            exclude_record_id=record.id,
        )
        if findings.same_id or await _held_by_another(uow.session, number, record.id):
            return Promotion.DUPLICATE
        await change_number(uow, record, number=number, kind=NumberKind.G, reason=REASON_G)
        return Promotion.ISSUED
    if record.number_kind is NumberKind.J:
        return Promotion.UNCHANGED
    duplicates = (ProblemType.DUPLICATE_WITH_ID, ProblemType.DUPLICATE_WITHOUT_ID)
    if await problems_of_record(uow.session, record.id, duplicates, UNRESOLVED):
        return Promotion.DUPLICATE
    school = await uow.session.get(Unit, record.school_id)
    assert school is not None
    area = await area_code(uow.session, school)
    number = await next_j_number(uow.session, area=area, birth_date=record.birth_date)
    await change_number(uow, record, number=number, kind=NumberKind.J, reason=REASON_J)
    return Promotion.ISSUED


async def reissue_temporary_number(uow: UnitOfWork, record: StudentRecord, *, user_id: int | None) -> bool:
    """A new L number when a draft's birth date was corrected: the number spells it (NUM-7).

    Returns whether the number changed. Official numbers change only through ``promote_number``.
    """
    current = parse_national_number(record.national_number)
    if current.kind is not NationalNumberKind.L or current.birth_date == record.birth_date:
        return False
    number = await new_temporary_number(uow.session, area=current.area_code, birth_date=record.birth_date)
    await change_number(
        uow, record, number=number, kind=NumberKind.L, reason=REASON_BIRTH_DATE, user_id=user_id
    )
    return True


def ensure_deletable(record: StudentRecord, settings: ProvinceSettings) -> None:
    """Refuse to delete a record with a G number unless the province allows it (NUM-4).

    Raises:
        OfficialNumberProtectedError: the record holds a G number and ``switch.may_delete_official_number``
            is off.
    """
    if record.number_kind is NumberKind.G and not settings.may_delete_official_number:
        raise OfficialNumberProtectedError()


async def _held_by_another(session: AsyncSession, number: str, record_id: int) -> bool:
    """Another live record holds ``number``.

    A deleted record keeps the G number it held, but does not hold it against the same person registered
    again: one person, one number for life (NUM-6). The unique index covers live records only.
    """
    holder = await session.scalar(
        select(StudentRecord.id).where(
            StudentRecord.national_number == number,
            StudentRecord.registration_state != RegistrationState.DELETED,
            StudentRecord.id != record_id,
        )
    )
    return holder is not None


async def _issued(session: AsyncSession, numbers: list[str]) -> set[str]:
    """Which of ``numbers`` a record holds or held (both lookups on unique/plain indexes)."""
    rows = await session.scalars(
        union(
            select(StudentRecord.national_number).where(StudentRecord.national_number.in_(numbers)),
            select(NationalNumberHistory.number).where(NationalNumberHistory.number.in_(numbers)),
        )
    )
    return set(rows)
