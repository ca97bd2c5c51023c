"""Telling people by email and SMS what the in-app notification log already tells them.

The flow, each step its own small module:

1. A service writes ``Notification`` rows in its transaction (``backend.domain.notifications.log``).
2. ``routing`` (a scheduled job) turns new rows into ``OutboxMessage`` rows per recipient preference
   (``preferences``), holding them through quiet hours and collecting a daily digest; the texts come from
   ``templates``. Account issuance (IME-6) enqueues its message directly (``issuance``).
3. ``outbox.deliver_due`` (a scheduled job) claims due rows, sends them with ``email`` (SMTP) or ``sms``
   (a provider), and marks them sent, retries them with back-off, or gives up.

The database holds every message until it is sent, so an SMTP outage or a crash delays mail but loses none.
"""
