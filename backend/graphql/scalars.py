"""``DateTime`` at the edge: stored in UTC, shown in Beijing time.

Outputs are ISO 8601 with the +08:00 offset, so an SPA displays them as they are. Inputs must carry an
offset; one without is read as Asia/Shanghai wall-clock time, the only time zone the users work in.
"""

from __future__ import annotations

from datetime import datetime

from graphql import GraphQLError
from strawberry.types.scalar import ScalarDefinition, scalar

from backend.clock import SHANGHAI, local


def _serialize(value: datetime) -> str:
    return local(value).isoformat()


def _parse(value: object) -> datetime:
    if not isinstance(value, str):
        raise GraphQLError("DateTime must be an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise GraphQLError(f"Invalid DateTime: {value!r}") from exc
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=SHANGHAI)


DATETIME: ScalarDefinition = scalar(
    name="DateTime",
    description="ISO 8601 日期时间，输出为北京时间（+08:00）；输入不带时区时按北京时间理解",
    serialize=_serialize,
    parse_value=_parse,
)
