"""Outbox leases: senders claim rows for a while and send outside the transaction

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("outbox_message", sa.Column("lease_token", sa.Uuid(), nullable=True))
    op.add_column("outbox_message", sa.Column("lease_owner", sa.String(length=120), nullable=True))
    op.drop_index(
        "ix_outbox_message_due",
        table_name="outbox_message",
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.create_index(
        "ix_outbox_message_due_by_route",
        "outbox_message",
        ["route", "next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("state = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_outbox_message_due_by_route",
        table_name="outbox_message",
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.create_index(
        "ix_outbox_message_due",
        "outbox_message",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.drop_column("outbox_message", "lease_owner")
    op.drop_column("outbox_message", "lease_token")
