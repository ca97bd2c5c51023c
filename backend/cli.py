"""The ``xueji`` command: thin wrappers over services for operators and the Makefile.

Each command that writes runs one unit of work as the system (``SystemActor``) and commits at the end,
exactly like a GraphQL mutation; a ``DomainError`` prints its Chinese message and exits with status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

from backend.clock import SystemClock
from backend.config import ConfigError, Settings, load_settings
from backend.db import Database, UnitOfWork
from backend.domain.errors import DomainError

T = TypeVar("T")


def _run_in_uow(settings: Settings, action: Callable[[UnitOfWork], Awaitable[T]]) -> T:
    async def main() -> T:
        db = Database(settings.database_url)
        try:
            async with db.unit_of_work(SystemClock(), settings) as uow:
                return await action(uow)
        finally:
            await db.dispose()

    return asyncio.run(main())


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from backend.app import WEBSOCKET_OPTIONS, create_app

    uvicorn.run(
        create_app(settings),
        **WEBSOCKET_OPTIONS,
        host=args.host or settings.host,
        port=args.port or settings.port,
        log_level="info",
        proxy_headers=True,
    )
    return 0


def cmd_db_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    from backend.migrate import upgrade_database

    if settings.database_url.startswith("sqlite"):
        settings.var_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(upgrade_database(settings.database_url, args.revision))
    print(f"数据库已升级到 {args.revision}")
    return 0


def cmd_demo_load(settings: Settings, _: argparse.Namespace) -> int:
    from backend.demo import load_demo

    summary = _run_in_uow(settings, load_demo)
    print("\n".join(summary.lines()))
    return 0


def cmd_schema_export(settings: Settings, args: argparse.Namespace) -> int:
    from backend.graphql.schema import build_schema

    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(build_schema(settings).as_str() + "\n", encoding="utf-8")
    print(f"schema written to {output}")
    return 0


def cmd_user_create(settings: Settings, args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from backend.domain.accounts.service import create_user
    from backend.domain.actor import SystemActor
    from backend.domain.errors import NotFoundError
    from backend.models import Unit
    from backend.models.enums import Role

    async def action(uow: UnitOfWork) -> str:
        unit_id = await uow.session.scalar(select(Unit.id).where(Unit.code == args.unit_code))
        if unit_id is None:
            raise NotFoundError(f"没有代码为 {args.unit_code} 的单位", field="unitCode")
        issued = await create_user(
            uow,
            actor=SystemActor(name="cli"),
            username=args.username,
            display_name=args.display_name,
            unit_id=unit_id,
            roles=frozenset(Role(r) for r in args.role),
            phone=args.phone,
            email=args.email,
            initial_password=args.password,
        )
        return issued.initial_password

    password = _run_in_uow(settings, action)
    print(f"账号 {args.username} 已创建；初始密码：{password}（首次登录须修改）")
    return 0


def cmd_config(settings: Settings, _: argparse.Namespace) -> int:
    for key, value in settings.public_view().items():
        print(f"{key}={value}")
    return 0


def cmd_calendar_import(settings: Settings, args: argparse.Namespace) -> int:
    from backend.domain.actor import SystemActor
    from backend.domain.calendar.service import parse_calendar_file, set_calendar_year

    year, notice, days = parse_calendar_file(Path(args.file).read_text(encoding="utf-8-sig"))

    async def action(uow: UnitOfWork) -> None:
        await set_calendar_year(uow, actor=SystemActor(name="cli"), year=year, notice=notice, days=days)

    _run_in_uow(settings, action)
    print(f"{year}年节假日安排已导入：{len(days)}天（{notice}）")
    return 0


def cmd_jobs_run_due(settings: Settings, _: argparse.Namespace) -> int:
    from backend.jobs import run_due_jobs
    from backend.runtime import Runtime

    async def main() -> list[str]:
        runtime = Runtime.build(settings)
        await runtime.start()
        try:
            runs = await run_due_jobs(runtime)
        finally:
            await runtime.stop()
        return [
            f"{run.name}: "
            + ("not due or held by another process" if not run.ran else run.error or str(run.result))
            for run in runs
        ]

    for line in asyncio.run(main()):
        print(line)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xueji", description="Xueji 学籍 — student records")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the GraphQL API")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(handler=cmd_serve)

    db = sub.add_parser("db", help="database").add_subparsers(dest="db_command", required=True)
    upgrade = db.add_parser("upgrade", help="apply migrations")
    upgrade.add_argument("--revision", default="head")
    upgrade.set_defaults(handler=cmd_db_upgrade)

    demo = sub.add_parser("demo", help="demo data").add_subparsers(dest="demo_command", required=True)
    demo.add_parser("load", help="load the demo province (idempotent)").set_defaults(handler=cmd_demo_load)

    schema = sub.add_parser("schema", help="GraphQL schema").add_subparsers(
        dest="schema_command", required=True
    )
    export = schema.add_parser("export", help="write the SDL")
    export.add_argument("--output", default="frontend-schema/schema.graphql")
    export.set_defaults(handler=cmd_schema_export)

    user = sub.add_parser("user", help="accounts").add_subparsers(dest="user_command", required=True)
    create = user.add_parser("create", help="create an account (as the operator)")
    create.add_argument("--username", required=True)
    create.add_argument("--display-name", required=True)
    create.add_argument("--unit-code", required=True, help="division code or school code of the unit")
    create.add_argument("--role", action="append", required=True, help="role; repeat for several")
    create.add_argument("--phone")
    create.add_argument("--email")
    create.add_argument("--password", help="initial password (default: random); changed at first sign-in")
    create.set_defaults(handler=cmd_user_create)

    sub.add_parser("config", help="print the effective configuration").set_defaults(handler=cmd_config)

    calendar = sub.add_parser("calendar", help="working-day calendar").add_subparsers(
        dest="calendar_command", required=True
    )
    imp = calendar.add_parser("import", help="import a year's holidays from a CSV file")
    imp.add_argument("file")
    imp.set_defaults(handler=cmd_calendar_import)

    jobs = sub.add_parser("jobs", help="scheduled jobs").add_subparsers(dest="jobs_command", required=True)
    jobs.add_parser("run-due", help="run the due jobs once (for cron)").set_defaults(handler=cmd_jobs_run_due)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        return int(args.handler(settings, args))
    except ConfigError as error:
        print(f"配置错误：{error}", file=sys.stderr)
        return 2
    except DomainError as error:
        where = f"（{error.field}）" if error.field else ""
        print(f"{error.code}: {error.message}{where}", file=sys.stderr)
        return 2
    except ValueError as error:
        print(f"输入无效：{error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
