"""Real servers on loopback and a real WebSocket client, for the live channel tests."""

import asyncio
import base64
import json
import os
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from core.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """`phikat serve` on a loopback port, sharing the tests' database and secret."""

    def __init__(self, settings: Settings, output: IO[bytes] | None = None, /, **env: str) -> None:
        self.port = free_port()
        self.http = f"http://127.0.0.1:{self.port}"
        self.ws = f"ws://127.0.0.1:{self.port}/v1/live"
        environ = {
            **os.environ,
            "PHIKAT_DATABASE_URL": settings.database_url,
            "PHIKAT_SECRET_KEY": settings.secret_key.get_secret_value(),
            "PHIKAT_RUN_WORKER": "false",
            "PHIKAT_LOG_LEVEL": "WARNING",
            **env,
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "api", "serve", "--port", str(self.port)],
            env=environ,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT if output else None,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                # Ready for SOS, and listening for live events (tests use both).
                if all(
                    httpx.get(f"{self.http}{path}", timeout=1).status_code == 200
                    for path in ("/readyz", "/readyz/live")
                ):
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("server did not become ready")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextmanager
def running_server(settings: Settings, **env: str) -> Iterator[ServerProcess]:
    server = ServerProcess(settings, **env)
    try:
        yield server
    finally:
        server.stop()


def bearer_token(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


async def open_live(
    url: str,
    headers: dict[str, str],
    *,
    after: int | None = None,
    hello_extra: dict[str, Any] | None = None,
    **kwargs: Any,
) -> tuple[ClientConnection, dict[str, Any]]:
    """Connect, say hello, return the socket and the welcome frame."""
    ws = await connect(url, **kwargs)
    hello = {"type": "hello", "token": bearer_token(headers), "after": after, **(hello_extra or {})}
    await ws.send(json.dumps(hello))
    welcome = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert welcome["type"] == "welcome", welcome
    return ws, welcome


async def next_event(ws: ClientConnection, *, timeout: float = 10) -> dict[str, Any]:
    """The next event frame (heartbeats skipped)."""
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if frame["type"] == "event":
            return frame  # type: ignore[no-any-return]


async def events_until(
    ws: ClientConnection, predicate: Any, *, timeout: float = 10
) -> list[dict[str, Any]]:
    """Event frames up to and including the first one for which ``predicate`` is true."""
    frames = []
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        frame = await next_event(ws, timeout=max(remaining, 0.01))
        frames.append(frame)
        if predicate(frame):
            return frames


async def drain(ws: ClientConnection, *, quiet_s: float = 0.5) -> list[dict[str, Any]]:
    """Every event frame until the socket stays quiet for ``quiet_s``."""
    frames = []
    while True:
        try:
            frames.append(await next_event(ws, timeout=quiet_s))
        except TimeoutError:
            return frames


class StalledClient:
    """A WebSocket client that says hello and then never reads: the slow consumer.

    Written on a raw socket with a tiny receive buffer, so that the server's
    sends back up within a few kilobytes instead of filling megabytes of
    kernel buffers first.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int, headers: dict[str, str]) -> "StalledClient":
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting
        sock.connect(("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET /v1/live HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        response = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert response.startswith(b"HTTP/1.1 101"), response
        hello = json.dumps({"type": "hello", "token": bearer_token(headers), "after": None})
        writer.write(_masked_text_frame(hello.encode()))
        await writer.drain()
        return cls(reader, writer)

    async def close_code(self, *, timeout: float) -> int | None:
        """Read what the server sent until its close frame; that frame's code."""
        data = b""
        code = None
        async with asyncio.timeout(timeout):
            while code is None and (chunk := await self.reader.read(1 << 20)):
                data += chunk
                code = _close_code(data)
        self.writer.close()
        return code


def _masked_text_frame(payload: bytes) -> bytes:
    mask = os.urandom(4)
    header = bytes([0x81])
    length = len(payload)
    if length < 126:
        header += bytes([0x80 | length])
    else:
        header += bytes([0x80 | 126]) + struct.pack("!H", length)
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def _close_code(data: bytes) -> int | None:
    """Walk the server's (unmasked) frames; the close frame's status code, or None
    while the data does not yet hold a complete close frame."""
    offset = 0
    while True:
        if offset + 2 > len(data):
            return None
        opcode, length = data[offset] & 0x0F, data[offset + 1] & 0x7F
        offset += 2
        extra = {126: 2, 127: 8}.get(length, 0)
        if offset + extra > len(data):
            return None
        if extra:
            length = int.from_bytes(data[offset : offset + extra], "big")
            offset += extra
        if offset + length > len(data):
            return None
        if opcode == 0x8 and length >= 2:
            return int.from_bytes(data[offset : offset + 2], "big")
        offset += length
