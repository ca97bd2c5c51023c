"""Transfers (转学, TRF-1..8) and post-graduation cross-province study (毕业后跨省就学, TRF-10, TRF-11).

``rules`` (dates, statuses, grades, warnings: no I/O), ``workflow`` (the reviews on the approval engine and
the states shown), ``service`` (use cases and the outcome handlers), ``queries`` (read side),
``repository`` (every query), ``errors``.

Importing the package registers the outcome handlers of both kinds, so any process that ends these
workflows (the server, the sweeps) has them.
"""

from backend.domain.transfers import service as service

__all__ = ["service"]
