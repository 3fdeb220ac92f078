"""deploy/nginx/phikat.conf, as committed, in front of two real `phikat serve` processes:
a private nginx on loopback ports with a throwaway CA's certificate (trustme), an SOS
and a live socket through it over TLS, both servers used, the client's own address
reaching the app, body limits, a server stopped without an SOS lost, and the fallback
answer when no server is left.

Test clients connect from 127.0.0.2, so that the address the app logs can only be the
client's if nginx passed it on (nginx itself connects to the servers from 127.0.0.1)."""

import asyncio
import contextlib
import json
import os
import re
import shutil
import ssl
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import trustme
from websockets.asyncio.client import connect

from core.settings import Settings
from tests.factories import World
from tests.live_support import ServerProcess, bearer_token, events_until, free_port

pytestmark = pytest.mark.slow

SITE = Path(__file__).resolve().parents[1] / "deploy" / "nginx" / "phikat.conf"
CLIENT_ADDRESS = "127.0.0.2"
SERVER_NAME = "sos.example.go.th"
TEMP_KINDS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")

nginx_binary = shutil.which("nginx") or (
    "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None
)
needs_nginx = pytest.mark.skipif(nginx_binary is None, reason="nginx is not installed")


@dataclass
class Proxy:
    https: str
    http: str
    wss: str
    tls: ssl.SSLContext
    servers: tuple[ServerProcess, ServerProcess]
    logs: tuple[Path, Path]
    prefix: Path

    def log(self, index: int) -> str:
        return self.logs[index].read_text(errors="replace")


def render_site(site: str, replacements: dict[str, str]) -> str:
    """The committed site with this test's ports and paths; each text replaced must be
    found exactly once, so the test follows the file rather than a copy of it."""
    for old, new in replacements.items():
        assert site.count(old) == 1, f"{old!r} is in {SITE.name} {site.count(old)} times"
        site = site.replace(old, new)
    return site


def main_config(prefix: Path) -> str:
    """What /etc/nginx/nginx.conf gives a site, with every path inside ``prefix``."""
    temp = "\n".join(f"    {kind}_temp_path {prefix}/temp/{kind};" for kind in TEMP_KINDS)
    # As root (CI), nginx would hand its workers to `nobody`, who cannot enter pytest's
    # private temporary folder; as anyone else it keeps the user it runs as.
    user = "user root root;" if os.geteuid() == 0 else ""
    return f"""
{user}
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {prefix}/access.log;
    default_type application/octet-stream;
{temp}
    include {prefix}/phikat.conf;
}}
"""


def start_servers(
    settings: Settings, logs: tuple[Path, Path], stack: contextlib.ExitStack
) -> tuple[ServerProcess, ServerProcess]:
    """Two servers at once (each takes seconds to be ready), each stopped by ``stack``;
    at INFO, for the client addresses in their access logs."""

    def start(log: Path) -> ServerProcess:
        server = ServerProcess(
            settings, stack.enter_context(log.open("wb")), PHIKAT_LOG_LEVEL="INFO"
        )
        stack.callback(server.stop)
        return server

    with ThreadPoolExecutor(2) as pool:
        a, b = pool.map(start, logs)
    return a, b


