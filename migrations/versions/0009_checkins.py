"""Daily check-ins and the inactivity timer (issue 14)

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS = "'offer_expiry', 'officer_timeout', 'arrival', 'receipt'"
_CHECKIN_KINDS = "'checkin_reminder', 'checkin_missed', 'checkin_escalate'"


def upgrade() -> None:
    op.create_table(
        "checkin_plan",
        sa.Column("elder_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("times", sa.ARRAY(sa.Time()), nullable=False),
        sa.Column("inactivity_s", sa.Integer(), nullable=True),
        sa.Column("grace_s", sa.Integer(), nullable=False),
        sa.Column("family_wait_s", sa.Integer(), nullable=False),
        sa.Column("window_s", sa.Integer(), nullable=False),
        sa.Column("reminder_before_s", sa.Integer(), nullable=False),
        sa.Column("tell_family_on_checkin", sa.Boolean(), nullable=False),
        sa.Column("paused_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("last_checkin_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("missed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("incident_id", sa.Uuid(), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(cardinality(times) > 0) <> (inactivity_s IS NOT NULL)",
            name=op.f("ck_checkin_plan_one_mode"),
        ),
        sa.CheckConstraint(
            "stage IN ('waiting', 'family_told')", name=op.f("ck_checkin_plan_stage")
        ),
        sa.ForeignKeyConstraint(
            ["elder_id"],
            ["elder.id"],
            name=op.f("fk_checkin_plan_elder_id_elder"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_checkin_plan_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incident.id"],
            name=op.f("fk_checkin_plan_incident_id_incident"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("elder_id", name=op.f("pk_checkin_plan")),
    )
    op.create_index(op.f("ix_checkin_plan_organization_id"), "checkin_plan", ["organization_id"])
    op.create_table(
        "checkin",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("elder_id", sa.Uuid(), nullable=False),
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by_user_id", sa.Uuid(), nullable=True),
        sa.Column("cycle_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["elder_id"], ["elder.id"], name=op.f("fk_checkin_elder_id_elder"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_checkin_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["by_user_id"],
            ["app_user.id"],
            name=op.f("fk_checkin_by_user_id_app_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkin")),
        sa.UniqueConstraint(
            "elder_id", "idempotency_key", name=op.f("uq_checkin_elder_id_idempotency_key")
        ),
    )
    op.create_index("ix_checkin_elder_captured", "checkin", ["elder_id", "captured_at"])

    # Deadlines about an elder's check-in cycle, not an incident.
    op.alter_column("deadline", "incident_id", existing_type=sa.Uuid(), nullable=True)
    op.add_column("deadline", sa.Column("elder_id", sa.Uuid(), nullable=True))
    op.add_column("deadline", sa.Column("cycle_at", sa.DateTime(timezone=True), nullable=True))
    op.create_foreign_key(
        op.f("fk_deadline_elder_id_elder"),
        "deadline",
        "elder",
        ["elder_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.create_index(op.f("ix_deadline_elder_id"), "deadline", ["elder_id"])
    op.create_check_constraint(
        op.f("ck_deadline_incident_or_elder"),
        "deadline",
        "num_nonnulls(incident_id, elder_id) = 1",
    )
    op.drop_constraint(op.f("ck_deadline_deadline_kind"), "deadline", type_="check")
    op.create_check_constraint(
        op.f("ck_deadline_deadline_kind"), "deadline", f"kind IN ({_KINDS}, {_CHECKIN_KINDS})"
    )


def downgrade() -> None:
    op.execute("DELETE FROM deadline WHERE elder_id IS NOT NULL")
    op.drop_constraint(op.f("ck_deadline_deadline_kind"), "deadline", type_="check")
    op.create_check_constraint(op.f("ck_deadline_deadline_kind"), "deadline", f"kind IN ({_KINDS})")
    op.drop_constraint(op.f("ck_deadline_incident_or_elder"), "deadline", type_="check")
    op.drop_index(op.f("ix_deadline_elder_id"), table_name="deadline")
    op.drop_constraint(op.f("fk_deadline_elder_id_elder"), "deadline", type_="foreignkey")
    op.drop_column("deadline", "cycle_at")
    op.drop_column("deadline", "elder_id")
    op.alter_column("deadline", "incident_id", existing_type=sa.Uuid(), nullable=False)
    op.drop_index("ix_checkin_elder_captured", table_name="checkin")
    op.drop_table("checkin")
    op.drop_index(op.f("ix_checkin_plan_organization_id"), table_name="checkin_plan")
    op.drop_table("checkin_plan")
