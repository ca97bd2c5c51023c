"""Each user reads and sets their own delivery preferences, validated and audited, over the API."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from backend.clock import FixedClock
from backend.config import Settings
from backend.db import Database
from backend.domain.accounts.service import actor_for
from backend.domain.errors import DomainError
from backend.models import AuditEntry, NotificationPreference, User
from backend.notifications.preferences import set_preferences
from tests.api import COUNTY_LEADER, SCHOOL_REGISTRAR, Api
from tests.notifications.support import make_people

READ = "{ notificationPreferences { channels { kind channels isDefault } quietStart quietEnd dailyDigest } }"
SET = """
mutation($input: SetNotificationPreferencesInput!) {
  setNotificationPreferences(input: $input) {
    errors { code message field }
    preferences { channels { kind channels isDefault } quietStart quietEnd dailyDigest }
  }
}
"""


def by_kind(preferences: dict[str, Any]) -> dict[str, tuple[list[str], bool]]:
    return {item["kind"]: (item["channels"], item["isDefault"]) for item in preferences["channels"]}


async def test_a_new_user_sees_the_defaults(api: Api) -> None:
    token = await api.login(SCHOOL_REGISTRAR)

    body = await api.post(READ, token=token)

    preferences = body["data"]["notificationPreferences"]
    assert by_kind(preferences) == {
        "STEP_PENDING": (["EMAIL"], True),
        "DECIDED": (["EMAIL"], True),
        "DEADLINE_NEAR": ([], True),
        "STEP_OVERDUE": ([], True),
        "LOGIN_REMINDER": (["EMAIL", "SMS"], True),  # MON-1
        "ANNOUNCEMENT": ([], True),
        "MESSAGE": ([], True),
    }
    assert (preferences["quietStart"], preferences["quietEnd"], preferences["dailyDigest"]) == (
        None,
        None,
        False,
    )


async def test_setting_preferences_replaces_them_and_is_audited(api: Api) -> None:
    token = await api.login(COUNTY_LEADER)
    given = {
        "channels": [
            {"kind": "DECIDED", "channels": ["SMS", "EMAIL", "SMS"]},
            {"kind": "STEP_PENDING", "channels": []},
        ],
        "quietStart": "22:30",
        "quietEnd": "07:00",
        "dailyDigest": True,
    }

    body = await api.post(SET, {"input": given}, token=token)
    again = await api.post(READ, token=token)
    reset = await api.post(SET, {"input": {}}, token=token)

    payload = body["data"]["setNotificationPreferences"]
    assert payload["errors"] == []
    assert again["data"]["notificationPreferences"] == payload["preferences"]
    chosen = by_kind(payload["preferences"])
    assert chosen["DECIDED"] == (["EMAIL", "SMS"], False)
    assert chosen["STEP_PENDING"] == ([], False)
    assert chosen["LOGIN_REMINDER"] == (["EMAIL", "SMS"], True)
    assert (payload["preferences"]["quietStart"], payload["preferences"]["quietEnd"]) == ("22:30", "07:00")
    assert payload["preferences"]["dailyDigest"] is True
    assert by_kind(reset["data"]["setNotificationPreferences"]["preferences"])["DECIDED"] == (["EMAIL"], True)
    async with api.runtime.db.read_session() as session:
        user_id = await session.scalar(select(User.id).where(User.username == COUNTY_LEADER))
        audits = (
            await session.execute(
                select(AuditEntry.user_id, AuditEntry.target_id, AuditEntry.before, AuditEntry.after)
                .where(AuditEntry.operation == "notification_preferences.updated")
                .order_by(AuditEntry.id)
            )
        ).all()
        rows = (
            await session.execute(
                select(
                    NotificationPreference.user_id,
                    NotificationPreference.channels,
                    NotificationPreference.daily_digest,
                )
            )
        ).all()
    assert [(a.user_id, a.target_id) for a in audits] == [(user_id, str(user_id))] * 2
    assert audits[0].before == {"channels": {}, "quietStart": None, "quietEnd": None, "dailyDigest": False}
    assert audits[0].after == {
        "channels": {"DECIDED": ["EMAIL", "SMS"], "STEP_PENDING": []},
        "quietStart": "22:30",
        "quietEnd": "07:00",
        "dailyDigest": True,
    }
    assert audits[1].before == audits[0].after
    assert [tuple(r) for r in rows] == [(user_id, {}, False)]


@pytest.mark.parametrize(
    ("given", "code", "field"),
    [
        ({"channels": [{"kind": "WEATHER", "channels": ["EMAIL"]}]}, "UNKNOWN_NOTIFICATION_KIND", "channels"),
        (
            {"channels": [{"kind": "DECIDED", "channels": []}, {"kind": "DECIDED", "channels": ["SMS"]}]},
            "DUPLICATE_NOTIFICATION_KIND",
            "channels",
        ),
        ({"channels": [{"kind": "DECIDED", "channels": ["WECHAT"]}]}, "UNKNOWN_CHANNEL", "channels"),
        ({"quietStart": "24:00", "quietEnd": "07:00"}, "INVALID_QUIET_HOURS", "quietStart"),
        ({"quietStart": "22:00", "quietEnd": "7:00"}, "INVALID_QUIET_HOURS", "quietEnd"),
        ({"quietStart": "22:00"}, "INVALID_QUIET_HOURS", "quietEnd"),
        ({"quietEnd": "07:00"}, "INVALID_QUIET_HOURS", "quietStart"),
        ({"quietStart": "07:00", "quietEnd": "07:00"}, "INVALID_QUIET_HOURS", "quietEnd"),
    ],
)
async def test_bad_preferences_are_refused_with_a_code_and_change_nothing(
    api: Api, given: dict[str, Any], code: str, field: str
) -> None:
    token = await api.login(COUNTY_LEADER)

    body = await api.post(SET, {"input": given}, token=token)

    payload = body["data"]["setNotificationPreferences"]
    assert payload["preferences"] is None
    assert len(payload["errors"]) == 1
    assert (payload["errors"][0]["code"], payload["errors"][0]["field"]) == (code, field)
    assert payload["errors"][0]["message"]  # Chinese, for people
    async with api.runtime.db.read_session() as session:
        assert list(await session.scalars(select(NotificationPreference))) == []
        assert (
            list(
                await session.scalars(
                    select(AuditEntry).where(AuditEntry.operation == "notification_preferences.updated")
                )
            )
            == []
        )


async def test_preferences_need_a_signed_in_caller(api: Api) -> None:
    body = await api.post(READ)

    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]


async def test_a_delegate_may_not_change_the_grantors_preferences(
    db: Database, clock: FixedClock, settings: Settings
) -> None:  # RULES: SEC-2
    people = await make_people(db, clock, settings)
    async with db.unit_of_work(clock, settings) as uow:
        grantor = await actor_for(uow.session, people.zhang)
    delegated = type(grantor)(**{**grantor.__dict__, "delegate_id": people.li.id})

    with pytest.raises(DomainError) as caught:
        async with db.unit_of_work(clock, settings) as uow:
            await set_preferences(
                uow, actor=delegated, channels=[], quiet_start=None, quiet_end=None, daily_digest=True
            )

    assert caught.value.code == "INVALID_INPUT"
