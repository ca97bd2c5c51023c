"""The caller's own notification preferences: which kinds also arrive by email or SMS, quiet hours, digest.

Kinds and channels are strings (the values of ``Notification.kind``; ``EMAIL``, ``SMS``) checked by the
domain, so a client sending an unknown one gets a payload error with a code and the field, like any other
bad input.
"""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from backend.domain.permissions import Operation
from backend.graphql.edge import Failed, context, write
from backend.graphql.errors import UserError
from backend.graphql.operations import performs
from backend.notifications.preferences import KINDS, Preferences, preferences_of, set_preferences


@strawberry.type(description="一种通知的发送渠道（站内通知总会送达）")
class NotificationChannels:
    kind: str = strawberry.field(description="通知类型，同 Notification.kind")
    channels: list[str] = strawberry.field(description="除站内通知外的渠道：EMAIL（邮件）、SMS（短信）")
    is_default: bool = strawberry.field(description="为真表示未单独设置，采用系统默认")


@strawberry.type(description="本人的通知设置")
class NotificationPreferences:
    channels: list[NotificationChannels]
    quiet_start: str | None = strawberry.field(description="免打扰开始时间（北京时间 HH:MM）")
    quiet_end: str | None = strawberry.field(description="免打扰结束时间；期间的邮件和短信推迟到结束时发送")
    daily_digest: bool = strawberry.field(description="每日摘要：不再逐条发邮件，次日早上汇总发送一封")

    @classmethod
    def from_domain(cls, preferences: Preferences) -> NotificationPreferences:
        return cls(
            channels=[
                NotificationChannels(
                    kind=kind,
                    channels=list(preferences.channels(kind)),
                    is_default=kind not in preferences.overrides,
                )
                for kind in KINDS
            ],
            quiet_start=preferences.quiet_start,
            quiet_end=preferences.quiet_end,
            daily_digest=preferences.daily_digest,
        )


@strawberry.input(description="一种通知的发送渠道")
class NotificationChannelsInput:
    kind: str
    channels: list[str] = strawberry.field(description="EMAIL、SMS，或空列表（仅站内通知）")


@strawberry.input(description="本人的全部通知设置（整体替换；未列出的通知类型采用默认渠道）")
class SetNotificationPreferencesInput:
    channels: list[NotificationChannelsInput] = strawberry.field(default_factory=list)
    quiet_start: str | None = strawberry.field(
        default=None, description="HH:MM；与 quietEnd 同时填写或同时留空"
    )
    quiet_end: str | None = None
    daily_digest: bool = False


@strawberry.type
class NotificationPreferencesPayload:
    errors: list[UserError]
    preferences: NotificationPreferences | None = None


@strawberry.type
class NotificationPreferenceQueries:
    @strawberry.field(description="本人的通知设置", metadata=performs(Operation.VIEW_OWN_ACCOUNT))
    async def notification_preferences(self, info: Info) -> NotificationPreferences:
        return NotificationPreferences.from_domain(await context(info).query(preferences_of))


@strawberry.type
class NotificationPreferenceMutations:
    @strawberry.mutation(
        description="设置本人的通知渠道、免打扰时间和每日摘要", metadata=performs(Operation.VIEW_OWN_ACCOUNT)
    )
    async def set_notification_preferences(
        self, info: Info, input: SetNotificationPreferencesInput
    ) -> NotificationPreferencesPayload:
        result = await write(
            info,
            lambda uow, actor: set_preferences(
                uow,
                actor=actor,
                channels=[(item.kind, item.channels) for item in input.channels],
                quiet_start=input.quiet_start,
                quiet_end=input.quiet_end,
                daily_digest=input.daily_digest,
            ),
        )
        if isinstance(result, Failed):
            return NotificationPreferencesPayload(errors=result.errors)
        return NotificationPreferencesPayload(
            errors=[], preferences=NotificationPreferences.from_domain(result)
        )
