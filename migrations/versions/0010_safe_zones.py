"""Safe zones and elder positions outside incidents (issue 14)

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TRIGGERS = "'button', 'fall', 'checkin_missed', 'staff'"


def upgrade() -> None:
    op.create_table(
        "safe_zone",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("elder_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column(
            "area",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON", srid=4326, spatial_index=False
            ),
            nullable=False,
        ),
        sa.Column(
            "centre",
            geoalchemy2.types.Geometry(geometry_type="POINT", srid=4326, spatial_index=False),
            nullable=True,
        ),
        sa.Column("radius_m", sa.Float(), nullable=True),
        sa.Column("active_from", sa.Time(), nullable=True),
        sa.Column("active_to", sa.Time(), nullable=True),
        sa.Column("thresholds", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("kind IN ('polygon', 'circle')", name=op.f("ck_safe_zone_kind")),
        sa.CheckConstraint(
            "(active_from IS NULL) = (active_to IS NULL)",
            name=op.f("ck_safe_zone_active_hours_pair"),
        ),
        sa.ForeignKeyConstraint(
            ["elder_id"],
            ["elder.id"],
            name=op.f("fk_safe_zone_elder_id_elder"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_safe_zone_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safe_zone")),
    )
    op.create_index(op.f("ix_safe_zone_elder_id"), "safe_zone", ["elder_id"])
    op.create_index(op.f("ix_safe_zone_organization_id"), "safe_zone", ["organization_id"])
    op.create_table(
        "elder_position",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("elder_id", sa.Uuid(), nullable=False),
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("accuracy_m", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["elder_id"],
            ["elder.id"],
            name=op.f("fk_elder_position_elder_id_elder"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_elder_position")),
    )
    op.create_index(
        "ix_elder_position_elder_captured", "elder_position", ["elder_id", "captured_at"]
    )
    op.create_index(op.f("ix_elder_position_received_at"), "elder_position", ["received_at"])
    op.create_table(
        "wander_tracker",
        sa.Column("zone_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("judged", sa.String(length=16), nullable=False),
        sa.Column("last_fix_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outside_fixes", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incident.id"],
            name=op.f("fk_wander_tracker_incident_id_incident"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["zone_id"],
            ["safe_zone.id"],
            name=op.f("fk_wander_tracker_zone_id_safe_zone"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("zone_id", name=op.f("pk_wander_tracker")),
    )
    # A new trigger: the check constraint that lists the triggers is replaced.
    op.drop_constraint(op.f("ck_incident_trigger"), "incident", type_="check")
    op.create_check_constraint(
        op.f("ck_incident_trigger"), "incident", f"trigger IN ({_TRIGGERS}, 'wander')"
    )


def downgrade() -> None:
    op.execute("UPDATE incident SET trigger = 'staff' WHERE trigger = 'wander'")
    op.drop_constraint(op.f("ck_incident_trigger"), "incident", type_="check")
    op.create_check_constraint(op.f("ck_incident_trigger"), "incident", f"trigger IN ({_TRIGGERS})")
    op.drop_table("wander_tracker")
    op.drop_index(op.f("ix_elder_position_received_at"), table_name="elder_position")
    op.drop_index("ix_elder_position_elder_captured", table_name="elder_position")
    op.drop_table("elder_position")
    op.drop_index(op.f("ix_safe_zone_organization_id"), table_name="safe_zone")
    op.drop_index(op.f("ix_safe_zone_elder_id"), table_name="safe_zone")
    op.drop_table("safe_zone")
