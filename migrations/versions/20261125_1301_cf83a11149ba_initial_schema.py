"""Initial schema: the foundation's twelve tables, and triggers that keep audit_log append-only (SEC-7).

Revision ID: cf83a11149ba
Revises:
Create Date: 2026-11-25 13:01:58.511668+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "cf83a11149ba"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "unit",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "MINISTRY",
                "PROVINCE",
                "CITY",
                "COUNTY",
                "SCHOOL",
                name="unitkind",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("parent_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "path",
            sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("is_central_school", sa.Boolean(), nullable=False),
        sa.Column("stages", sa.JSON(), nullable=False),
        sa.Column(
            "school_system",
            sa.Enum("SIX_THREE", "FIVE_FOUR", name="schoolsystem", native_enum=False, length=16),
            nullable=True,
        ),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["unit.id"], name=op.f("fk_unit_parent_id_unit"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unit")),
        sa.UniqueConstraint("code", name=op.f("uq_unit_code")),
        sa.UniqueConstraint("path", name=op.f("uq_unit_path")),
    )
    op.create_index("ix_unit_kind_path", "unit", ["kind", "path"], unique=False)
    op.create_index(op.f("ix_unit_parent_id"), "unit", ["parent_id"], unique=False)
    op.create_table(
        "app_user",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("unit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("must_change_password", sa.Boolean(), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("last_sign_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["unit.id"], name=op.f("fk_app_user_unit_id_unit"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_user")),
        sa.UniqueConstraint("username", name=op.f("uq_app_user_username")),
    )
    op.create_index(op.f("ix_app_user_unit_id"), "app_user", ["unit_id"], unique=False)
    op.create_table(
        "school_class",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("school_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column(
            "stage",
            sa.Enum(
                "PRESCHOOL",
                "PRIMARY",
                "JUNIOR",
                "SENIOR",
                "VOCATIONAL",
                name="stage",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("grade", sa.Integer(), nullable=False),
        sa.Column("entry_year", sa.Integer(), nullable=False),
        sa.Column(
            "school_system",
            sa.Enum("SIX_THREE", "FIVE_FOUR", name="schoolsystem", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("head_teacher", sa.String(length=50), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["school_id"], ["unit.id"], name=op.f("fk_school_class_school_id_unit")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_school_class")),
    )
    op.create_index(op.f("ix_school_class_school_id"), "school_class", ["school_id"], unique=False)
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("delegate_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "role",
            sa.Enum(
                "REGISTRAR",
                "LEADER",
                "SYSTEM_ADMINISTRATOR",
                "SUPER_ADMINISTRATOR",
                "RECORD_SYSTEM_ADMINISTRATOR",
                "ORDINARY_USER",
                name="role",
                native_enum=False,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("unit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "unit_path",
            sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("operation", sa.String(length=64), nullable=False),
        sa.Column("target_type", sa.String(length=40), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=True),
        sa.Column(
            "before",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "after",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["delegate_id"], ["app_user.id"], name=op.f("fk_audit_log_delegate_id_app_user")
        ),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"], name=op.f("fk_audit_log_unit_id_unit")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["app_user.id"], name=op.f("fk_audit_log_user_id_app_user"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(
        "ix_audit_log_target_type_target_id", "audit_log", ["target_type", "target_id"], unique=False
    )
    op.create_index("ix_audit_log_unit_path_at", "audit_log", ["unit_path", "at"], unique=False)
    op.create_index("ix_audit_log_user_id_at", "audit_log", ["user_id", "at"], unique=False)
    op.create_table(
        "calendar_year",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("notice", sa.String(length=200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.ForeignKeyConstraint(
            ["updated_by_id"], ["app_user.id"], name=op.f("fk_calendar_year_updated_by_id_app_user")
        ),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_calendar_year")),
    )
    op.create_table(
        "delegation",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("grantor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("grantee_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("registered_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("unit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["grantee_id"], ["app_user.id"], name=op.f("fk_delegation_grantee_id_app_user")
        ),
        sa.ForeignKeyConstraint(
            ["grantor_id"], ["app_user.id"], name=op.f("fk_delegation_grantor_id_app_user")
        ),
        sa.ForeignKeyConstraint(
            ["registered_by_id"], ["app_user.id"], name=op.f("fk_delegation_registered_by_id_app_user")
        ),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"], name=op.f("fk_delegation_unit_id_unit")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delegation")),
    )
    op.create_index(op.f("ix_delegation_grantee_id"), "delegation", ["grantee_id"], unique=False)
    op.create_index(op.f("ix_delegation_grantor_id"), "delegation", ["grantor_id"], unique=False)
    op.create_index(op.f("ix_delegation_unit_id"), "delegation", ["unit_id"], unique=False)
    op.create_table(
        "password_history",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["app_user.id"],
            name=op.f("fk_password_history_user_id_app_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_history")),
    )
    op.create_index(op.f("ix_password_history_user_id"), "password_history", ["user_id"], unique=False)
    op.create_table(
        "sign_in_event",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("unit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["unit.id"], name=op.f("fk_sign_in_event_unit_id_unit"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["app_user.id"], name=op.f("fk_sign_in_event_user_id_app_user"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_event")),
    )
    op.create_index("ix_sign_in_event_unit_id_at", "sign_in_event", ["unit_id", "at"], unique=False)
    op.create_index("ix_sign_in_event_user_id_at", "sign_in_event", ["user_id", "at"], unique=False)
    op.create_table(
        "student_record",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("national_number", sa.String(length=19), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column(
            "gender", sa.Enum("MALE", "FEMALE", name="gender", native_enum=False, length=8), nullable=False
        ),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column(
            "id_type",
            sa.Enum(
                "RESIDENT_ID",
                "PASSPORT",
                "HK_MACAO_PERMIT",
                "TAIWAN_PERMIT",
                "NONE",
                name="idtype",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("id_number", sa.String(length=32), nullable=True),
        sa.Column("school_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "unit_path",
            sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("class_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "stage",
            sa.Enum(
                "PRESCHOOL",
                "PRIMARY",
                "JUNIOR",
                "SENIOR",
                "VOCATIONAL",
                name="stage",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("grade", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "IN_SCHOOL",
                "SUSPENDED",
                "GRADUATED",
                "COMPLETED",
                "DROPPED_OUT",
                "ABROAD",
                "WITHDRAWN",
                "EXPELLED",
                "DECEASED",
                "OTHER_LEAVE",
                name="recordstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["class_id"], ["school_class.id"], name=op.f("fk_student_record_class_id_school_class")
        ),
        sa.ForeignKeyConstraint(["school_id"], ["unit.id"], name=op.f("fk_student_record_school_id_unit")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_student_record")),
        sa.UniqueConstraint("national_number", name=op.f("uq_student_record_national_number")),
    )
    op.create_index(op.f("ix_student_record_class_id"), "student_record", ["class_id"], unique=False)
    op.create_index(op.f("ix_student_record_id_number"), "student_record", ["id_number"], unique=False)
    op.create_index(
        "ix_student_record_name_gender_birth_date",
        "student_record",
        ["name", "gender", "birth_date"],
        unique=False,
    )
    op.create_index(op.f("ix_student_record_school_id"), "student_record", ["school_id"], unique=False)
    op.create_index("ix_student_record_unit_path_id", "student_record", ["unit_path", "id"], unique=False)
    op.create_table(
        "user_role",
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "REGISTRAR",
                "LEADER",
                "SYSTEM_ADMINISTRATOR",
                "SUPER_ADMINISTRATOR",
                "RECORD_SYSTEM_ADMINISTRATOR",
                "ORDINARY_USER",
                name="role",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["app_user.id"], name=op.f("fk_user_role_user_id_app_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "role", name=op.f("pk_user_role")),
    )
    op.create_table(
        "auth_session",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("delegation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["delegation_id"], ["delegation.id"], name=op.f("fk_auth_session_delegation_id_delegation")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["app_user.id"], name=op.f("fk_auth_session_user_id_app_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_auth_session_token_hash")),
    )
    op.create_index(op.f("ix_auth_session_delegation_id"), "auth_session", ["delegation_id"], unique=False)
    op.create_index(op.f("ix_auth_session_user_id"), "auth_session", ["user_id"], unique=False)
    op.create_table(
        "calendar_day",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("is_workday", sa.Boolean(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["year"],
            ["calendar_year.year"],
            name=op.f("fk_calendar_day_year_calendar_year"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_calendar_day")),
    )
    op.create_index(op.f("ix_calendar_day_year"), "calendar_day", ["year"], unique=False)
    _create_audit_log_guard()


def downgrade() -> None:
    _drop_audit_log_guard()
    op.drop_table("calendar_day")
    op.drop_table("auth_session")
    op.drop_table("user_role")
    op.drop_table("student_record")
    op.drop_table("sign_in_event")
    op.drop_table("password_history")
    op.drop_table("delegation")
    op.drop_table("calendar_year")
    op.drop_table("audit_log")
    op.drop_table("school_class")
    op.drop_table("app_user")
    op.drop_table("unit")


# SEC-7: the database itself refuses to change or remove audit rows, whatever the application does.
# On SQLite a batch migration that copies audit_log drops these triggers with the old table: any later
# revision that batch-alters audit_log must create them again.
AUDIT_LOG_APPEND_ONLY = "audit_log is append-only"


def _create_audit_log_guard() -> None:
    if op.get_context().dialect.name == "postgresql":
        # restrict_violation is an integrity error class (23001), so drivers raise IntegrityError,
        # as SQLite's RAISE(ABORT) does.
        op.execute(
            f"""
            CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '{AUDIT_LOG_APPEND_ONLY}' USING ERRCODE = 'restrict_violation';
            END
            $$
            """
        )
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
        )
        # TRUNCATE fires no row triggers; refuse it separately.
        op.execute(
            "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
        )
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{event.lower()} BEFORE {event} ON audit_log "
                f"BEGIN SELECT RAISE(ABORT, '{AUDIT_LOG_APPEND_ONLY}'); END"
            )


def _drop_audit_log_guard() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
