"""The Tha Khantho demo: seeding it through the same services the API uses, then serving
it with the simulator, and telling a newcomer, once startup is over, what to open and how
to log in."""

import asyncio
import itertools
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from types import FrameType

import uvicorn
from rich.console import Console
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api import demo_data
from api.simulator import SimulationConfig, simulate
from core.security import hash_password
from core.tenancy.models import Organization, Role, User
from core.tenancy.schemas import OrganizationCreate
from core.tenancy.service import create_organization, create_user
from dispatch.elders import create_elder, issue_device_token
from dispatch.inputs import Contact, ElderCreate, LocationIn, PointIn, ResponderCreate
from dispatch.models import Elder
from dispatch.responders import create_responder, record_location, set_duty
from geo.service import import_zones

OFFICER_EMAIL = f"officer@{demo_data.ORG_CODE}.demo"


@dataclass(frozen=True)
class DemoLogins:
    officer_email: str
    password: str
    responder_emails: list[str]
    sample_device_token: str
    sample_elder: str
    created: bool


async def seed_demo(session: AsyncSession, *, password: str | None = None) -> DemoLogins:
    """Create the demo organization if it is missing, then reset the demo logins."""
    password = password or secrets.token_urlsafe(9)
    org = await session.scalar(select(Organization).where(Organization.code == demo_data.ORG_CODE))
    created = org is None
    if org is None:
        org = await _create(session, password)
    await session.execute(
        update(User)
        .where(User.organization_id == org.id, User.role.in_([Role.OFFICER, Role.RESPONDER]))
        .values(password_hash=hash_password(password))
    )
    responder_emails = list(
        await session.scalars(
            select(User.email)
            .where(User.organization_id == org.id, User.role == Role.RESPONDER)
            .order_by(User.email)
        )
    )
    elder = await session.scalar(
        select(Elder).where(Elder.organization_id == org.id).order_by(Elder.name).limit(1)
    )
    assert elder is not None
    token = await issue_device_token(session, elder=elder, created_by=None, label="demo")
    return DemoLogins(
        officer_email=OFFICER_EMAIL,
        password=password,
        responder_emails=responder_emails,
        sample_device_token=token.device_token,
        sample_elder=elder.name,
        created=created,
    )


async def _create(session: AsyncSession, password: str) -> Organization:
    org = await create_organization(
        session,
        data=OrganizationCreate(name=demo_data.ORG_NAME, code=demo_data.ORG_CODE),
    )
    await create_user(
        session,
        organization_id=org.id,
        role=Role.OFFICER,
        name="เจ้าหน้าที่สาธารณสุข (demo)",
        email=OFFICER_EMAIL,
        password=password,
        phone="043000000",
    )
    zones = demo_data.zones()
    ids = await import_zones(
        session,
        organization_id=org.id,
        document={"type": "FeatureCollection", "features": [z.feature() for z in zones]},
        repair=False,
    )
    zone_ids = {zone.name: zone_id for zone, zone_id in zip(zones, ids.ids, strict=True)}
    for e in demo_data.elders(zones):
        await create_elder(
            session,
            organization_id=org.id,
            data=ElderCreate(
                name=e.name,
                home=PointIn(lat=e.lat, lon=e.lon),
                dependency_group=e.dependency_group,
                conditions=e.conditions,
                medications=e.medications,
                allergies=e.allergies,
                blood_type=e.blood_type,
                contacts=[Contact(name=e.contact_name, phone=e.contact_phone, relation="ลูก")],
            ),
        )
    now = datetime.now(UTC)
    for r in demo_data.responders(zones):
        out = await create_responder(
            session,
            organization_id=org.id,
            data=ResponderCreate(
                name=r.name,
                email=r.email,
                password=password,
                phone=r.phone,
                kind=r.kind,
                skills=r.skills,
                zone_ids=[zone_ids[z] for z in r.zones],
            ),
        )
        await set_duty(session, responder_id=out.id, on_duty=True)
        await record_location(
            session,
            responder_id=out.id,
            location=LocationIn(lat=r.lat, lon=r.lon, accuracy_m=10, recorded_at=now),
        )
    return org


