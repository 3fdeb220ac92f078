"""Security headers on every response; a Content-Security-Policy on the pages."""

from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COMMON = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def tile_source(tiles_url: str | None) -> str:
    """The CSP source that lets the map load its tiles (none without a tile layer)."""
    if not tiles_url:
        return ""
    parts = urlsplit(tiles_url.replace("{s}.", "*."))
    return f"{parts.scheme}://{parts.netloc}"


def page_policy(tiles_url: str | None) -> str:
    tiles = tile_source(tiles_url)
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            # Leaflet positions its panes and markers with style attributes.
            "style-src 'self' 'unsafe-inline'",
            f"img-src 'self' data: blob: {tiles}".strip(),
            "connect-src 'self' ws: wss:",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'self'",
        ]
    )


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, tiles_url: str | None) -> None:
        self.app = app
        self.policy = page_policy(tiles_url)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in COMMON.items():
                    headers.setdefault(name, value)
                if headers.get("content-type", "").startswith("text/html"):
                    headers["Content-Security-Policy"] = self.policy
                if scope.get("scheme") == "https":
                    headers.setdefault("Strict-Transport-Security", "max-age=31536000")
            await send(message)

        await self.app(scope, receive, with_headers)
