"""Dispatch: offers, deadlines, per-organization policy

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dispatch_policy",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("policy", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_dispatch_policy_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organization_id", name=op.f("pk_dispatch_policy")),
    )
    op.create_table(
        "offer",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("responder_id", sa.Uuid(), nullable=False),
        sa.Column("wave", sa.SmallInteger(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "pending",
                "accepted",
                "declined",
                "expired",
                "withdrawn",
                name="offer_state",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("distance_m", sa.Float(), nullable=True),
        sa.Column(
            "sent_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("responded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incident.id"],
            name=op.f("fk_offer_incident_id_incident"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_offer_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["responder_id"],
            ["responder.id"],
            name=op.f("fk_offer_responder_id_responder"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offer")),
        sa.UniqueConstraint(
            "incident_id", "responder_id", name=op.f("uq_offer_incident_id_responder_id")
        ),
    )
    op.create_index(op.f("ix_offer_incident_id"), "offer", ["incident_id"], unique=False)
    op.create_index("ix_offer_responder_id_state", "offer", ["responder_id", "state"], unique=False)
    op.create_table(
        "deadline",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "offer_expiry",
                "officer_timeout",
                "arrival",
                name="deadline_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("offer_id", sa.Uuid(), nullable=True),
        sa.Column("responder_id", sa.Uuid(), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incident.id"],
            name=op.f("fk_deadline_incident_id_incident"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["offer_id"], ["offer.id"], name=op.f("fk_deadline_offer_id_offer"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_deadline_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["responder_id"],
            ["responder.id"],
            name=op.f("fk_deadline_responder_id_responder"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deadline")),
    )
    op.create_index(
        "ix_deadline_due",
        "deadline",
        ["due_at"],
        unique=False,
        postgresql_where=sa.text("fired_at is null"),
    )
    op.create_index(op.f("ix_deadline_incident_id"), "deadline", ["incident_id"], unique=False)
    op.add_column(
        "incident", sa.Column("wave", sa.SmallInteger(), server_default="0", nullable=False)
    )
    op.add_column("incident", sa.Column("closing_note", sa.Text(), nullable=True))
    op.add_column("incident", sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("incident", "escalated_at")
    op.drop_column("incident", "closing_note")
    op.drop_column("incident", "wave")
    op.drop_index(op.f("ix_deadline_incident_id"), table_name="deadline")
    op.drop_index(
        "ix_deadline_due", table_name="deadline", postgresql_where=sa.text("fired_at is null")
    )
    op.drop_table("deadline")
    op.drop_index("ix_offer_responder_id_state", table_name="offer")
    op.drop_index(op.f("ix_offer_incident_id"), table_name="offer")
    op.drop_table("offer")
    op.drop_table("dispatch_policy")
