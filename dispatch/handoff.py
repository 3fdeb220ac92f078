"""The hand-off dossier: what a 1669 call-taker needs about an incident, in one object.

Written into the timeline (``incident.escalated``, level 2) when the incident is
handed to the fallback; only officers see it (core.events.catalogue).
"""

import uuid
from datetime import datetime

from geoalchemy2.shape import to_shape
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.tenancy.models import Organization
from dispatch.models import Elder, Incident, Offer
from geo import repository as zones


class Point(BaseModel):
    lat: float
    lon: float


class ElderDossier(BaseModel):
    name: str
    phone: str | None
    address: str | None
    home: Point
    dependency_group: int
    conditions: list[str]
    medications: list[str]
    allergies: list[str]
    blood_type: str | None
    contacts: list[dict[str, str]]
    language: str


class HandoffDossier(BaseModel):
    incident_id: uuid.UUID
    organization: str
    fallback_phone: str
    opened_at: datetime
    trigger: str
    location: Point
    accuracy_m: float | None
    location_source: str
    zone: str | None
    battery_pct: int | None
    elder: ElderDossier
    responders_offered: int


async def build_dossier(session: AsyncSession, incident: Incident) -> HandoffDossier:
    elder = await session.get(Elder, incident.elder_id)
    org = await session.get(Organization, incident.organization_id)
    assert elder is not None and org is not None  # a dispatching incident keeps its elder
    point, home = to_shape(incident.location), to_shape(elder.home)
    zone = await zones.zone_ref(session, incident.zone_id) if incident.zone_id else None
    offered = await session.scalar(
        select(func.count()).select_from(Offer).where(Offer.incident_id == incident.id)
    )
    return HandoffDossier(
        incident_id=incident.id,
        organization=org.name,
        fallback_phone=org.fallback_phone,
        opened_at=incident.created_at,
        trigger=incident.trigger.value,
        location=Point(lat=point.y, lon=point.x),
        accuracy_m=incident.accuracy_m,
        location_source=incident.location_source.value,
        zone=zone.name if zone else None,
        battery_pct=incident.battery_pct,
        elder=ElderDossier(
            name=elder.name,
            phone=elder.phone,
            address=elder.address,
            home=Point(lat=home.y, lon=home.x),
            dependency_group=elder.dependency_group,
            conditions=elder.conditions,
            medications=elder.medications,
            allergies=elder.allergies,
            blood_type=elder.blood_type,
            contacts=elder.contacts,
            language=elder.language.value,
        ),
        responders_offered=offered or 0,
    )
