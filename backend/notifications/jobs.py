"""Notification delivery as one scheduled job, run by ``backend.jobs`` once per due minute.

Each run first routes new notifications into the outbox (``routing``), then sends what is due with the
configured SMTP server and SMS provider (``outbox.deliver_due``), so a notification or an issued password
goes out within about a minute. One job rather than two keeps it to one lease and one ``job.completed``
audit row per run.
"""

from __future__ import annotations

from typing import Any

from backend.notifications.email import SmtpEmailSender
from backend.notifications.outbox import EMAIL, SMS, Begin, Sender, deliver_due
from backend.notifications.routing import route_notifications
from backend.notifications.sms import SmsSender, build_sms_provider


async def deliver_notifications(begin: Begin) -> dict[str, Any]:
    routed = await route_notifications(begin)
    async with begin() as uow:  # the run's settings and clock
        settings, clock = uow.settings, uow.clock
    senders: dict[str, Sender] = {
        EMAIL: SmtpEmailSender(settings, clock=clock),
        SMS: SmsSender(build_sms_provider(settings)),
    }
    delivered = await deliver_due(begin, senders=senders)
    return {"routing": routed.as_json(), "delivery": delivered.as_json()}
