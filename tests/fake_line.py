"""A local fake of LINE's Messaging API (push, multicast, reply), on loopback.

A real HTTP server (uvicorn in a thread of its own, like ``tests.fake_fcm``) that
the official SDK is pointed at (``Configuration(host=...)``). It behaves as LINE
documents:

- a bearer token not in ``tokens``: 401;
- ``X-Line-Retry-Key``: a key whose request was accepted (2xx) once is answered 409
  with ``X-Line-Accepted-Request-Id`` and delivers nothing; a key whose request failed
  (429, 5xx) may be retried;
- user ids by prefix: ``Uinvalid``: 400 (LINE refuses the recipient); ``Uquota``: 429
  "You have reached your monthly limit."; ``fail_next[user] = [(status, retry_after),
  ...]`` answers those first (429 with Retry-After, 500, ...);
- each accepted message lands in ``delivered[user]``: what the family member sees.

Every request is kept in ``requests`` (path, retry key, token, body, status).
"""

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.loopback_server import LoopbackServer


def sign(secret: str, body: bytes) -> str:
    """``X-Line-Signature``: base64 of the HMAC-SHA256 of the body with the channel secret."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


@dataclass
class FakeLine:
    port: int = 0
    tokens: set[str] = field(default_factory=set)
    requests: list[dict[str, Any]] = field(default_factory=list)
    delivered: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    replies: list[dict[str, Any]] = field(default_factory=list)
    fail_next: dict[str, list[tuple[int, int | None]]] = field(default_factory=dict)
    # retry key -> the request id that was accepted under it
    accepted: dict[str, str] = field(default_factory=dict)
    push_delay_s: float = 0.0  # a slow LINE: every push answered this much later

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pushes(self, user: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"].endswith("/push") and r["to"] == [user]]

    async def _push(self, request: Request) -> JSONResponse:
        body = await request.json()
        await asyncio.sleep(self.push_delay_s)
        return self._send(request, body, [body["to"]])

    async def _multicast(self, request: Request) -> JSONResponse:
        body = await request.json()
        return self._send(request, body, list(body["to"]))

    def _send(self, request: Request, body: dict[str, Any], to: list[str]) -> JSONResponse:
        key = request.headers.get("x-line-retry-key")
        response = self._answer(request, body, to, key)
        self.requests.append(
            {
                "path": request.url.path,
                "to": to,
                "retry_key": key,
                "token": request.headers.get("authorization", "").removeprefix("Bearer "),
                "body": body,
                "status": response.status_code,
                "at": time.time(),
            }
        )
        return response

    def _answer(
        self, request: Request, body: dict[str, Any], to: list[str], key: str | None
    ) -> JSONResponse:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in self.tokens:
            return _error(401, "Authentication failed. Confirm that the access token is valid.")
        if key is not None:
            try:
                uuid.UUID(key)
            except ValueError:
                return _error(400, "The value for the 'X-Line-Retry-Key' header is invalid")
            if key in self.accepted:
                return _error(
                    409,
                    "The retry key is already accepted",
                    {"X-Line-Accepted-Request-Id": self.accepted[key]},
                )
        messages = body.get("messages") or []
        if not messages or any(not m.get("altText") for m in messages if m["type"] == "flex"):
            return _error(400, "A message (messages[0]) in the request body is invalid")
        for user in to:
            waiting = self.fail_next.get(user)
            if waiting:
                status, retry_after = waiting.pop(0)
                headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
                return _error(status, "fake failure", headers)
            if user.startswith("Uinvalid"):
                return _error(400, "Failed to send messages")
            if user.startswith("Uquota"):
                return _error(429, "You have reached your monthly limit.")
        request_id = uuid.uuid4().hex
        if key is not None:
            self.accepted[key] = request_id
        sent: list[dict[str, str]] = []
        for user in to:
            for message in messages:
                self.delivered.setdefault(user, []).append(message)
                sent.append({"id": str(len(self.requests) + len(sent) + 1), "quoteToken": "q"})
        return JSONResponse({"sentMessages": sent}, headers={"X-Line-Request-Id": request_id})

    async def _reply(self, request: Request) -> JSONResponse:
        body = await request.json()
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in self.tokens:
            return _error(401, "Authentication failed.")
        self.replies.append({**body, "token": token})
        return JSONResponse({"sentMessages": [{"id": "r", "quoteToken": "q"}]})

    def reply_texts(self, reply_token: str) -> list[str]:
        return [
            m["text"] for r in self.replies if r["replyToken"] == reply_token for m in r["messages"]
        ]

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v2/bot/message/push", self._push, methods=["POST"]),
                Route("/v2/bot/message/multicast", self._multicast, methods=["POST"]),
                Route("/v2/bot/message/reply", self._reply, methods=["POST"]),
            ]
        )


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status, headers=headers)


class FakeLineServer(LoopbackServer[FakeLine]):
    """Runs a FakeLine on a free loopback port in a background thread."""

    def __init__(self) -> None:
        super().__init__(FakeLine(), "fake LINE")


def webhook_body(*events: dict[str, Any]) -> bytes:
    return json.dumps(
        {"destination": "Uaccount", "events": list(events)}, ensure_ascii=False
    ).encode()


def _base(kind: str, user: str) -> dict[str, Any]:
    return {
        "type": kind,
        "mode": "active",
        "timestamp": int(time.time() * 1000),
        "source": {"type": "user", "userId": user},
        "webhookEventId": uuid.uuid4().hex.upper()[:26],
        "deliveryContext": {"isRedelivery": False},
    }


def follow_event(user: str, reply_token: str) -> dict[str, Any]:
    return {**_base("follow", user), "replyToken": reply_token, "follow": {"isUnblocked": False}}


def unfollow_event(user: str) -> dict[str, Any]:
    return _base("unfollow", user)


def text_event(user: str, reply_token: str, text: str) -> dict[str, Any]:
    return {
        **_base("message", user),
        "replyToken": reply_token,
        "message": {"type": "text", "id": uuid.uuid4().hex[:18], "text": text, "quoteToken": "q"},
    }