def logins_summary(logins: DemoLogins, base: str, *, simulating: bool) -> list[str]:
    """What a newcomer needs, on one screen: what to open, how to log in, how to try it.
    Plain lines (rich markup for emphasis only), each under 80 columns but the curl."""
    lines = [
        f"Open the officers' map:  [bold]{base}/map[/bold]",
        f"Log in as:               [bold]{logins.officer_email}[/bold]",
        f"Password:                [bold]{logins.password}[/bold] (officer and responders)",
        f"Responders' logins:      {_compact_logins(logins.responder_emails)}",
        f"Reports:                 {base}/map/reports",
        f"API docs:                {base}/docs",
        f"Try an SOS from the phone of {logins.sample_elder}:",
        f"  curl -s -X POST {base}/v1/sos -H 'Authorization: Bearer "
        f"{logins.sample_device_token}' -H 'Content-Type: application/json' "
        f'-H "Idempotency-Key: $(cat /proc/sys/kernel/random/uuid)" '
        '-d \'{"trigger": "button"}\'',
    ]
    if simulating:
        lines += [
            "No FCM or SMS gateway in the demo: push and SMS are not sent",
            "  (PHIKAT_LOG_LEVEL=DEBUG lists each one).",
            "simulator running: SOS and responders flow through the API, one line per step",
        ]
    else:
        lines.append("No FCM or SMS gateway in the demo: push and SMS are logged, not sent.")
    lines.append("Stop with Ctrl+C. Run again at any time: the data stays, passwords are renewed.")
    return lines


def print_summary(console: Console, logins: DemoLogins, base: str, *, simulating: bool) -> None:
    console.rule("[bold]Phikat demo: Tha Khantho municipality (made-up data)")
    for line in logins_summary(logins, base, simulating=simulating):
        console.print(line, soft_wrap=True)
    console.rule()


def _compact_logins(emails: list[str]) -> str:
    """cg1@x.demo … cg5@x.demo, rescue1@x.demo -> 'cg1-5, rescue1 (@x.demo)'."""
    parts: list[tuple[str, int, str]] = []
    for email in emails:
        local, _, domain = email.partition("@")
        match = re.fullmatch(r"(\D+)(\d+)", local)
        if match is None:
            return ", ".join(emails)
        parts.append((match.group(1), int(match.group(2)), domain))
    if len({domain for *_, domain in parts}) != 1:
        return ", ".join(emails)
    groups = []
    for prefix, members in itertools.groupby(sorted(parts), key=lambda p: p[0]):
        numbers = [n for _, n, _ in members]
        low, high = min(numbers), max(numbers)
        contiguous = sorted(numbers) == list(range(low, high + 1))
        if low == high:
            groups.append(f"{prefix}{low}")
        elif contiguous:
            groups.append(f"{prefix}{low}-{high}")
        else:
            groups.append(", ".join(f"{prefix}{n}" for n in numbers))
    return f"{', '.join(groups)} (@{parts[0][2]})"


class _DemoServer(uvicorn.Server):
    """uvicorn, telling the demo first when Ctrl+C arrives: the simulator stops before the
    server closes its sockets, instead of warning that its requests failed."""

    def __init__(self, config: uvicorn.Config, on_exit: "asyncio.Event") -> None:
        super().__init__(config)
        self._on_exit = on_exit
        self._loop = asyncio.get_running_loop()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._loop.call_soon_threadsafe(self._on_exit.set)
        super().handle_exit(sig, frame)


async def serve_and_simulate(
    console: Console,
    logins: DemoLogins,
    *,
    host: str,
    port: int,
    simulation: SimulationConfig | None,
    ws_max_size: int,
    ws_per_message_deflate: bool,
) -> None:
    """Serve the demo (with the simulator unless ``simulation`` is None); the summary is
    printed once the server is up and the simulated phones are registered."""
    base = f"http://{host}:{port}"
    exiting = asyncio.Event()
    server = _DemoServer(
        uvicorn.Config(
            "api.app:create_app",
            factory=True,
            host=host,
            port=port,
            log_config=None,
            ws_max_size=ws_max_size,
            ws_per_message_deflate=ws_per_message_deflate,
            # One line per request: the officer's own clicks are worth seeing, the
            # simulator's hundreds a minute are not (it logs one line per step instead).
            access_log=simulation is None,
        ),
        exiting,
    )
    serving = asyncio.create_task(server.serve())
    while not server.started and not serving.done():  # noqa: ASYNC110 (uvicorn exposes a flag)
        await asyncio.sleep(0.1)
    if serving.done() or simulation is None:
        if not serving.done():
            print_summary(console, logins, base, simulating=False)
        await serving
        return
    quiet_demo_logs()
    simulating = asyncio.create_task(
        simulate(
            simulation,
            on_ready=lambda: print_summary(console, logins, base, simulating=True),
        )
    )
    stopping = asyncio.create_task(exiting.wait())
    await asyncio.wait({serving, simulating, stopping}, return_when=asyncio.FIRST_COMPLETED)
    simulating.cancel()
    stopping.cancel()
    await asyncio.gather(simulating, stopping, return_exceptions=True)
    await serving


def quiet_demo_logs() -> None:
    """In the demo every push and SMS goes to the log channel, one INFO line each; the
    simulator's step lines already say who got an offer. Shown again with
    PHIKAT_LOG_LEVEL=DEBUG."""
    messages = logging.getLogger("phikat.messages")
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        messages.setLevel(logging.WARNING)
