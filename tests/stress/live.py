"""Live sockets that behave like phones and maps: they read (some slowly), reconnect with
``after`` when the server closes them with 1011 (or on a whim), and record every frame,
so the run can check afterwards that nothing was lost, repeated or reordered."""

import asyncio
import contextlib
import json
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

UNAUTHENTICATED = 4401
SLOW_CONSUMER = 1011

Frame = dict[str, Any]


@dataclass
class Connection:
    """One WebSocket connection of a chain."""

    server: int
    after: int | None  # what the hello asked for
    start: int = 0  # events after this id are owed: ``after``, else the welcome's last id
    ids: list[int] = field(default_factory=list)
    welcomed: bool = False
    close_code: int | None = None  # the server's close code (None: open, or we closed it)
    closed_by_client: bool = False
    errors: list[str] = field(default_factory=list)  # {"type": "error"} frames
    opened_at: float = 0.0  # loop time
    closed_at: float = 0.0
    stalls: list[tuple[float, float]] = field(default_factory=list)

    def story(self, zero: float) -> str:
        """When it opened and closed, and when it stopped reading (seconds from ``zero``)."""
        stalls = ", ".join(f"{a - zero:.1f}-{b - zero:.1f}" for a, b in self.stalls[-4:])
        return (
            f"open {self.opened_at - zero:.1f}-{self.closed_at - zero:.1f}s, "
            f"{len(self.ids)} events, last {self.ids[-1] if self.ids else None}, "
            f"stalls [{stalls}]"
        )


