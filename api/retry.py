"""Run a request again when PostgreSQL aborted its transaction as a deadlock or a
serialization failure (core.uow explains the lock order that makes this rare).

The request's unit of work commits before the response starts (``SessionDep``),
so an aborted transaction always surfaces here before anything was sent, and
nothing of it was stored: the request runs again from the start, with the body
it already read replayed. After the last attempt the error goes on to the
problem handlers (503 with Retry-After).
"""

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.uow import MAX_ATTEMPTS, note_retry, retry_delay_s, retryable_sqlstate


def _replaying(recorded: list[Message], receive: Receive) -> Receive:
    """A receive that gives the body messages already read, then the real ones."""
    pending = list(recorded)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


def _recording(receive: Receive, recorded: list[Message]) -> Receive:
    async def record() -> Message:
        message = await receive()
        if message["type"] == "http.request":
            recorded.append(message)
        return message

    return record


class RetryMiddleware:
    def __init__(self, app: ASGIApp, *, max_attempts: int = MAX_ATTEMPTS) -> None:
        self.app = app
        self.max_attempts = max_attempts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        recorded: list[Message] = []
        first_receive = _recording(receive, recorded)
        attempt_receive = first_receive
        attempt = 1
        while True:
            started = False

            async def tracking_send(message: Message, _send: Send = send) -> None:
                nonlocal started
                if message["type"] == "http.response.start":
                    started = True
                await _send(message)

            try:
                # A copy: the framework writes per-attempt state into the scope.
                await self.app(dict(scope), attempt_receive, tracking_send)
                return
            except Exception as exc:
                sqlstate = retryable_sqlstate(exc)
                if sqlstate is None or started or attempt >= self.max_attempts:
                    raise
                note_retry(sqlstate, attempt, f"{scope['method']} {scope['path']}")
                await asyncio.sleep(retry_delay_s(attempt))
                attempt += 1
                attempt_receive = _replaying(recorded, first_receive)
