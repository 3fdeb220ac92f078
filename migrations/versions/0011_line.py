"""Families on LINE (issue 15): the organization's LINE Official Account, family
contacts linked to a LINE user, and the one-time codes that link them.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _org_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["organization_id"],
        ["organization.id"],
        name=op.f(f"fk_{table}_organization_id_organization"),
        ondelete="CASCADE",
    )


def _elder_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["elder_id"], ["elder.id"], name=op.f(f"fk_{table}_elder_id_elder"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "line_account",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=True),
        sa.Column("channel_secret", sa.String(length=100), nullable=False),
        sa.Column("access_token", sa.String(length=2000), nullable=False),
        sa.Column("basic_id", sa.String(length=40), nullable=True),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        _org_fk("line_account"),
        sa.PrimaryKeyConstraint("organization_id", name=op.f("pk_line_account")),
    )
    op.create_table(
        "line_link",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("elder_id", sa.Uuid(), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("line_user_id", sa.String(length=64), nullable=False),
        sa.Column(
            "linked_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        _org_fk("line_link"),
        _elder_fk("line_link"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_line_link")),
        sa.UniqueConstraint("elder_id", "phone", name=op.f("uq_line_link_elder_id_phone")),
    )
    op.create_index("ix_line_link_user", "line_link", ["organization_id", "line_user_id"])
    op.create_table(
        "line_link_code",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("elder_id", sa.Uuid(), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by_user_id", sa.Uuid(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        _org_fk("line_link_code"),
        _elder_fk("line_link_code"),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["app_user.id"],
            name=op.f("fk_line_link_code_created_by_user_id_app_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_line_link_code")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_line_link_code_code_hash")),
        sa.UniqueConstraint("elder_id", "phone", name=op.f("uq_line_link_code_elder_id_phone")),
    )


def downgrade() -> None:
    op.execute("DELETE FROM outbox_message WHERE route = 'line'")
    op.drop_table("line_link_code")
    op.drop_index("ix_line_link_user", table_name="line_link")
    op.drop_table("line_link")
    op.drop_table("line_account")
