"""A local fake of Google's OAuth token endpoint, the FCM HTTP v1 API and an SMS webhook.

A real HTTP server on loopback (uvicorn in a thread of its own, so the SDK's
synchronous token refresh cannot deadlock the test's event loop). It records
every request and answers each FCM token by its prefix:

    unregistered-*  404 UNREGISTERED        invalid-*  400 INVALID_ARGUMENT
    quota-*         429 QUOTA_EXCEEDED      busy-*     429 RESOURCE_EXHAUSTED, Retry-After: 7
    down-*          503 UNAVAILABLE (firebase-admin itself retries these)
    anything else   200

``fail_next[token] = n`` makes a token fail (429, Retry-After: 1) n times first.
Slow or stuck providers: ``token_delay_s`` (Google's token endpoint),
``fcm_delay_s`` and ``sms_delay_s`` delay every answer; a token in ``held`` is
recorded on arrival (the provider has it) and answered only once removed.
Access tokens in ``revoked`` get 401. ``fcm_overlap`` is the most requests for one
message (collapse key) in flight at once.
"""

import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.loopback_server import LoopbackServer

PROJECT = "phikat-test"


def _fcm_error(status: int, grpc: str, code: str, headers: dict[str, str] | None = None) -> Any:
    body = {
        "error": {
            "code": status,
            "message": f"fake {code}",
            "status": grpc,
            "details": [
                {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}
            ],
        }
    }
    return JSONResponse(body, status_code=status, headers=headers)


@dataclass
class FakeGoogle:
    fcm: list[dict[str, Any]] = field(default_factory=list)
    sms: list[dict[str, Any]] = field(default_factory=list)
    token_requests: int = 0
    fail_next: dict[str, int] = field(default_factory=dict)
    sms_failures: int = 0
    port: int = 0
    token_delay_s: float = 0.0
    fcm_delay_s: float = 0.0
    sms_delay_s: float = 0.0
    held: set[str] = field(default_factory=set)
    revoked: set[str] = field(default_factory=set)  # access tokens answered 401
    sms_arrived_at: list[float] = field(default_factory=list)
    fcm_overlap: int = 0
    _in_flight: dict[str, int] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def tokens_sent(self) -> list[str]:
        return [m["body"]["message"]["token"] for m in self.fcm if m["status"] == 200]

    async def _token(self, request: Request) -> JSONResponse:
        self.token_requests += 1
        await asyncio.sleep(self.token_delay_s)
        return JSONResponse(
            {
                "access_token": f"fake-{self.token_requests}",
                "expires_in": 3600,
                "token_type": "Bearer",
            }
        )

    async def _send(self, request: Request) -> Any:
        body = await request.json()
        token = body["message"]["token"]
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        if bearer in self.revoked:
            response = _fcm_error(401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR")
        else:
            response = self._answer(token)
        self.fcm.append(
            {
                "path": request.url.path,
                "headers": dict(request.headers),
                "body": body,
                "status": response.status_code,
                "at": time.time(),
                "size": len(await request.body()),
            }
        )
        collapse = body["message"].get("android", {}).get("collapse_key", "")
        self._in_flight[collapse] = self._in_flight.get(collapse, 0) + 1
        self.fcm_overlap = max(self.fcm_overlap, self._in_flight[collapse])
        try:
            await asyncio.sleep(self.fcm_delay_s)
            # Released from the test's thread, which cannot set an asyncio.Event of this loop.
            while token in self.held:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        finally:
            self._in_flight[collapse] -= 1
        return response

    def _answer(self, token: str) -> Any:
        if self.fail_next.get(token, 0) > 0:
            self.fail_next[token] -= 1
            return _fcm_error(429, "RESOURCE_EXHAUSTED", "INTERNAL", {"Retry-After": "1"})
        if token.startswith("unregistered-"):
            return _fcm_error(404, "NOT_FOUND", "UNREGISTERED")
        if token.startswith("invalid-"):
            return _fcm_error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT")
        if token.startswith("quota-"):
            return _fcm_error(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", {"Retry-After": "5"})
        if token.startswith("busy-"):
            return _fcm_error(429, "RESOURCE_EXHAUSTED", "INTERNAL", {"Retry-After": "7"})
        if token.startswith("down-"):
            return _fcm_error(503, "UNAVAILABLE", "UNAVAILABLE")
        return JSONResponse({"name": f"projects/{PROJECT}/messages/{len(self.fcm)}"})

    async def _sms(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.sms_arrived_at.append(time.time())
        await asyncio.sleep(self.sms_delay_s)
        if self.sms_failures > 0:
            self.sms_failures -= 1
            return JSONResponse({"error": "busy"}, status_code=503)
        self.sms.append(body)
        return JSONResponse({"ok": True})

    async def _recorded(self, request: Request) -> JSONResponse:
        """For benchmarks in another process: when each token's pushes arrived."""
        token = request.query_params.get("token")
        return JSONResponse(
            [
                {"token": m["body"]["message"]["token"], "at": m["at"], "status": m["status"]}
                for m in self.fcm
                if token is None or m["body"]["message"]["token"] == token
            ]
        )

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/_recorded", self._recorded, methods=["GET"]),
                Route("/token", self._token, methods=["POST"]),
                Route("/v1/projects/{project}/messages:send", self._send, methods=["POST"]),
                Route("/sms", self._sms, methods=["POST"]),
            ]
        )


class FakeGoogleServer(LoopbackServer[FakeGoogle]):
    """Runs a FakeGoogle on a free loopback port in a background thread."""

    def __init__(self) -> None:
        super().__init__(FakeGoogle(), "fake Google")


def service_account_file(path: Path, token_uri: str) -> Path:
    """A throwaway service account whose token exchange goes to the fake."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": PROJECT,
                "private_key_id": "fake-key",
                "private_key": pem,
                "client_email": f"sender@{PROJECT}.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": token_uri,
            }
        )
    )
    return path


if __name__ == "__main__":  # a fake in its own process, for the benchmarks
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    fake = FakeGoogle(port=parser.parse_args().port)
    uvicorn.run(fake.app(), host="127.0.0.1", port=fake.port, log_level="warning")
