"""Account issuance (IME-6): the user name and initial password go to the person by SMS and email.

Called by the accounts service in the transaction that creates the account or resets its password, so the
messages exist exactly when the new password does. The password travels only in the outbox rows' bodies,
which are cleared once sent (or given up); it never reaches an audit row or a log line. Quiet hours do not
apply: an administrator is waiting for the person to sign in. An account with neither a mobile number
nor an email address gets nothing here — the administrator hands the password over, as before.
"""

from __future__ import annotations

import secrets

from backend.db import UnitOfWork
from backend.models import User
from backend.notifications.outbox import EMAIL, SMS, enqueue
from backend.notifications.templates import render_credentials


async def send_initial_credentials(uow: UnitOfWork, user: User, password: str, *, reset: bool) -> int:
    """Queue the credentials to the user's email and mobile, as far as known; how many were queued.

    The dedupe key carries a fresh nonce: every issuance is a new password and must reach the person,
    while a rolled-back issuance takes its rows with it.
    """
    text = render_credentials(
        display_name=user.display_name, username=user.username, password=password, reset=reset
    )
    nonce = secrets.token_hex(8)
    queued = 0
    if user.email:
        queued += await enqueue(
            uow,
            channel=EMAIL,
            recipient_id=user.id,
            address=user.email,
            subject=text.subject,
            body=text.body,
            dedupe_key=f"credentials:{user.id}:{nonce}:{EMAIL}",
        )
    if user.phone:
        queued += await enqueue(
            uow,
            channel=SMS,
            recipient_id=user.id,
            address=user.phone,
            subject=text.subject,
            body=text.sms,
            dedupe_key=f"credentials:{user.id}:{nonce}:{SMS}",
        )
    return queued
