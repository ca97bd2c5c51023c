"""The approval engine every multi-party business uses (REG-4, CHG-3, STA-2, TRF-1).

``definitions`` (workflows as data), ``workflow`` (the pure state machine), ``engine`` (start, act, cancel,
verify), ``queries`` (to-do list, timeline), ``outcomes`` (what a business does when its workflow ends),
``chain`` (the tamper-evident log, SEC-3), ``policy`` and ``repository``.
"""
