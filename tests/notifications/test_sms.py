"""SMS providers: the logging stand-in keeps secrets out of logs; the HTTP provider over a real exchange."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from backend.config import ConfigError, Settings
from backend.notifications.outbox import DeliveryError, OutgoingMessage
from backend.notifications.sms import (
    HttpSmsProvider,
    LoggingSmsProvider,
    SmsSender,
    build_sms_provider,
    masked,
)
from tests.notifications.support import free_port, sms_gateway

TEXT = "【学籍系统】已为您开通学籍系统账号。用户名：zhang.san，初始密码：Xj#2026-Safe"


async def test_the_logging_provider_logs_only_the_last_four_digits(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    await LoggingSmsProvider().send_sms("13812345678", TEXT)

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "*******5678" in logged
    assert "1381234" not in logged
    assert "Xj#2026-Safe" not in logged
    assert "zhang.san" not in logged


def test_masking_keeps_four_digits() -> None:
    assert (masked("138 1234 5678"), masked("+86-13812345678"), masked("12")) == (
        "*******5678",
        "*********5678",
        "12",
    )


async def test_the_http_provider_posts_phone_and_text_with_the_bearer_token() -> None:
    async with sms_gateway() as gateway:
        provider = HttpSmsProvider(gateway.url, gateway.token, timeout=5)
        await SmsSender(provider).send(
            OutgoingMessage(1, "SMS", "13812345678", "主题", TEXT, "credentials:1:x:SMS", 1)
        )

    assert gateway.received == [{"phone": "13812345678", "text": TEXT}]


@pytest.mark.parametrize("status", [500, 503, 429, 400])
async def test_a_non_2xx_answer_is_a_failure_to_retry(status: int) -> None:
    async with sms_gateway(status=status) as gateway:
        with pytest.raises(DeliveryError) as caught:
            await HttpSmsProvider(gateway.url, gateway.token, timeout=5).send_sms("13812345678", TEXT)

    assert caught.value.reason == f"SMS gateway HTTP {status}"
    assert not caught.value.channel_down


async def test_a_wrong_token_is_refused() -> None:
    async with sms_gateway() as gateway:
        with pytest.raises(DeliveryError) as caught:
            await HttpSmsProvider(gateway.url, "not-the-token", timeout=5).send_sms("13812345678", TEXT)

    assert caught.value.reason == "SMS gateway HTTP 401"
    assert gateway.received == []


async def test_an_unreachable_gateway_is_a_channel_down_failure() -> None:
    provider = HttpSmsProvider(f"http://127.0.0.1:{free_port()}/sms", "t", timeout=5)

    with pytest.raises(DeliveryError) as caught:
        await provider.send_sms("13812345678", TEXT)

    assert caught.value.channel_down
    assert "Xj#2026-Safe" not in caught.value.reason


def test_the_provider_follows_the_settings(settings: Settings) -> None:
    assert isinstance(build_sms_provider(settings), LoggingSmsProvider)  # the default
    http = build_sms_provider(
        replace(settings, sms_provider="http", sms_http_url="https://sms.example.cn/send")
    )
    assert isinstance(http, HttpSmsProvider)
    with pytest.raises(ConfigError):
        build_sms_provider(replace(settings, sms_provider="http"))
    with pytest.raises(ConfigError):
        build_sms_provider(replace(settings, sms_provider="carrier-pigeon"))


def test_the_gateway_token_is_hidden_in_the_printed_configuration(settings: Settings) -> None:
    view = replace(settings, sms_http_token="very-secret").public_view()

    assert view["XUEJI_SMS_HTTP_TOKEN"] == "***"
    assert view["XUEJI_SMS_PROVIDER"] == "log"
    assert view["XUEJI_OUTBOX_MAX_ATTEMPTS"] == "10"
