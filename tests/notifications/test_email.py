"""The SMTP sender against a real SMTP server: Chinese MIME, TLS, STARTTLS, login, failures."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from backend.clock import FixedClock
from backend.config import ConfigError, Settings
from backend.notifications.email import SmtpEmailSender
from backend.notifications.outbox import DeliveryError, OutgoingMessage
from tests.notifications.support import accept_login, free_port, smtp_server, smtp_settings, tls_files

MESSAGE = OutgoingMessage(
    id=42,
    channel="EMAIL",
    address="zhang@example.cn",
    subject="【学籍系统】待办：转学「转入学校审核」等待您办理",
    body="张三，您好：\n\n转学「转入学校审核」等待您办理。\n",
    dedupe_key="notif:7:EMAIL",
    attempts=1,
)


async def test_a_chinese_mail_arrives_with_encoded_headers_and_a_utf8_body(
    settings: Settings, clock: FixedClock
) -> None:
    port = free_port()
    with smtp_server(port) as mailbox:
        await SmtpEmailSender(smtp_settings(settings, port), clock=clock).send(MESSAGE)

    [mail] = mailbox.messages
    assert mailbox.recipients == [["zhang@example.cn"]]
    assert mail["Subject"] == MESSAGE.subject
    assert mail["From"].addresses[0].display_name == "学籍系统"
    assert mail["From"].addresses[0].addr_spec == "xueji@example.cn"
    assert mail["Message-ID"] == "<outbox.42@example.cn>"
    assert mail["Date"].datetime.utcoffset().total_seconds() == 8 * 3600
    assert mail.get_content_charset() == "utf-8"
    assert mail["Content-Transfer-Encoding"] == "base64"
    assert mail.get_content() == MESSAGE.body
    raw = mail.as_bytes()
    assert raw.isascii()  # every server relays it: encoded words and base64, no 8-bit data


async def test_implicit_tls(settings: Settings, clock: FixedClock, tmp_path: Path) -> None:
    files = tls_files(tmp_path)
    port = free_port()
    with smtp_server(port, ssl_context=files.server_context()) as mailbox:
        sender = SmtpEmailSender(
            smtp_settings(settings, port, smtp_security="tls"),
            tls_context=files.client_context(),
            clock=clock,
        )
        await sender.send(MESSAGE)

    assert len(mailbox.messages) == 1


async def test_starttls_with_login(settings: Settings, clock: FixedClock, tmp_path: Path) -> None:
    files = tls_files(tmp_path)
    port = free_port()
    options = {
        "tls_context": files.server_context(),
        "require_starttls": True,
        "authenticator": accept_login("mailer", "Smtp#Pass1"),
    }
    with smtp_server(port, **options) as mailbox:
        configured = smtp_settings(
            settings, port, smtp_security="starttls", smtp_username="mailer", smtp_password="Smtp#Pass1"
        )
        await SmtpEmailSender(configured, tls_context=files.client_context(), clock=clock).send(MESSAGE)
        refused = SmtpEmailSender(
            smtp_settings(
                settings, port, smtp_security="starttls", smtp_username="mailer", smtp_password="wrong"
            ),
            tls_context=files.client_context(),
            clock=clock,
        )
        with pytest.raises(DeliveryError) as caught:
            await refused.send(MESSAGE)

    assert len(mailbox.messages) == 1
    # A refused login stops the channel; the reason names no password.
    assert caught.value.channel_down
    assert caught.value.reason == "SMTP login refused (535)"


async def test_a_server_that_insists_on_starttls_refuses_a_plain_sender(
    settings: Settings, clock: FixedClock, tmp_path: Path
) -> None:
    files = tls_files(tmp_path)
    port = free_port()
    with smtp_server(port, tls_context=files.server_context(), require_starttls=True) as mailbox:
        with pytest.raises(DeliveryError) as caught:
            await SmtpEmailSender(smtp_settings(settings, port), clock=clock).send(MESSAGE)

    assert mailbox.messages == []
    assert caught.value.channel_down  # the sender is refused: so would every other message be
    assert caught.value.reason == "SMTPSenderRefused (530)"


async def test_a_refused_recipient_fails_that_message_only(settings: Settings, clock: FixedClock) -> None:
    port = free_port()
    with smtp_server(port, refuse=frozenset({"gone@example.cn"})) as mailbox:
        sender = SmtpEmailSender(smtp_settings(settings, port), clock=clock)
        with pytest.raises(DeliveryError) as caught:
            await sender.send(replace(MESSAGE, address="gone@example.cn"))
        await sender.send(MESSAGE)

    assert (caught.value.channel_down, caught.value.reason) == (False, "SMTP recipient refused (550)")
    assert mailbox.recipients == [["zhang@example.cn"]]


async def test_no_server_is_a_channel_down_failure(settings: Settings, clock: FixedClock) -> None:
    with pytest.raises(DeliveryError) as caught:
        await SmtpEmailSender(smtp_settings(settings, free_port()), clock=clock).send(MESSAGE)

    assert caught.value.channel_down


def test_an_unknown_security_mode_is_a_configuration_error(settings: Settings) -> None:
    with pytest.raises(ConfigError):
        SmtpEmailSender(smtp_settings(settings, 25, smtp_security="ssl"))
