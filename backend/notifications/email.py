"""Sending one outbox email over SMTP with aiosmtplib.

``smtp_security`` chooses the transport: ``tls`` (implicit TLS, usually port 465), ``starttls`` (plain
connection upgraded before anything else is said; refused if the server cannot) or ``none`` (plain, never
upgraded — for a relay on the same host or network). A login is sent when ``smtp_username`` is set. Each
exchange is bounded by ``delivery_timeout_seconds``.

Messages are MIME with Chinese subject and sender name as RFC 2047 encoded words and a UTF-8 body in
base64, which every server relays unchanged (no 8BITMIME or SMTPUTF8 needed). The ``Message-ID`` is derived
from the outbox row, so the rare repeat after a crash (see ``outbox``) carries the same identifier.

Errors become ``DeliveryError`` with only an error class and an SMTP code: a refused connection, a timeout,
a refused login, greeting or sender mark the channel down for the run; a refused recipient or message is
that message's failure.
"""

from __future__ import annotations

import ssl
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

import aiosmtplib

from backend.clock import Clock, SystemClock, local
from backend.config import ConfigError, Settings
from backend.notifications.outbox import DeliveryError, OutgoingMessage

SENDER_NAME = "学籍系统"
SECURITY = ("none", "starttls", "tls")


class SmtpEmailSender:
    """The outbox's EMAIL channel. ``tls_context`` replaces the system's trust store (a private CA)."""

    def __init__(
        self, settings: Settings, *, tls_context: ssl.SSLContext | None = None, clock: Clock | None = None
    ) -> None:
        if settings.smtp_security not in SECURITY:
            raise ConfigError(f"XUEJI_SMTP_SECURITY must be one of {', '.join(SECURITY)}")
        self.settings = settings
        self.tls_context = tls_context
        self.clock = clock or SystemClock()

    def build(self, message: OutgoingMessage) -> EmailMessage:
        sender = self.settings.smtp_sender
        mail = EmailMessage()
        mail["From"] = formataddr((SENDER_NAME, sender))
        mail["To"] = message.address
        mail["Subject"] = message.subject
        mail["Date"] = format_datetime(local(self.clock.now()))
        domain = sender.rpartition("@")[2] or "localhost"
        mail["Message-ID"] = f"<outbox.{message.id}@{domain}>"
        mail.set_content(message.body, subtype="plain", charset="utf-8", cte="base64")
        return mail

    async def send(self, message: OutgoingMessage) -> None:
        settings = self.settings
        try:
            await aiosmtplib.send(
                self.build(message),
                hostname=settings.smtp_host,
                port=settings.smtp_port,
                username=settings.smtp_username or None,
                password=settings.smtp_password or None,
                use_tls=settings.smtp_security == "tls",
                start_tls=settings.smtp_security == "starttls",
                tls_context=self.tls_context,
                timeout=settings.delivery_timeout_seconds,
            )
        except aiosmtplib.SMTPAuthenticationError as error:
            raise DeliveryError(f"SMTP login refused ({error.code})", channel_down=True) from None
        except (aiosmtplib.SMTPSenderRefused, aiosmtplib.SMTPHeloError) as error:
            # Every message has the same sender and greeting: none will be taken until that is fixed.
            raise DeliveryError(f"{type(error).__name__} ({error.code})", channel_down=True) from None
        except aiosmtplib.SMTPRecipientsRefused as error:
            codes = sorted({str(refusal.code) for refusal in error.recipients})
            raise DeliveryError(f"SMTP recipient refused ({', '.join(codes)})") from None
        except aiosmtplib.SMTPResponseException as error:
            raise DeliveryError(f"{type(error).__name__} ({error.code})") from None
        except (TimeoutError, OSError, aiosmtplib.SMTPException) as error:
            # Refused or lost connections, timeouts, TLS failures: nothing on this channel gets through now.
            raise DeliveryError(type(error).__name__, channel_down=True) from None
