"""Each care zone's area, stored (issue 17: zone matching at national scale)

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A stored generated column: PostgreSQL fills it for existing zones (rewriting the
    # table once) and keeps it right on every insert and geometry update.
    op.add_column(
        "care_zone",
        sa.Column(
            "area_m2",
            sa.Float(),
            sa.Computed("ST_Area(geography(geom))", persisted=True),
            nullable=False,
        ),
    )


def downgrade() -> None:
    op.drop_column("care_zone", "area_m2")
