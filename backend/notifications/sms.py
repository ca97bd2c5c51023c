"""Sending SMS: a provider protocol, a logging stand-in (the default) and a plain HTTP gateway.

China's SMS gateways differ in signing and fields, so the product talks to one small shape and a gateway
adapter (or the provider's own HTTP API, where it fits) does the rest: ``HttpSmsProvider`` POSTs
``{"phone": …, "text": …}`` as JSON with ``Authorization: Bearer <token>`` and takes any 2xx as accepted;
anything else is an error the outbox retries. ``LoggingSmsProvider`` stands in where no gateway is
configured (development, demos): it logs that a text went to a number, showing only the number's last 4
digits and never the text, which may hold an initial password (IME-6).
"""

from __future__ import annotations

import logging
from typing import Protocol

from backend.config import ConfigError, Settings
from backend.notifications.outbox import DeliveryError, OutgoingMessage

log = logging.getLogger(__name__)


class SmsProvider(Protocol):
    async def send_sms(self, phone: str, text: str) -> None:
        """Hand ``text`` to the gateway for ``phone``, or raise ``DeliveryError``."""
        ...


def masked(phone: str) -> str:
    """A phone number for logs: its last 4 digits only."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    return "*" * max(len(digits) - 4, 0) + digits[-4:]


class LoggingSmsProvider:
    """Logs each SMS (masked number, length) instead of sending it."""

    async def send_sms(self, phone: str, text: str) -> None:
        log.info("SMS to %s (%d characters) logged, not sent", masked(phone), len(text))


class HttpSmsProvider:
    """POSTs ``{"phone", "text"}`` to ``url`` with a bearer token; non-2xx is a failure to retry."""

    def __init__(self, url: str, token: str, *, timeout: float) -> None:
        import httpx  # only this provider needs it

        self._httpx = httpx
        self.url = url
        self.token = token
        self.timeout = timeout

    async def send_sms(self, phone: str, text: str) -> None:
        httpx = self._httpx
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.post(self.url, json={"phone": phone, "text": text}, headers=headers)
        except httpx.TransportError as error:
            raise DeliveryError(type(error).__name__, channel_down=True) from None
        if not response.is_success:
            # The status only: a gateway's body may echo the request, text and all.
            raise DeliveryError(f"SMS gateway HTTP {response.status_code}")


class SmsSender:
    """The outbox's SMS channel, over any provider."""

    def __init__(self, provider: SmsProvider) -> None:
        self.provider = provider

    async def send(self, message: OutgoingMessage) -> None:
        await self.provider.send_sms(message.address, message.body)


def build_sms_provider(settings: Settings) -> SmsProvider:
    if settings.sms_provider == "log":
        return LoggingSmsProvider()
    if settings.sms_provider == "http":
        if not settings.sms_http_url:
            raise ConfigError("XUEJI_SMS_HTTP_URL must be set when XUEJI_SMS_PROVIDER=http")
        return HttpSmsProvider(
            settings.sms_http_url, settings.sms_http_token, timeout=settings.delivery_timeout_seconds
        )
    raise ConfigError("XUEJI_SMS_PROVIDER must be log or http")