def write_certificate(prefix: Path) -> ssl.SSLContext:
    """A throwaway CA's certificate for nginx; the client context that trusts that CA."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", SERVER_NAME)
    for n, pem in enumerate(cert.cert_chain_pems):
        pem.write_to_path(str(prefix / "fullchain.pem"), append=n > 0)
    cert.private_key_pem.write_to_path(str(prefix / "privkey.pem"))
    tls = ssl.create_default_context()
    ca.configure_trust(tls)
    return tls


def wait_until_serving(url: str, tls: ssl.SSLContext, nginx: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            if httpx.get(url, verify=tls, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            if nginx.poll() is not None or time.monotonic() > deadline:
                raise
        time.sleep(0.05)


@pytest.fixture(scope="module")
def proxy(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    assert nginx_binary is not None
    prefix = tmp_path_factory.mktemp("nginx")
    for kind in TEMP_KINDS:
        (prefix / "temp" / kind).mkdir(parents=True)
    tls = write_certificate(prefix)
    logs = (prefix / "server-a.log", prefix / "server-b.log")
    with contextlib.ExitStack() as stack:
        a, b = start_servers(settings, logs, stack)
        http_port, https_port = free_port(), free_port()
        live = f"/etc/letsencrypt/live/{SERVER_NAME}"
        site = render_site(
            SITE.read_text(),
            {
                "server 127.0.0.1:8001 ": f"server 127.0.0.1:{a.port} ",
                "server 127.0.0.1:8002 ": f"server 127.0.0.1:{b.port} ",
                # Loopback only, and no IPv6 (a CI container may have none).
                "listen 80;": f"listen 127.0.0.1:{http_port};",
                "    listen [::]:80;\n": "",
                "listen 443 ssl;": f"listen 127.0.0.1:{https_port} ssl;",
                "    listen [::]:443 ssl;\n": "",
                f"{live}/fullchain.pem": str(prefix / "fullchain.pem"),
                f"{live}/privkey.pem": str(prefix / "privkey.pem"),
                "root /var/www/html;": f"root {prefix / 'acme'};",
            },
        )
        (prefix / "phikat.conf").write_text(site)
        (prefix / "nginx.conf").write_text(main_config(prefix))
        command = [nginx_binary, "-p", str(prefix), "-c", str(prefix / "nginx.conf")]
        checked = subprocess.run(
            [*command, "-t"], capture_output=True, text=True, timeout=30, check=False
        )
        assert checked.returncode == 0, checked.stderr
        nginx = subprocess.Popen(
            [*command, "-g", "daemon off;"],
            stdin=subprocess.DEVNULL,
            stderr=stack.enter_context((prefix / "nginx.stderr").open("wb")),
        )
        stack.callback(nginx.wait, timeout=10)
        stack.callback(nginx.terminate)
        https = f"https://127.0.0.1:{https_port}"
        wait_until_serving(f"{https}/healthz", tls, nginx)
        yield Proxy(
            https=https,
            http=f"http://127.0.0.1:{http_port}",
            wss=f"wss://127.0.0.1:{https_port}/v1/live",
            tls=tls,
            servers=(a, b),
            logs=logs,
            prefix=prefix,
        )


@pytest.fixture
async def tls_client(proxy: Proxy) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.AsyncHTTPTransport(verify=proxy.tls, local_address=CLIENT_ADDRESS)
    async with httpx.AsyncClient(transport=transport, base_url=proxy.https, timeout=10) as c:
        yield c


def access_lines(log: str, request: str) -> list[str]:
    """uvicorn's access log lines for ``request`` ("POST /v1/sos"), with their client."""
    return [line for line in log.splitlines() if f'"{request} HTTP/1.1"' in line]


async def sos(client: httpx.AsyncClient, world: World) -> httpx.Response:
    return await client.post(
        "/v1/sos",
        json={"trigger": "button", "lat": 16.8852, "lon": 103.2551, "accuracy_m": 12},
        headers={**world.elder, "Idempotency-Key": str(uuid.uuid4())},
    )


@needs_nginx
async def test_an_sos_and_a_live_socket_through_nginx_and_tls(
    proxy: Proxy, tls_client: httpx.AsyncClient, world: World
) -> None:
    # Plain HTTP only redirects to HTTPS.
    async with httpx.AsyncClient() as plain:
        redirect = await plain.get(f"{proxy.http}/v1/sos")
    assert redirect.status_code == 301
    assert redirect.headers["location"] == "https://127.0.0.1/v1/sos"

    ws = await connect(proxy.wss, ssl=proxy.tls, local_addr=(CLIENT_ADDRESS, 0))
    async with ws:
        hello = {"type": "hello", "token": bearer_token(world.officer), "after": None}
        await ws.send(json.dumps(hello))
        welcome = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert welcome["type"] == "welcome", welcome
        tls_version = ws.transport.get_extra_info("ssl_object").version()
        assert tls_version in {"TLSv1.2", "TLSv1.3"}

        opened = await sos(tls_client, world)
        assert opened.status_code == 201, opened.text
        assert opened.headers["strict-transport-security"].startswith("max-age=")
        incident = opened.json()["incident_id"]
        frames = await events_until(
            ws, lambda f: f["event"] == "offer.sent" and f["incident_id"] == incident
        )
        mine = [f["event"] for f in frames if f["incident_id"] == incident]
        assert mine == ["incident.opened", "offer.sent"]

        # The socket went to one server; with it open, least_conn sends requests to the
        # other. Both logged this client's address, not nginx's.
        for _ in range(4):
            assert (await tls_client.get("/readyz")).status_code == 200
    served = [proxy.log(0), proxy.log(1)]
    assert all(CLIENT_ADDRESS in log for log in served), "a server got no request"
    sos_lines = access_lines(served[0] + served[1], "POST /v1/sos")
    assert len(sos_lines) == 1 and f"{CLIENT_ADDRESS}:" in sos_lines[0], sos_lines
    live_lines = [line for log in served for line in log.splitlines() if "/v1/live" in line]
    assert any(CLIENT_ADDRESS in line for line in live_lines), live_lines


