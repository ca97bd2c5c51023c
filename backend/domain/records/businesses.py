"""Whether anything is still being decided about a record: one business at a time.

A transfer, a status change or a change request in progress each assume the record stays where and as it
is until they end; a record is not moved, transferred again or deleted meanwhile. One statement.
"""

from __future__ import annotations

from sqlalchemy import exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import ChangeRequest, StatusChange, Transfer
from backend.models.enums import BusinessState

OPEN_BUSINESS_STATES = (BusinessState.IN_REVIEW, BusinessState.AWAITING_RETRIEVAL)


async def has_open_business(session: AsyncSession, record_id: int) -> bool:
    """Whether a transfer, a status change or a change request of the record is still in progress."""
    transfer = exists().where(Transfer.record_id == record_id, Transfer.state.in_(OPEN_BUSINESS_STATES))
    status_change = exists().where(
        StatusChange.record_id == record_id, StatusChange.state.in_(OPEN_BUSINESS_STATES)
    )
    change = exists().where(ChangeRequest.record_id == record_id, ChangeRequest.state == "IN_REVIEW")
    return bool(await session.scalar(select(or_(transfer, status_change, change))))
