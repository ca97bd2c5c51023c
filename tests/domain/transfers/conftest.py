"""The transfer tests' world: two provinces with schools, classes and people (``support.make_world``)."""

from __future__ import annotations

import pytest

from backend.clock import FixedClock
from backend.config import Settings
from backend.db import Database
from tests.domain.transfers.support import World, make_world


@pytest.fixture
async def w(db: Database, clock: FixedClock, settings: Settings) -> World:
    return await make_world(db, clock, settings)
