"""SQL statements per request of each list endpoint as the list grows (issue 17, figure 8).

    scripts/bench list_statements

The app in process (httpx's ASGI transport) on a scratch database; every statement
the request sends to PostgreSQL is counted (SQLAlchemy's before_cursor_execute).
"""

import argparse
import asyncio
import uuid
from typing import Any

import httpx
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from api.app import create_app
from bench.common import scratch_database
from core.security import create_access_token
from core.settings import Settings
from core.tenancy.models import Role
from core.tenancy.schemas import OrganizationCreate
from core.tenancy.service import create_organization, create_user
from dispatch.bulk import import_elders, import_responders
from dispatch.enums import ResponderKind
from dispatch.inputs import ElderCreate, LocationIn, PointIn, ResponderImport
from dispatch.responders import record_location, set_duty
from geo.service import import_zones

SECRET = "bench-secret-0123456789abcdef0123456789abcdef"
SIZES = (10, 50, 100, 250, 500)
HOME = (16.5, 103.5)
ZONE = {
    "type": "Feature",
    "properties": {"name": "ตำบลทดสอบ"},
    "geometry": {
        "type": "Polygon",
        "coordinates": [
            [[103.4, 16.4], [103.6, 16.4], [103.6, 16.6], [103.4, 16.6], [103.4, 16.4]]
        ],
    },
}


def bearer(user_id: uuid.UUID, role: Role, org: uuid.UUID) -> dict[str, str]:
    token, _ = create_access_token(
        secret=SECRET, user_id=user_id, role=role.value, organization_id=org, ttl_s=3600
    )
    return {"Authorization": f"Bearer {token}"}


async def statements(engine: AsyncEngine, client: httpx.AsyncClient, url: str, who: Any) -> int:
    seen: list[str] = []

    def capture(*args: Any) -> None:
        seen.append(str(args[2]))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        response = await client.get(url, headers=who)
        assert response.status_code == 200, response.text
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", capture)
    return len(seen)


async def run(url: str, sizes: list[int]) -> None:
    settings = Settings(database_url=url, secret_key=SECRET, run_worker=False)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        sessionmaker = app.state.sessionmaker
        async with sessionmaker() as session, session.begin():
            org = await create_organization(
                session, data=OrganizationCreate(name="Lists", code="lists")
            )
            imported = await import_zones(
                session, organization_id=org.id, document=ZONE, repair=False
            )
            zone_id = imported.ids[0]
            officer = await create_user(
                session,
                organization_id=org.id,
                role=Role.OFFICER,
                name="Officer",
                email="officer@lists.example.org",
                password="officer-password",
                phone=None,
            )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            print("| rows | incidents | my offers | responders |\n| --- | --- | --- | --- |")
            have = 0
            first_responder: uuid.UUID | None = None
            for size in sizes:
                async with sessionmaker() as session, session.begin():
                    team = await import_responders(
                        session,
                        organization_id=org.id,
                        rows=[
                            ResponderImport(
                                name=f"r{n}",
                                email=f"r{n}@lists.example.org",
                                password_hash="$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
                                phone="0812345678",
                                kind=ResponderKind.VOLUNTEER,
                                zone_ids=[zone_id],
                            )
                            for n in range(have, size)
                        ],
                    )
                    if first_responder is None:  # on duty at the elders' homes: always offered
                        first_responder = team.responder_ids[0]
                        await set_duty(session, responder_id=first_responder, on_duty=True)
                        await record_location(
                            session,
                            responder_id=first_responder,
                            location=LocationIn(lat=HOME[0], lon=HOME[1], accuracy_m=10),
                        )
                    enrolled = await import_elders(
                        session,
                        organization_id=org.id,
                        rows=[
                            ElderCreate(
                                name=f"e{n}",
                                home=PointIn(lat=HOME[0], lon=HOME[1]),
                                dependency_group=2,
                            )
                            for n in range(have, size)
                        ],
                        issue_tokens=True,
                    )
                for _, token in enrolled.tokens:  # each opens an incident, its zone team offered
                    pressed = await client.post(
                        "/v1/sos", json={}, headers={"Authorization": f"Bearer {token}"}
                    )
                    assert pressed.status_code == 201, pressed.text
                have = size
                assert first_responder is not None
                counts = [
                    await statements(
                        app.state.engine,
                        client,
                        f"/v1/orgs/{org.id}/incidents?limit=500",
                        bearer(officer.id, Role.OFFICER, org.id),
                    ),
                    await statements(
                        app.state.engine,
                        client,
                        "/v1/responders/me/offers",
                        bearer(first_responder, Role.RESPONDER, org.id),
                    ),
                    await statements(
                        app.state.engine,
                        client,
                        f"/v1/orgs/{org.id}/responders",
                        bearer(officer.id, Role.OFFICER, org.id),
                    ),
                ]
                print(f"| {size} | " + " | ".join(str(c) for c in counts) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    args = parser.parse_args()
    asyncio.run(run(scratch_database("phikat_bench_lists"), sorted(args.sizes)))


if __name__ == "__main__":
    main()
