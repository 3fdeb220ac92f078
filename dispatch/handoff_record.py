"""The 1669 hand-off record: a reduced profile of NENA's Emergency Incident Data Object
(EIDO, NENA-STA-021, JSON), built from plain facts with no database.

The parts and their names follow EIDO: one document with an ``incidentComponent``
and lists of ``personComponent``, ``locationComponent``, ``agencyComponent``,
``agentComponent``, ``emergencyResourceComponent`` and ``callbackComponent``, each
part with the EIDO prologue (``$id``, ``lastUpdateTimeStamp``,
``updatedByAgencyReference``, ``updatedByAgentReference``) and parts pointing at
each other with ``{"$ref": id}``. Where EIDO carries PIDF-LO XML or NIEM person
types, this profile carries small JSON members instead (docs/handoff.md lists them);
docs/handoff.schema.json is the contract and tests validate every record against it.
"""

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

PROFILE = "th.phikat.handoff.1"
ISSUER = "phikat"
SYSTEM_AGENT = "urn:phikat:agent:system"

# EIDO's incident status registry, from the incident's state.
STATUS = {
    "dispatching": "Dispatching",
    "accepted": "Dispatched",
    "on_scene": "OnScene",
    "resolved": "Closed",
    "cancelled": "Cancelled",
}
UNIT_STATUS = {"accepted": "Dispatched", "on_scene": "OnScene"}


@dataclass(frozen=True)
class Position:
    lat: float
    lon: float
    accuracy_m: float | None
    source: str  # gps, network, home, manual, ...
    at: datetime


@dataclass(frozen=True)
class Person:
    id: uuid.UUID
    name: str
    phone: str | None
    address: str | None
    dependency_group: int
    conditions: list[str]
    medications: list[str]
    allergies: list[str]
    blood_type: str | None
    language: str
    contacts: list[dict[str, str]]
    updated_at: datetime


@dataclass(frozen=True)
class Staff:
    id: uuid.UUID
    name: str
    phone: str | None


@dataclass(frozen=True)
class OnScene:
    """The volunteer responder assigned to the incident."""

    staff: Staff
    state: str  # accepted, on_scene
    accepted_at: datetime | None
    on_scene_at: datetime | None
    position: Position | None


@dataclass(frozen=True)
class HandoffFacts:
    incident_id: uuid.UUID
    version: int  # 1 for the hand-off, then one more for each update
    cause: str  # handed_off, accepted, on_scene, resolved, cancelled, location
    state: str
    trigger: str
    opened_at: datetime
    handed_off_at: datetime
    closed_at: datetime | None
    outcome: str | None
    now: datetime
    organization_code: str
    organization_name: str
    fallback_phone: str
    zone: str | None
    battery_pct: int | None
    officer: Staff | None  # None: handed over by the officers' timeout
    person: Person | None  # None: the elder was erased
    position: Position
    home: Position | None
    trail: list[Position] = field(default_factory=list)
    responder: OnScene | None = None


def _ts(at: datetime) -> str:
    return at.isoformat()


def agency_id(code: str) -> str:
    return f"urn:phikat:agency:{code}"


def build_record(f: HandoffFacts) -> dict[str, Any]:
    """The EIDO-profile document for these facts (JSON-ready)."""
    agency = agency_id(f.organization_code)
    agent = f"urn:phikat:agent:{f.officer.id}" if f.officer else SYSTEM_AGENT
    incident = f"urn:phikat:incident:{f.incident_id}"

    def prologue(part_id: str, updated: datetime) -> dict[str, Any]:
        return {
            "$id": part_id,
            "lastUpdateTimeStamp": _ts(updated),
            "updatedByAgencyReference": {"$ref": agency},
            "updatedByAgentReference": {"$ref": agent},
        }

    locations = [_location(prologue, f"{incident}:location:current", "Caller", f.position, f)]
    if f.home is not None:
        locations.append(_location(prologue, f"{incident}:location:home", "Home", f.home, f))
    for i, point in enumerate(f.trail):
        locations.append(_location(prologue, f"{incident}:location:trail:{i}", "Trail", point, f))
    callbacks = _callbacks(prologue, incident, f)
    persons = []
    if f.person is not None:
        persons.append(_person(prologue, incident, f.person, f))
    resources = []
    if f.responder is not None:
        resources.append(_responder(prologue, incident, f.responder, f))
    agents = []
    if f.officer is not None:
        agents.append(
            {
                **prologue(agent, f.handed_off_at),
                "agentName": f.officer.name,
                "agentRoleRegistryText": ["Call Transferring"],
                "agencyReference": {"$ref": agency},
            }
        )
    incident_part: dict[str, Any] = {
        **prologue(incident, f.now),
        "incidentTrackingIdentifier": incident,
        "internalIncidentId": str(f.incident_id),
        "incidentTypeCommonRegistryText": ["Medical"],
        "incidentTypeInternalText": f.trigger,
        "incidentStatusCommonRegistryText": STATUS.get(f.state, f.state),
        "incidentStatusInternalText": f.state,
        "incidentCreationTimeStamp": _ts(f.opened_at),
        "handoffTimeStamp": _ts(f.handed_off_at),
        "closedTimeStamp": _ts(f.closed_at) if f.closed_at else None,
        "dispositionText": f.outcome,
        "zoneName": f.zone,
        "deviceBatteryPercent": f.battery_pct,
        "locationReference": [{"$ref": loc["$id"]} for loc in locations],
        "personReference": [{"$ref": p["$id"]} for p in persons],
        "agentReference": [{"$ref": a["$id"]} for a in agents],
        "emergencyResourceReference": [{"$ref": r["$id"]} for r in resources],
    }
    return {
        "$id": f"{incident}:v{f.version}",
        "eidoVersion": "1.0",
        "eidoExtensionId": [PROFILE],
        "issuingElementIdentification": ISSUER,
        "lastUpdateTimeStamp": _ts(f.now),
        "updatedByAgencyReference": {"$ref": agency},
        "updatedByAgentReference": {"$ref": agent},
        "recordVersion": f.version,
        "updateCause": f.cause,
        "incidentComponent": incident_part,
        "personComponent": persons,
        "locationComponent": locations,
        "agencyComponent": [
            {
                **prologue(agency, f.now),
                "agencyName": f.organization_name,
                "agencyType": ["LocalGovernment"],
                "agencyRoleDescriptionRegistryText": ["CallTransferring"],
                "fallbackPhone": f.fallback_phone,
            }
        ],
        "agentComponent": agents,
        "emergencyResourceComponent": resources,
        "callbackComponent": callbacks,
    }


