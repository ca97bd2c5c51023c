"""``GET /monitoring/login-compliance.xlsx``: the login-compliance report (MON-1) as an Excel download.

Query parameters as the GraphQL field ``loginCompliance``: ``unitId`` (default: the caller's unit),
``week`` (``YYYY-MM-DD``, any day of the ISO week; default: the last 7 days) and
``pendingOlderThanWorkingDays`` (default 5). The same bearer token and jurisdiction as GraphQL; errors
have the same shape (``{"errors": [{code, message, field}]}``). The download names people, so it is
audited (SEC-4): the report is built in a unit of work whose audit row commits before the bytes go out.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from backend.domain.errors import DomainError, ForbiddenError, ValidationError
from backend.domain.monitoring.export import export_login_compliance
from backend.domain.monitoring.report import DEFAULT_PENDING_WORKING_DAYS
from backend.graphql.context import Context
from backend.graphql.edge import parse_id
from backend.http.attachments import error_response
from backend.http.sheets import xlsx_response
from backend.runtime import Runtime

Endpoint = Callable[[Request], Awaitable[Response]]


def login_compliance_download(runtime: Runtime) -> Endpoint:
    async def download(request: Request) -> Response:
        ctx = Context(runtime=runtime, request=request)
        try:
            actor = await ctx.require_actor()
            await ctx.end_reads()
            params = request.query_params
            unit_id = params.get("unitId")
            async with runtime.unit_of_work() as uow:
                export = await export_login_compliance(
                    uow,
                    actor=actor,
                    unit_id=None if not unit_id else parse_id(unit_id, "unitId"),
                    week=_week(params.get("week")),
                    pending_older_than_working_days=_days(params.get("pendingOlderThanWorkingDays")),
                    calendar=await runtime.calendars.get(uow.session),
                )
            return xlsx_response(export.data, export.filename)
        except DomainError as error:
            return _error(error)
        finally:
            await ctx.close()

    return download


def _week(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ValidationError("日期格式应为 YYYY-MM-DD", field="week") from exc


def _days(value: str | None) -> int:
    if not value:
        return DEFAULT_PENDING_WORKING_DAYS
    try:
        return int(value)
    except ValueError as exc:
        raise ValidationError("工作日数应为整数", field="pendingOlderThanWorkingDays") from exc


def _error(error: DomainError) -> JSONResponse:
    response = error_response(error)
    if isinstance(error, ForbiddenError):
        response.status_code = 403
    return response
