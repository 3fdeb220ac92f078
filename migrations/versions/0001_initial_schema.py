"""Initial schema: tenancy, care zones, elders, responders, incidents, event log

Revision ID: 0001
Revises:
"""

from collections.abc import Sequence

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "organization",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("fallback_phone", sa.String(length=32), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organization")),
        sa.UniqueConstraint("code", name=op.f("uq_organization_code")),
    )
    op.create_table(
        "app_user",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column(
            "role",
            sa.Enum(
                "admin",
                "officer",
                "responder",
                name="role",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_app_user_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_user")),
        sa.UniqueConstraint("email", name=op.f("uq_app_user_email")),
    )
    op.create_index(
        op.f("ix_app_user_organization_id"), "app_user", ["organization_id"], unique=False
    )
    op.create_table(
        "care_zone",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                spatial_index=False,
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_care_zone_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_zone")),
    )
    op.create_index(
        "idx_care_zone_geom", "care_zone", ["geom"], unique=False, postgresql_using="gist"
    )
    op.create_index(
        "ix_care_zone_geog",
        "care_zone",
        [sa.literal_column("(geography(geom))")],
        unique=False,
        postgresql_using="gist",
    )
    op.create_index(
        op.f("ix_care_zone_organization_id"), "care_zone", ["organization_id"], unique=False
    )
    op.create_table(
        "elder",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column(
            "home",
            geoalchemy2.types.Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                spatial_index=False,
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("dependency_group", sa.SmallInteger(), nullable=False),
        sa.Column("conditions", postgresql.ARRAY(sa.String(length=200)), nullable=False),
        sa.Column("medications", postgresql.ARRAY(sa.String(length=200)), nullable=False),
        sa.Column("allergies", postgresql.ARRAY(sa.String(length=200)), nullable=False),
        sa.Column("blood_type", sa.String(length=8), nullable=True),
        sa.Column("contacts", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "language",
            sa.Enum(
                "th", "en", name="language", native_enum=False, create_constraint=True, length=32
            ),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "dependency_group between 1 and 3", name=op.f("ck_elder_dependency_group")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_elder_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_elder")),
    )
    op.create_index("idx_elder_home", "elder", ["home"], unique=False, postgresql_using="gist")
    op.create_index(op.f("ix_elder_organization_id"), "elder", ["organization_id"], unique=False)
    op.create_table(
        "event_sequence",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_event_sequence_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organization_id", name=op.f("pk_event_sequence")),
    )
    op.create_table(
        "elder_device_token",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("elder_id", sa.Uuid(), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=True),
        sa.Column("created_by_user_id", sa.Uuid(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["app_user.id"],
            name=op.f("fk_elder_device_token_created_by_user_id_app_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["elder_id"],
            ["elder.id"],
            name=op.f("fk_elder_device_token_elder_id_elder"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_elder_device_token")),
    )
    op.create_index(
        op.f("ix_elder_device_token_elder_id"), "elder_device_token", ["elder_id"], unique=False
    )
    op.create_table(
        "push_device",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("elder_id", sa.Uuid(), nullable=True),
        sa.Column("fcm_token", sa.String(length=4096), nullable=False),
        sa.Column(
            "platform",
            sa.Enum(
                "android",
                "ios",
                "web",
                name="platform",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(user_id is null) <> (elder_id is null)", name=op.f("ck_push_device_exactly_one_owner")
        ),
        sa.ForeignKeyConstraint(
            ["elder_id"],
            ["elder.id"],
            name=op.f("fk_push_device_elder_id_elder"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_push_device_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["app_user.id"],
            name=op.f("fk_push_device_user_id_app_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_device")),
        sa.UniqueConstraint("fcm_token", name=op.f("uq_push_device_fcm_token")),
    )
    op.create_index(op.f("ix_push_device_elder_id"), "push_device", ["elder_id"], unique=False)
    op.create_index(
        op.f("ix_push_device_organization_id"), "push_device", ["organization_id"], unique=False
    )
    op.create_index(op.f("ix_push_device_user_id"), "push_device", ["user_id"], unique=False)
    op.create_table(
        "responder",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "caregiver",
                "volunteer",
                "care_manager",
                "rescue",
                name="responder_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("skills", postgresql.ARRAY(sa.String(length=64)), nullable=False),
        sa.Column("on_duty", sa.Boolean(), nullable=False),
        sa.Column("on_duty_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "last_location",
            geoalchemy2.types.Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                spatial_index=False,
            ),
            nullable=True,
        ),
        sa.Column("last_location_accuracy_m", sa.Float(), nullable=True),
        sa.Column("last_location_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["id"], ["app_user.id"], name=op.f("fk_responder_id_app_user"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_responder_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_responder")),
    )
    op.create_index(
        "idx_responder_last_location",
        "responder",
        ["last_location"],
        unique=False,
        postgresql_using="gist",
    )
    op.create_index(
        op.f("ix_responder_organization_id"), "responder", ["organization_id"], unique=False
    )
    op.create_table(
        "incident",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("elder_id", sa.Uuid(), nullable=False),
        sa.Column("zone_id", sa.Uuid(), nullable=True),
        sa.Column(
            "state",
            sa.Enum(
                "dispatching",
                "accepted",
                "on_scene",
                "resolved",
                "cancelled",
                name="incident_state",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("escalation_level", sa.SmallInteger(), nullable=False),
        sa.Column(
            "trigger",
            sa.Enum(
                "button",
                "fall",
                "checkin_missed",
                "staff",
                name="trigger",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "location",
            geoalchemy2.types.Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                spatial_index=False,
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("accuracy_m", sa.Float(), nullable=True),
        sa.Column(
            "location_source",
            sa.Enum(
                "gps",
                "home",
                "reported",
                name="location_source",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("battery_pct", sa.SmallInteger(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("opened_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("assigned_responder_id", sa.Uuid(), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("on_scene_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "battery_pct is null or battery_pct between 0 and 100", name=op.f("ck_incident_battery")
        ),
        sa.CheckConstraint("escalation_level >= 0", name=op.f("ck_incident_escalation_level")),
        sa.ForeignKeyConstraint(
            ["assigned_responder_id"],
            ["responder.id"],
            name=op.f("fk_incident_assigned_responder_id_responder"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["elder_id"], ["elder.id"], name=op.f("fk_incident_elder_id_elder"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["opened_by_user_id"],
            ["app_user.id"],
            name=op.f("fk_incident_opened_by_user_id_app_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_incident_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["zone_id"],
            ["care_zone.id"],
            name=op.f("fk_incident_zone_id_care_zone"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident")),
    )
    op.create_index(
        "idx_incident_location", "incident", ["location"], unique=False, postgresql_using="gist"
    )
    op.create_index(
        "ix_incident_organization_id_created_at",
        "incident",
        ["organization_id", "created_at"],
        unique=False,
    )
    op.create_index(op.f("ix_incident_zone_id"), "incident", ["zone_id"], unique=False)
    op.create_index(
        "uq_incident_one_active_per_elder",
        "incident",
        ["elder_id"],
        unique=True,
        postgresql_where=sa.text("state in ('dispatching', 'accepted', 'on_scene')"),
    )
    op.create_table(
        "responder_zone",
        sa.Column("responder_id", sa.Uuid(), nullable=False),
        sa.Column("zone_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["responder_id"],
            ["responder.id"],
            name=op.f("fk_responder_zone_responder_id_responder"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["zone_id"],
            ["care_zone.id"],
            name=op.f("fk_responder_zone_zone_id_care_zone"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("responder_id", "zone_id", name=op.f("pk_responder_zone")),
    )
    op.create_index(op.f("ix_responder_zone_zone_id"), "responder_zone", ["zone_id"], unique=False)
    op.create_table(
        "incident_event",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incident.id"],
            name=op.f("fk_incident_event_incident_id_incident"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_incident_event_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organization_id", "id", name=op.f("pk_incident_event")),
    )
    op.create_index(
        "ix_incident_event_incident_id_id", "incident_event", ["incident_id", "id"], unique=False
    )
    op.create_table(
        "sos_request",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("elder_id", sa.Uuid(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["elder_id"],
            ["elder.id"],
            name=op.f("fk_sos_request_elder_id_elder"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incident.id"],
            name=op.f("fk_sos_request_incident_id_incident"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sos_request")),
        sa.UniqueConstraint(
            "elder_id", "idempotency_key", name=op.f("uq_sos_request_elder_id_idempotency_key")
        ),
    )


def downgrade() -> None:
    # The postgis extension stays: other schemas in the database may use it.
    op.drop_table("sos_request")
    op.drop_index("ix_incident_event_incident_id_id", table_name="incident_event")
    op.drop_table("incident_event")
    op.drop_index(op.f("ix_responder_zone_zone_id"), table_name="responder_zone")
    op.drop_table("responder_zone")
    op.drop_index(
        "uq_incident_one_active_per_elder",
        table_name="incident",
        postgresql_where=sa.text("state in ('dispatching', 'accepted', 'on_scene')"),
    )
    op.drop_index(op.f("ix_incident_zone_id"), table_name="incident")
    op.drop_index("ix_incident_organization_id_created_at", table_name="incident")
    op.drop_index("idx_incident_location", table_name="incident", postgresql_using="gist")
    op.drop_table("incident")
    op.drop_index(op.f("ix_responder_organization_id"), table_name="responder")
    op.drop_index("idx_responder_last_location", table_name="responder", postgresql_using="gist")
    op.drop_table("responder")
    op.drop_index(op.f("ix_push_device_user_id"), table_name="push_device")
    op.drop_index(op.f("ix_push_device_organization_id"), table_name="push_device")
    op.drop_index(op.f("ix_push_device_elder_id"), table_name="push_device")
    op.drop_table("push_device")
    op.drop_index(op.f("ix_elder_device_token_elder_id"), table_name="elder_device_token")
    op.drop_table("elder_device_token")
    op.drop_table("event_sequence")
    op.drop_index(op.f("ix_elder_organization_id"), table_name="elder")
    op.drop_index("idx_elder_home", table_name="elder", postgresql_using="gist")
    op.drop_table("elder")
    op.drop_index(op.f("ix_care_zone_organization_id"), table_name="care_zone")
    op.drop_index("ix_care_zone_geog", table_name="care_zone", postgresql_using="gist")
    op.drop_index("idx_care_zone_geom", table_name="care_zone", postgresql_using="gist")
    op.drop_table("care_zone")
    op.drop_index(op.f("ix_app_user_organization_id"), table_name="app_user")
    op.drop_table("app_user")
    op.drop_table("organization")
