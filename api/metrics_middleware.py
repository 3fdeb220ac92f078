"""Counts what the on-call person watches at the HTTP edge: SOS by outcome and 5xx by
route. Outermost, so a 503 from the database watch or a retry exhausted is counted."""

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core import metrics

SOS_PATH = "/v1/sos"


def sos_outcome(status: int, replayed: bool) -> str:
    if status == 201:
        return "opened"
    if status == 200:
        return "replayed" if replayed else "joined"
    if status == 429:
        return "rate_limited"
    if status == 503:
        return "unavailable"
    return "error" if status >= 500 else "rejected"


def route_template(scope: Scope) -> str:
    """The route's path template (never the raw path: ids would explode the labels)."""
    for route in scope["app"].router.routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return str(getattr(route, "path", "unmatched"))
    return "unmatched"


class MetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status, replayed = 500, False

        async def watching_send(message: Message) -> None:
            nonlocal status, replayed
            if message["type"] == "http.response.start":
                status = message["status"]
                replayed = any(k.lower() == b"idempotent-replayed" for k, _ in message["headers"])
            await send(message)

        try:
            await self.app(scope, receive, watching_send)
        finally:
            if status >= 500:
                metrics.HTTP_5XX.labels(route_template(scope), str(status)).inc()
            if scope["path"] == SOS_PATH and scope["method"] == "POST":
                metrics.SOS.labels(sos_outcome(status, replayed)).inc()
