"""The fake Google of tests/fake_fcm.py with a control endpoint, for the fault suite, which
runs it in a process of its own: ``POST /_control {"fcm_status": 503, "hang": true,
"sms_delay_s": 3}`` changes how it answers; ``GET /_sends`` lists every push and SMS by
the outbox message id it carries, with the status it was answered."""

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.fake_fcm import FakeGoogle, _fcm_error

OUTAGES: dict[int, tuple[str, str]] = {
    500: ("INTERNAL", "INTERNAL"),
    503: ("UNAVAILABLE", "UNAVAILABLE"),
    429: ("RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"),
}


@dataclass
class FaultyGoogle(FakeGoogle):
    fcm_status: int = 200  # every push answered with this status (500, 503, 429)
    hang: bool = False  # pushes are recorded (accepted) and answered only once unset
    held_now: int = 0
    sends: list[dict[str, Any]] = field(default_factory=list)

    def _answer(self, token: str) -> Any:
        if self.fcm_status in OUTAGES:
            grpc, code = OUTAGES[self.fcm_status]
            return _fcm_error(self.fcm_status, grpc, code, {"Retry-After": "1"})
        return super()._answer(token)

    async def _send(self, request: Request) -> Any:
        body = await request.json()
        message = body["message"]
        hung = self.hang
        response = await super()._send(request)
        self.sends.append(
            {
                "route": "push",
                "id": message.get("data", {}).get("message_id"),
                "status": response.status_code,
                "at": time.time(),
                "hung": hung,
            }
        )
        if hung:
            self.held_now += 1
            try:
                while self.hang:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            finally:
                self.held_now -= 1
        return response

    async def _sms(self, request: Request) -> JSONResponse:
        response = await super()._sms(request)
        self.sends.append(
            {
                "route": "sms",
                "id": request.headers.get("idempotency-key"),
                "status": response.status_code,
                "at": time.time(),
                "hung": False,
            }
        )
        return response

    async def _control(self, request: Request) -> JSONResponse:
        change = await request.json()
        for name in ("fcm_status", "hang", "sms_delay_s", "fcm_delay_s"):
            if name in change:
                setattr(self, name, change[name])
        return JSONResponse({"held_now": self.held_now, "fcm_status": self.fcm_status})

    async def _sends(self, request: Request) -> JSONResponse:
        return JSONResponse({"held_now": self.held_now, "sends": self.sends})

    def app(self) -> Starlette:
        app = super().app()
        app.router.routes += [
            Route("/_control", self._control, methods=["POST"]),
            Route("/_sends", self._sends, methods=["GET"]),
        ]
        return app


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    fake = FaultyGoogle(port=parser.parse_args().port)
    uvicorn.run(fake.app(), host="127.0.0.1", port=fake.port, log_level="warning")
