"""Fixtures of the status-change tests: the records world, one unit of work per request."""

from __future__ import annotations

import pytest

from backend.clock import FixedClock
from backend.config import Settings
from backend.db import Database
from tests.domain.records.support import Step, World, build_world, stepper


@pytest.fixture
def step(db: Database, clock: FixedClock, settings: Settings) -> Step:
    return stepper(db, clock, settings)


@pytest.fixture
async def world(step: Step) -> World:
    return await build_world(step)