class LiveChain:
    """One client (a phone or an officer's map) over its successive connections.

    ``slow`` clients stop reading now and then for seconds, with tiny buffers, so the
    server's queue for them fills: the server must close them with 1011, and they
    resume with ``after`` = the last id they got.
    """

    def __init__(
        self,
        name: str,
        role: str,
        principal_id: str,
        token: str,
        urls: list[str],
        servers: list[int],
        *,
        rng: random.Random,
        slow: bool = False,
        on_event: Callable[[Frame], None] | None = None,
    ) -> None:
        self.name = name
        self.role = role
        self.principal_id = principal_id
        self.token = token
        self.urls = urls
        self.servers = servers
        self.rng = rng
        self.slow = slow
        self.on_event = on_event
        self.connections: list[Connection] = []
        self.frames: dict[int, Frame] = {}
        self.revoked = False
        self.failed_connects: list[str] = []
        self.voluntary_reconnects = 0
        self.crashed: BaseException | None = None
        self._next_stall = 0.0
        self._closing = False
        self._ws: ClientConnection | None = None
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # --- what it got --------------------------------------------------------------

    @property
    def received(self) -> list[int]:
        return [i for c in self.connections for i in c.ids]

    @property
    def last_id(self) -> int | None:
        welcomed = [c for c in self.connections if c.welcomed]
        for conn in reversed(welcomed):
            if conn.ids:
                return conn.ids[-1]
        return welcomed[-1].start if welcomed else None

    @property
    def start(self) -> int | None:
        welcomed = [c for c in self.connections if c.welcomed]
        return welcomed[0].start if welcomed else None

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    # --- running --------------------------------------------------------------------

    def start_running(self) -> None:
        self._next_stall = asyncio.get_running_loop().time() + self.rng.uniform(3, 10)
        self._task = asyncio.create_task(self._run(), name=f"live {self.name}")

    async def finish(self, owed: Callable[["LiveChain"], set[int]], *, timeout: float) -> None:
        """Wait until the chain got everything ``owed`` (or was revoked), then close it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.revoked and not owed(self) <= set(self.received):
            if self._task is None or self._task.done() or loop.time() > deadline:
                break
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.5):
                    await self._changed.wait()
        self._closing = True
        if self._ws is not None:
            _drop(self._ws)
        if self._task is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(15):
                    await asyncio.shield(self._task)
            if not self._task.done():
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
            elif not self._task.cancelled():
                self.crashed = self._task.exception()

    async def send_receipt(self, offer_id: str) -> bool:
        """A delivery receipt on the socket; False when there is no open socket."""
        ws = self._ws
        if ws is None:
            return False
        try:
            await ws.send(json.dumps({"type": "receipt", "offer_id": offer_id}))
        except ConnectionClosed:
            return False
        return True

    async def _open(self, url: str) -> ClientConnection:
        if not self.slow:
            return await connect(url, open_timeout=30, ping_interval=None, max_size=None)
        # A phone on a bad line: a small receive buffer, and the library stops reading as
        # soon as two frames wait, so the server's writes back up during a stall. (Not
        # below the loopback MSS, 64 KiB: TCP would then crawl on zero-window probes.)
        host = urlsplit(url)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host.hostname, host.port))
        return await connect(
            url, sock=sock, open_timeout=30, ping_interval=None, max_size=None, max_queue=(2, 1)
        )

    async def _run(self) -> None:
        while not self._closing:
            server = self.rng.choice(self.servers)
            conn = Connection(server=server, after=self.last_id, opened_at=self._now())
            try:
                ws = await self._open(self.urls[server])
            except (OSError, InvalidHandshake, TimeoutError) as exc:
                self.failed_connects.append(f"{self.urls[server]}: {exc!r}")
                await asyncio.sleep(0.5)
                continue
            self._ws = ws
            try:
                await self._serve(ws, conn)
            except TimeoutError:
                conn.errors.append("no welcome within 30 s")
            except ConnectionClosed as closed:
                if self._closing:
                    conn.closed_by_client = True
                elif not conn.closed_by_client:
                    conn.close_code = closed.rcvd.code if closed.rcvd else None
            finally:
                if self._closing and conn.close_code is None:
                    conn.closed_by_client = True  # finish() ended it
                conn.closed_at = self._now()
                self._ws = None
                _drop(ws)
                self._changed.set()
            if conn.close_code == UNAUTHENTICATED:
                self.revoked = True
                return

    async def _serve(self, ws: ClientConnection, conn: Connection) -> None:
        await ws.send(json.dumps({"type": "hello", "token": self.token, "after": conn.after}))
        try:
            async with asyncio.timeout(30):
                welcome = json.loads(await ws.recv())
        finally:
            # A hello refused (4401) is a connection too: it shows how the chain ended.
            self.connections.append(conn)
        if welcome.get("type") != "welcome":
            conn.errors.append(f"expected a welcome, got {welcome!r}")
            return
        conn.start = conn.after if conn.after is not None else int(welcome["last_event_id"])
        conn.welcomed = True
        while not self._closing:
            frame = json.loads(await ws.recv())
            kind = frame.get("type")
            if kind == "event":
                conn.ids.append(frame["id"])
                self.frames.setdefault(frame["id"], frame)
                self._changed.set()
                if self.on_event is not None:
                    self.on_event(frame)
            elif kind == "error":
                conn.errors.append(str(frame.get("detail")))
            elif kind != "ping":
                conn.errors.append(f"unexpected frame {frame!r}")
            now = asyncio.get_running_loop().time()
            if self.slow and now > self._next_stall:
                # The phone stops reading for a few seconds, then reads on for a while:
                # the 1011 the server sends it (with a 10 s close handshake) still arrives.
                stalled = self._now()
                await asyncio.sleep(self.rng.uniform(2, 5))
                conn.stalls.append((stalled, self._now()))
                self._next_stall = asyncio.get_running_loop().time() + self.rng.uniform(8, 15)
            elif self.rng.random() < 0.004:
                # A phone that loses its connection (a tunnel, a restart) and resumes with
                # ``after``. Dropped, not closed: a close handshake would wait for frames
                # queued behind the ones this client has not read.
                conn.closed_by_client = True
                self.voluntary_reconnects += 1
                _drop(ws)
                return


def _drop(ws: ClientConnection) -> None:
    """End the connection at once, as a phone losing its network does."""
    ws.transport.abort()
