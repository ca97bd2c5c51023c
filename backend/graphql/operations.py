"""Each root field names the domain ``Operation`` it performs.

The declaration is data on the field (``metadata``), read by the permission-matrix test to generate a
case for every role, unit relation and operation in the schema; the check itself stays in the domain.
"""

from __future__ import annotations

from typing import Any

from backend.domain.permissions import Operation

PUBLIC = "PUBLIC"


def performs(operation: Operation | str) -> dict[str, Any]:
    """Field metadata: this field performs ``operation`` (or ``PUBLIC`` for sign-in)."""
    return {"operation": operation}
