"""``POST /attachments`` and ``GET /attachments/{id}``: files for photos, proof and imports.

Files travel over plain HTTP (multipart upload, binary download) rather than through GraphQL; a mutation
then refers to the attachment by id. The same bearer token, the same domain service and the same error
shape (``{"errors": [{code, message, field}]}``) as the GraphQL edge. The request body is capped before it
is parsed, so an oversized upload is refused without being read into memory.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from backend.domain.attachments.service import (
    AttachmentPurpose,
    read_attachment,
    upload_attachment,
)
from backend.domain.attachments.store import LocalFileStore
from backend.domain.errors import DomainError, NotFoundError, UnauthenticatedError, ValidationError
from backend.graphql.context import Context
from backend.runtime import Runtime

MB = 1024 * 1024
MAX_BODY = 21 * MB  # the largest purpose (imports, 20 MB) plus multipart overhead
STATUS = {UnauthenticatedError: 401, NotFoundError: 404}


def error_response(error: DomainError) -> JSONResponse:
    status = next((code for kind, code in STATUS.items() if isinstance(error, kind)), 400)
    if error.code == "ATTACHMENT_TOO_LARGE":
        status = 413
    body = {"errors": [{"code": error.code, "message": error.message, "field": error.field}]}
    return JSONResponse(body, status_code=status)


Endpoint = Callable[[Request], Awaitable[Response]]


def attachment_endpoints(runtime: Runtime) -> tuple[Endpoint, Endpoint]:
    async def upload(request: Request) -> Response:
        ctx = Context(runtime=runtime, request=request)
        try:
            actor = await ctx.require_actor()
            await ctx.end_reads()
            if int(request.headers.get("content-length") or 0) > MAX_BODY:
                return JSONResponse(
                    {"errors": [{"code": "ATTACHMENT_TOO_LARGE", "message": "文件过大", "field": "file"}]},
                    status_code=413,
                )
            try:
                purpose = AttachmentPurpose(request.query_params.get("purpose", ""))
            except ValueError as exc:
                raise ValidationError("用途须为 PHOTO、PROOF 或 IMPORT", field="purpose") from exc
            async with request.form(max_files=1, max_fields=4, max_part_size=MAX_BODY) as form:
                file = form.get("file")
                if not isinstance(file, UploadFile):
                    raise ValidationError("请选择要上传的文件", field="file")
                data = await file.read(MAX_BODY + 1)
                filename, declared = (
                    file.filename or "upload",
                    file.content_type or "application/octet-stream",
                )
            async with runtime.unit_of_work() as uow:
                attachment = await upload_attachment(
                    uow,
                    actor=actor,
                    purpose=purpose,
                    filename=filename,
                    content_type=declared,
                    data=data,
                )
            return JSONResponse(
                {
                    "id": str(attachment.id),
                    "sha256": attachment.sha256,
                    "size": attachment.size,
                    "contentType": attachment.content_type,
                    "filename": attachment.filename,
                },
                status_code=201,
            )
        except DomainError as error:
            return error_response(error)
        finally:
            await ctx.close()

    async def download(request: Request) -> Response:
        ctx = Context(runtime=runtime, request=request)
        try:
            actor = await ctx.require_actor()
            try:
                attachment_id = int(request.path_params["attachment_id"])
            except ValueError as exc:
                raise NotFoundError(field="attachmentId") from exc
            store = LocalFileStore(runtime.settings.attachment_dir)
            async with runtime.db.read_session() as session:
                attachment, data = await read_attachment(session, actor, attachment_id, store)
                content_type, filename = attachment.content_type, attachment.filename
            return Response(
                data,
                media_type=content_type,
                headers={
                    "Cache-Control": "private, no-store",
                    "Content-Disposition": f"attachment; filename*=UTF-8''{_quote(filename)}",
                    "X-Content-Type-Options": "nosniff",
                },
            )
        except DomainError as error:
            return error_response(error)
        finally:
            await ctx.close()

    return upload, download


def _quote(filename: str) -> str:
    from urllib.parse import quote

    return quote(filename, safe="")
