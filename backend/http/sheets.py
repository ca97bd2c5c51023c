"""The Excel sheets registrars download: a continuation import's export and the empty list templates.

``GET /continuation/{id}/export``, ``GET /continuation/template?stage=`` and ``GET /registration/template``
(the in-school registration list, REG-1).

The export is the import's rows with the fields to fill in (REG-8 (3)); it carries identity data, so it is
for the school's registrar only and every download is audited (SEC-4) — hence a unit of work, committed
before the bytes go out. The template is the empty list (five columns, six for vocational schools, REG-9)
with drop-downs, for any signed-in user.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from backend.domain.continuation import service
from backend.domain.continuation.errors import TargetStageError
from backend.domain.errors import DomainError, NotFoundError
from backend.domain.records import registration_list
from backend.graphql.context import Context
from backend.http.attachments import error_response
from backend.models.enums import Stage
from backend.runtime import Runtime

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Endpoint = Callable[[Request], Awaitable[Response]]


def xlsx_response(data: bytes, filename: str) -> Response:
    return Response(
        data,
        media_type=XLSX,
        headers={
            "Cache-Control": "private, no-store",
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename, safe='')}",
            "X-Content-Type-Options": "nosniff",
        },
    )


def sheet_endpoints(runtime: Runtime) -> tuple[Endpoint, Endpoint, Endpoint]:
    async def export(request: Request) -> Response:
        ctx = Context(runtime=runtime, request=request)
        try:
            actor = await ctx.require_actor()
            await ctx.end_reads()
            try:
                import_id = int(request.path_params["import_id"])
            except ValueError as exc:
                raise NotFoundError(field="importId") from exc
            async with runtime.unit_of_work() as uow:
                data = await service.export_rows(uow, actor=actor, import_id=import_id)
            return xlsx_response(data, f"学籍接续名单-{import_id}.xlsx")
        except DomainError as error:
            return error_response(error)
        finally:
            await ctx.close()

    async def template(request: Request) -> Response:
        ctx = Context(runtime=runtime, request=request)
        try:
            await ctx.require_actor()
            try:
                stage = Stage(request.query_params.get("stage", Stage.PRIMARY))
            except ValueError as exc:
                raise TargetStageError(field="stage") from exc
            name = "中职学籍接续名单模板.xlsx" if stage is Stage.VOCATIONAL else "学籍接续名单模板.xlsx"
            return xlsx_response(service.template_xlsx(stage), name)
        except DomainError as error:
            return error_response(error)
        finally:
            await ctx.close()

    async def registration_template(request: Request) -> Response:
        ctx = Context(runtime=runtime, request=request)
        try:
            await ctx.require_actor()
            data = await asyncio.to_thread(registration_list.template_xlsx)
            return xlsx_response(data, "在校生注册名单模板.xlsx")
        except DomainError as error:
            return error_response(error)
        finally:
            await ctx.close()

    return export, template, registration_template
