import uuid
from datetime import datetime

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import Computed, Float, ForeignKey, Index, Integer, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base
from core.types import created_at_column, new_id


class CareZone(Base):
    """A village, community or long-term-care cluster an organization serves."""

    __tablename__ = "care_zone"
    __table_args__ = (
        # Distance queries cast to geography; this index serves ST_DWithin on it.
        Index(
            "ix_care_zone_geog",
            text("(geography(geom))"),
            postgresql_using="gist",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(64), default="village")
    # Higher wins where zones overlap.
    priority: Mapped[int] = mapped_column(Integer, default=0)
    geom: Mapped[WKBElement] = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=True, nullable=False)
    )
    # Square metres on the spheroid, kept by PostgreSQL: matching orders covering zones by
    # area, and computing it per match was a third of a match's time at 75,000 zones.
    area_m2: Mapped[float] = mapped_column(
        Float, Computed("ST_Area(geography(geom))", persisted=True)
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())
