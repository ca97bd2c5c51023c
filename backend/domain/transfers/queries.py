"""Read side of transfers: lists and one business within jurisdiction (ORG-3), with the state shown.

A transfer concerns two schools, so it lies in the jurisdiction of everyone above either: the receiving
side sees what comes in, the sending side what goes out (``direction``). Every party of the review is
above one of the two schools, so a reviewer always finds the business it must decide.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.domain.actor import Actor
from backend.domain.pagination import Page, paginate
from backend.domain.permissions import Operation, authorize
from backend.domain.transfers.repository import awaiting_retrieval, load_transfer, pending_steps
from backend.domain.transfers.rules import REJECTION_REASONS, RejectionReason
from backend.domain.transfers.workflow import displayed_state
from backend.domain.units.repository import subtree_filter, unit_in_jurisdiction
from backend.models import Transfer, WorkflowStep
from backend.models.enums import BusinessState, StepKind, TransferKind


class TransferDirection(enum.StrEnum):
    """Which side of a transfer the list is about, seen from the caller's jurisdiction."""

    IN = "IN"
    OUT = "OUT"
    ALL = "ALL"


@dataclass(frozen=True)
class TransferView:
    """A transfer with the state people see and the step it waits at (``None`` once it has ended)."""

    transfer: Transfer
    state: BusinessState
    pending_step: WorkflowStep | None
    # True when an idempotency key matched: this is the first call's business, nothing was done now.
    replayed: bool = False

    @property
    def approved_at(self) -> datetime | None:
        """When the last review approved: stored on completion, else the opening of file retrieval."""
        if self.transfer.approved_at is not None:
            return self.transfer.approved_at
        if self.state is BusinessState.AWAITING_RETRIEVAL and self.pending_step is not None:
            return self.pending_step.opened_at
        return None

    @property
    def retrieval_due_on(self) -> date | None:
        """The last day of file retrieval (TRF-3), while it is awaited."""
        step = self.pending_step
        if step is not None and step.kind is StepKind.RETRIEVAL:
            return step.due_on
        return None

    @property
    def warnings(self) -> list[dict[str, Any]]:
        """Warnings for the approvers, fixed when the business started (TRF-11)."""
        found = self.transfer.details.get("warnings", [])
        return [dict(item) for item in found if isinstance(item, dict)]

    def as_replay(self) -> TransferView:
        return replace(self, replayed=True)


async def view_of(session: AsyncSession, transfer: Transfer) -> TransferView:
    """The transfer with its pending step, as shown (one query)."""
    pending = (
        (await pending_steps(session, [transfer.workflow_id])).get(transfer.workflow_id)
        if transfer.workflow_id is not None
        else None
    )
    return TransferView(transfer, displayed_state(transfer, pending), pending)


async def views_of(session: AsyncSession, transfers: list[Transfer]) -> list[TransferView]:
    """A page of transfers with their pending steps: one query whatever the page size."""
    pending = await pending_steps(session, [t.workflow_id for t in transfers if t.workflow_id is not None])
    views = []
    for transfer in transfers:
        step = None if transfer.workflow_id is None else pending.get(transfer.workflow_id)
        views.append(TransferView(transfer, displayed_state(transfer, step), step))
    return views


def _direction_filter(direction: TransferDirection, scope: str) -> ColumnElement[bool]:
    incoming = subtree_filter(Transfer.receiving_path, scope)
    outgoing = subtree_filter(Transfer.sending_path, scope)
    if direction is TransferDirection.IN:
        return incoming
    if direction is TransferDirection.OUT:
        return outgoing
    return or_(incoming, outgoing)


async def list_transfers(
    session: AsyncSession,
    actor: Actor,
    *,
    unit_id: int | None = None,
    direction: TransferDirection = TransferDirection.ALL,
    state: BusinessState | None = None,
    kind: TransferKind | None = None,
    first: int | None = None,
    after: str | None = None,
    max_page: int = 100,
) -> Page[TransferView]:
    """Transfers coming into or going out of the actor's subtree (or ``unit_id``'s, inside it), newest first.

    ``state`` filters on the state shown: AWAITING_RETRIEVAL and IN_REVIEW split the stored IN_REVIEW by
    whether the retrieval step is pending. Two statements per page.
    """
    authorize(actor, Operation.VIEW_STUDENTS)
    scope = actor.unit_path
    if unit_id is not None:
        scope = (await unit_in_jurisdiction(session, actor, unit_id, field="unitId")).path
    stmt = select(Transfer).where(_direction_filter(direction, scope))
    if kind is not None:
        stmt = stmt.where(Transfer.kind == kind)
    if state is BusinessState.AWAITING_RETRIEVAL:
        stmt = stmt.where(Transfer.state == BusinessState.IN_REVIEW, awaiting_retrieval())
    elif state is BusinessState.IN_REVIEW:
        stmt = stmt.where(Transfer.state == BusinessState.IN_REVIEW, ~awaiting_retrieval())
    elif state is not None:
        stmt = stmt.where(Transfer.state == state)
    page = await paginate(
        session, stmt, Transfer.id, first=first, after=after, max_page=max_page, descending=True
    )
    return Page(
        items=await views_of(session, page.items), cursors=page.cursors, has_next_page=page.has_next_page
    )


def can_see_transfer(actor: Actor, transfer: Transfer) -> bool:
    """Whether the transfer lies in the actor's jurisdiction: above its receiving or sending school."""
    return actor.covers_path(transfer.receiving_path) or actor.covers_path(transfer.sending_path)


async def get_transfer(session: AsyncSession, actor: Actor, transfer_id: int) -> TransferView | None:
    """One transfer if it lies in the actor's jurisdiction (ORG-3); absent and out of reach look alike."""
    authorize(actor, Operation.VIEW_STUDENTS)
    transfer = await load_transfer(session, transfer_id)
    if transfer is None or not can_see_transfer(actor, transfer):
        return None
    return await view_of(session, transfer)


def rejection_reasons(actor: Actor) -> tuple[RejectionReason, ...]:
    """The fixed reasons a graduating county may give (TRF-10), for reviewers."""
    authorize(actor, Operation.ACT_ON_WORKFLOWS)
    return REJECTION_REASONS
