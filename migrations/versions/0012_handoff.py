"""The 1669 hand-off record, delivery and answers (issue 15)

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACCESS_KINDS = ("elder", "enrolment", "incident", "live", "export", "erasure")
STATUSES = ("accepted", "rejected", "dispatched", "arrived", "closed")


def _kinds(values: tuple[str, ...]) -> str:
    return "what IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    op.create_table(
        "handoff_endpoint",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_handoff_endpoint_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organization_id", name=op.f("pk_handoff_endpoint")),
    )
    op.create_table(
        "handoff_answer",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("answer_id", sa.String(length=100), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                *STATUSES,
                name="handoff_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("disposition", sa.Text(), nullable=True),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "received_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incident.id"],
            name=op.f("fk_handoff_answer_incident_id_incident"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_handoff_answer_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handoff_answer")),
        sa.UniqueConstraint(
            "incident_id", "answer_id", name=op.f("uq_handoff_answer_incident_id_answer_id")
        ),
    )
    # A new access kind: the check constraint that lists the kinds is replaced.
    op.drop_constraint(op.f("ck_medical_access_access_kind"), "medical_access", type_="check")
    op.create_check_constraint(
        op.f("ck_medical_access_access_kind"),
        "medical_access",
        _kinds((*ACCESS_KINDS, "handoff")),
    )


def downgrade() -> None:
    op.execute("DELETE FROM medical_access WHERE what = 'handoff'")
    op.drop_constraint(op.f("ck_medical_access_access_kind"), "medical_access", type_="check")
    op.create_check_constraint(
        op.f("ck_medical_access_access_kind"), "medical_access", _kinds(ACCESS_KINDS)
    )
    op.drop_table("handoff_answer")
    op.drop_table("handoff_endpoint")
