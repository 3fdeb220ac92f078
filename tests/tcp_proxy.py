"""A TCP proxy on loopback in front of PostgreSQL, to take the database away from a
server process without touching the shared cluster: it forwards, refuses new
connections and cuts the open ones, or goes silent (a host that vanished)."""

import asyncio
import contextlib
import enum

from tests.live_support import free_port


class Mode(enum.Enum):
    FORWARD = "forward"
    REFUSE = "refuse"  # nothing listens: connection refused at once
    SILENT = "silent"  # accepts, never answers; open connections stop forwarding


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.mode = Mode.FORWARD
        self._server: asyncio.Server | None = None
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def stop(self) -> None:
        await self._close_listener()
        await self._cut_all()

    async def set_mode(self, mode: Mode) -> None:
        self.mode = mode
        if mode is Mode.SILENT:
            self._flowing.clear()
        else:
            self._flowing.set()
        if mode is Mode.REFUSE:
            await self._close_listener()
            await self._cut_all()
        elif self._server is None:
            await self.start()

    async def _close_listener(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _cut_all(self) -> None:
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        if self.mode is not Mode.FORWARD:
            return  # silent: the client waits for an answer that never comes
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers.add(up_writer)
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.ensure_future(self._pipe(source, sink))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while chunk := await source.read(65536):
                await self._flowing.wait()  # silent: hold the bytes, the peer hears nothing
                sink.write(chunk)
                await sink.drain()
        sink.close()
