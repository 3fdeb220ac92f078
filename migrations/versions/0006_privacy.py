"""PDPA: the medical-access log, location-trail retention, erasure of an elder

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PRINCIPAL_KINDS = ("admin", "officer", "responder", "elder_device")
ACCESS_KINDS = ("elder", "enrolment", "incident", "live", "export", "erasure")


def _enum(values: tuple[str, ...], name: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def upgrade() -> None:
    op.create_table(
        "medical_access",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column(
            "at",
            sa.DateTime(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
        ),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("elder_id", sa.Uuid(), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=True),
        sa.Column("principal_kind", _enum(PRINCIPAL_KINDS, "principal_kind"), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("device_token_id", sa.Uuid(), nullable=True),
        sa.Column("what", _enum(ACCESS_KINDS, "access_kind"), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_medical_access_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_medical_access")),
    )
    op.create_index("ix_medical_access_elder_id_at", "medical_access", ["elder_id", "at"])

    # An erased elder's incidents stay, anonymous, for response-time statistics.
    op.alter_column("incident", "elder_id", existing_type=sa.Uuid(), nullable=True)
    op.add_column(
        "incident", sa.Column("trail_purged_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index(
        "ix_incident_trail_due",
        "incident",
        ["closed_at"],
        postgresql_where=sa.text("closed_at is not null and trail_purged_at is null"),
    )


def downgrade() -> None:
    op.drop_index("ix_incident_trail_due", table_name="incident")
    op.drop_column("incident", "trail_purged_at")
    # Anonymous incidents (their elder erased) cannot return under a NOT NULL elder link.
    op.execute("DELETE FROM incident WHERE elder_id IS NULL")
    op.alter_column("incident", "elder_id", existing_type=sa.Uuid(), nullable=False)
    op.drop_index("ix_medical_access_elder_id_at", table_name="medical_access")
    op.drop_table("medical_access")
