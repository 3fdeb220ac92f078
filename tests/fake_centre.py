"""A local fake of a province 1669 centre's webhook: a real HTTP server on loopback
(uvicorn in a thread of its own) that records every hand-off it is sent, checks its
signature with its own HMAC code (not Phikat's), and answers from a script.

``script``: the status codes of the next answers, in order (then 200); a 2xx answer
carries ``{"reference": "C-<n>"}``. ``delay_s``: how long the next answers wait
(for timeouts), consumed like the script.
"""

import asyncio
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.loopback_server import LoopbackServer


def independent_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The signature as a centre would compute it from docs/handoff.md."""
    message = timestamp.encode("ascii") + b"." + body
    return "v1=" + hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


@dataclass
class Received:
    body: dict[str, Any]
    raw: bytes
    headers: dict[str, str]
    signature_ok: bool
    status: int


@dataclass
class FakeCentre:
    secret: str
    port: int = 0
    received: list[Received] = field(default_factory=list)
    script: list[int] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/eido"

    def app(self) -> Starlette:
        async def eido(request: Request) -> JSONResponse:
            raw = await request.body()
            timestamp = request.headers.get("x-phikat-timestamp", "")
            signed = request.headers.get("x-phikat-signature", "")
            ok = hmac.compare_digest(independent_signature(self.secret, timestamp, raw), signed)
            ok = ok and abs(time.time() - int(timestamp or 0)) < 300
            status = self.script.pop(0) if self.script else 200
            delay = self.delays.pop(0) if self.delays else 0.0
            self.received.append(Received(json.loads(raw), raw, dict(request.headers), ok, status))
            if delay:
                await asyncio.sleep(delay)
            if not ok:
                return JSONResponse({"error": "bad signature"}, status_code=401)
            body = {"reference": f"C-{len(self.received)}"} if status < 300 else {}
            return JSONResponse(body, status_code=status)

        return Starlette(routes=[Route("/eido", eido, methods=["POST"])])


class FakeCentreServer(LoopbackServer[FakeCentre]):
    """Runs a FakeCentre on a free loopback port in a background thread."""

    def __init__(self, secret: str) -> None:
        super().__init__(FakeCentre(secret=secret), "fake centre")
