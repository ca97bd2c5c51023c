"""The ``xueji`` command and the settings it reads."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select

from backend.cli import main
from backend.config import ConfigError, load_settings
from backend.db import Database
from backend.models import AuditEntry, CalendarDay, Unit, User


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str) -> Path:
    """Point the CLI at this test's database and a private var/ directory."""
    for key in ("XUEJI_SECRET_KEY", "XUEJI_PRODUCTION", "XUEJI_SMTP_PASSWORD"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("XUEJI_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("XUEJI_DATABASE_URL", database_url)
    monkeypatch.setenv("XUEJI_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("XUEJI_ARGON2_MEMORY_KIB", "1024")
    return tmp_path


def _count(url: str, model: type, *where: object) -> int:
    async def count() -> int:
        db = Database(url)
        try:
            async with db.read_session() as session:
                return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)
        finally:
            await db.dispose()

    return asyncio.run(count())


def test_config_hides_secrets(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XUEJI_SECRET_KEY", "s3cret-" + "k" * 40)
    monkeypatch.setenv("XUEJI_SMTP_PASSWORD", "mail-pass-123")
    monkeypatch.setenv("XUEJI_DATABASE_URL", "postgresql+asyncpg://xueji:dbpass@db.local/xueji")

    assert main(["config"]) == 0

    out = capsys.readouterr().out
    assert "s3cret" not in out
    assert "mail-pass-123" not in out
    assert "dbpass" not in out
    assert "XUEJI_SECRET_KEY=***" in out
    assert "XUEJI_DATABASE_URL=postgresql+asyncpg://xueji:***@db.local/xueji" in out
    assert "XUEJI_TIMEZONE=Asia/Shanghai" in out


def test_secret_is_generated_once_under_var(env: Path) -> None:
    first = load_settings(env_file=env / "none.env")
    second = load_settings(env_file=env / "none.env")

    assert len(first.secret_key) >= 32
    assert first.secret_key == second.secret_key
    assert (env / "var" / "secret_key").read_text().strip() == first.secret_key


def test_production_refuses_to_start_without_a_secret(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError):
        load_settings({"XUEJI_PRODUCTION": "true"}, env_file=env / "none.env")
    with pytest.raises(ConfigError):
        load_settings({"XUEJI_PRODUCTION": "true", "XUEJI_SECRET_KEY": "short"}, env_file=env / "none.env")

    assert not (env / "var" / "secret_key").exists()


def test_env_file_is_read_and_environment_wins(env: Path) -> None:
    dotenv = env / ".env"
    dotenv.write_text("XUEJI_PORT=9000\nXUEJI_IDLE_TIMEOUT_MINUTES=20\n")

    settings = load_settings({"XUEJI_PORT": "9100", "XUEJI_VAR_DIR": str(env / "var")}, env_file=dotenv)

    assert settings.port == 9100
    assert settings.idle_timeout_minutes == 20


def test_bad_setting_is_a_config_error(env: Path) -> None:
    with pytest.raises(ConfigError):
        load_settings({"XUEJI_PORT": "eighty"}, env_file=env / "none.env")


def test_db_upgrade_demo_and_user_create(
    env: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "upgrade"]) == 0
    assert main(["demo", "load"]) == 0
    assert main(["demo", "load"]) == 0  # idempotent
    assert "已存在" in capsys.readouterr().out

    code = main(
        [
            "user",
            "create",
            "--username",
            "ops-admin",
            "--display-name",
            "运维管理员",
            "--unit-code",
            "340000",
            "--role",
            "SUPER_ADMINISTRATOR",
            "--password",
            "Operator#2026",
        ]
    )

    assert code == 0
    assert _count(database_url, Unit, Unit.code == "340000") == 1
    assert _count(database_url, User, User.username == "ops-admin", User.must_change_password.is_(True)) == 1
    # RULES: SEC-7 — the operator's write is audited where the province's leaders can read it.
    province_path = select(Unit.path).where(Unit.code == "340000").scalar_subquery()
    audited = (AuditEntry.operation == "user.created", AuditEntry.user_id.is_(None))
    assert _count(database_url, AuditEntry, *audited, AuditEntry.unit_path == province_path) == 1
    assert _count(database_url, AuditEntry, AuditEntry.operation == "demo.loaded") == 1


def test_user_create_refuses_bad_input(
    env: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["demo", "load"])
    capsys.readouterr()

    weak = main(
        [
            "user",
            "create",
            "--username",
            "x-user",
            "--display-name",
            "某",
            "--unit-code",
            "340000",
            "--role",
            "REGISTRAR",
            "--password",
            "weak",
        ]
    )
    unknown = main(
        [
            "user",
            "create",
            "--username",
            "y-user",
            "--display-name",
            "某",
            "--unit-code",
            "999999",
            "--role",
            "REGISTRAR",
        ]
    )

    err = capsys.readouterr().err
    assert (weak, unknown) == (2, 2)
    assert "WEAK_PASSWORD" in err
    assert "NOT_FOUND" in err
    assert _count(database_url, User, User.username.in_(["x-user", "y-user"])) == 0


def test_calendar_import(
    env: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:  # RULES: TRF-4
    # Test data shaped like a State Council notice; not the real 2027 arrangement.
    sheet = env / "2027.csv"
    sheet.write_text(
        "# notice: 测试用2027年节假日安排\n"
        "date,type,name\n"
        "2027-01-01,holiday,元旦\n"
        "2027-10-01,holiday,国庆节\n"
        "2027-10-09,workday,国庆节调休\n",
        encoding="utf-8",
    )

    assert main(["calendar", "import", str(sheet)]) == 0

    assert "2027年" in capsys.readouterr().out
    assert _count(database_url, CalendarDay, CalendarDay.year == 2027) == 3


def test_calendar_import_names_the_bad_line(
    env: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    sheet = env / "bad.csv"
    sheet.write_text("# notice: 测试\ndate,type,name\n2027-01-01,holiday,元旦\n2027-13-01,holiday,坏日期\n")

    assert main(["calendar", "import", str(sheet)]) == 2

    assert "第4行" in capsys.readouterr().err
    assert _count(database_url, CalendarDay, CalendarDay.year == 2027) == 0


def test_schema_export_writes_the_committed_sdl(env: Path) -> None:
    target = env / "schema.graphql"

    assert main(["schema", "export", "--output", str(target)]) == 0

    committed = Path(__file__).resolve().parent.parent / "frontend-schema" / "schema.graphql"
    assert target.read_text(encoding="utf-8") == committed.read_text(encoding="utf-8")