def _location(
    prologue: Any, part_id: str, kind: str, p: Position, f: HandoffFacts
) -> dict[str, Any]:
    return {
        **prologue(part_id, p.at),
        "locationTypeDescriptionRegistryText": kind,
        "geo": {"lat": p.lat, "lon": p.lon},
        "uncertaintyRadiusMeters": p.accuracy_m,
        "locationSourceText": p.source,
        "locationTimeStamp": _ts(p.at),
        "locationDescriptionText": (
            f.person.address if kind == "Home" and f.person is not None else f.zone
        ),
    }


def _person(prologue: Any, incident: str, p: Person, f: HandoffFacts) -> dict[str, Any]:
    return {
        **prologue(f"{incident}:person:{p.id}", p.updated_at),
        "personIncidentRoleRegistryText": ["Patient"],
        "personName": p.name,
        # Phikat serves people of 60 and more (Thailand's elderly); no birth date is held.
        "ageGroupText": "60+",
        # Thailand's long-term-care dependency groups: 1 mobile ... 3 bed-bound.
        "dependencyGroupNumber": p.dependency_group,
        "medical": {
            "conditions": list(p.conditions),
            "medications": list(p.medications),
            "allergies": list(p.allergies),
            "bloodType": p.blood_type,
        },
        "preferredLanguage": p.language,
        "homeAddressText": p.address,
        "locationReference": [{"$ref": f"{incident}:location:current"}],
        "callBackReference": {"$ref": f"{incident}:callback:person"} if p.phone else None,
    }


def _responder(prologue: Any, incident: str, r: OnScene, f: HandoffFacts) -> dict[str, Any]:
    updated = r.on_scene_at or r.accepted_at or f.now
    return {
        **prologue(f"{incident}:resource:{r.staff.id}", updated),
        "emergencyResourceTypeCommonRegistryText": "VolunteerCaregiver",
        "emergencyResourceName": r.staff.name,
        "primaryUnitStatusRegistryText": UNIT_STATUS.get(r.state, r.state),
        "acceptedTimeStamp": _ts(r.accepted_at) if r.accepted_at else None,
        "onSceneTimeStamp": _ts(r.on_scene_at) if r.on_scene_at else None,
        "unitLocation": (
            {
                "geo": {"lat": r.position.lat, "lon": r.position.lon},
                "uncertaintyRadiusMeters": r.position.accuracy_m,
                "locationTimeStamp": _ts(r.position.at),
            }
            if r.position
            else None
        ),
        "callBackReference": (
            {"$ref": f"{incident}:callback:responder"} if r.staff.phone else None
        ),
    }


def _callbacks(prologue: Any, incident: str, f: HandoffFacts) -> list[dict[str, Any]]:
    rows: list[tuple[str, str, str, datetime]] = []
    if f.person is not None:
        if f.person.phone:
            rows.append(("person", "Patient", f.person.phone, f.person.updated_at))
        for i, contact in enumerate(f.person.contacts):
            if contact.get("phone"):
                rows.append((f"family:{i}", "Family", contact["phone"], f.person.updated_at))
    if f.responder is not None and f.responder.staff.phone:
        rows.append(("responder", "Responder", f.responder.staff.phone, f.now))
    if f.officer is not None and f.officer.phone:
        rows.append(("officer", "Officer", f.officer.phone, f.handed_off_at))
    rows.append(("agency", "Agency", f.fallback_phone, f.now))
    return [
        {
            **prologue(f"{incident}:callback:{key}", at),
            "callbackRoleText": role,
            "callBackInformationUri": [f"tel:{phone}"],
        }
        for key, role, phone, at in rows
    ]