@needs_nginx
async def test_limits_and_metrics_from_outside(
    proxy: Proxy, tls_client: httpx.AsyncClient, world: World
) -> None:
    # Above the app's limit: 413 problem+json, as the app gives it, from nginx itself,
    # which does not take it for a failed server (the app would have closed on it).
    big = await tls_client.post(
        "/v1/sos",
        content=b'{"pad": "' + b"x" * 300_000 + b'"}',
        headers={**world.elder, "Content-Type": "application/json"},
    )
    assert big.status_code == 413
    assert big.headers["content-type"] == "application/problem+json"
    assert big.json()["type"] == "urn:phikat:problem:body-too-large"
    # A zone import of 1.5 MB passes nginx (the zones' larger limit) to the app.
    zones = await tls_client.post(
        f"/v1/orgs/{world.org_id}/zones",
        content=b'{"pad": "' + b"x" * 1_500_000 + b'"}',
        headers={**world.officer, "Content-Type": "application/geo+json"},
    )
    assert zones.status_code == 422, zones.text[:200]
    # /metrics only for loopback: this client (127.0.0.2) is refused by nginx.
    assert (await tls_client.get("/metrics")).status_code == 403


@needs_nginx
async def test_a_server_stopped_loses_no_sos_and_none_left_gives_the_fallback_phone(
    proxy: Proxy, tls_client: httpx.AsyncClient, world: World
) -> None:
    first = await sos(tls_client, world)
    assert first.status_code in (200, 201), first.text
    stopped = proxy.servers[1]
    stopped.stop()
    # A request nginx could not send to the stopped server goes to the other one.
    for _ in range(3):
        joined = await sos(tls_client, world)
        assert joined.status_code == 200, joined.text
    errors = (proxy.prefix / "error.log").read_text()
    tried = [
        line
        for line in errors.splitlines()
        if "connect() failed" in line and f"//127.0.0.1:{stopped.port}/v1/sos" in line
    ]
    assert tried, "nginx never tried the stopped server: nothing was retried"
    proxy.servers[0].stop()
    refused = await sos(tls_client, world)
    assert refused.status_code == 503
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["retry-after"] == "5"
    body = refused.json()
    assert body["fallback_phone"] == Settings().national_fallback_phone
    assert body["type"] == "urn:phikat:problem:sos-unavailable"


def test_the_live_channel_outlasts_the_heartbeat_and_body_limits_are_the_apps() -> None:
    """Static: the site's timeouts and limits against the app's settings."""
    site = SITE.read_text()
    live = re.search(r"location = /v1/live \{(.*?)\}", site, re.S)
    assert live is not None
    read_timeout = re.search(r"proxy_read_timeout (\d+)s;", live.group(1))
    assert read_timeout is not None
    defaults = Settings()
    assert int(read_timeout.group(1)) >= 3 * defaults.live_heartbeat_s
    sizes = {"k": 1024, "m": 1024 * 1024}
    limits = [
        int(n) * sizes[unit] for n, unit in re.findall(r"client_max_body_size (\d+)([km]);", site)
    ]
    assert limits == [defaults.max_body_bytes, defaults.max_zone_import_bytes]
