"""How far a responder is from an incident, and how long they will take.

One speed for every ETA (``PHIKAT_ETA_SPEED_KMH``): the callers pass it from the
settings, so the elder's "help is coming" message and the live map agree.
"""

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.models import Incident
from geo.points import point


def eta_seconds(distance_m: float, speed_kmh: float) -> int:
    return round(distance_m / (speed_kmh / 3.6))


def eta_minutes(distance_m: float, speed_kmh: float) -> int:
    """For people: at least one minute."""
    return max(1, round(eta_seconds(distance_m, speed_kmh) / 60))


async def distance_to_incident(
    session: AsyncSession, incident: Incident, lat: float, lon: float
) -> float:
    """Metres on the ground between a point and the incident's location (PostGIS)."""
    distance = await session.scalar(
        select(
            func.ST_Distance(func.geography(Incident.location), func.geography(point(lon, lat)))
        ).where(Incident.id == incident.id)
    )
    return float(distance or 0.0)
