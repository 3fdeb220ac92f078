"""A fake of an outside service (FCM, LINE, a 1669 centre) served by uvicorn on a free
loopback port, in a background thread of its own."""

import asyncio
import socket
import threading
import time
from typing import Generic, Protocol, TypeVar

import uvicorn
from starlette.types import ASGIApp


class Fake(Protocol):
    port: int

    def app(self) -> ASGIApp: ...


F = TypeVar("F", bound=Fake)


class LoopbackServer(Generic[F]):
    """``with LoopbackServer(fake, "fake X") as fake:``: the fake, on its port, served."""

    def __init__(self, state: F, name: str) -> None:
        self.state = state
        self.name = name
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.state.port = s.getsockname()[1]
        config = uvicorn.Config(
            self.state.app(),
            host="127.0.0.1",
            port=self.state.port,
            log_level="warning",
            lifespan="off",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve()), daemon=True)

    def __enter__(self) -> F:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, f"{self.name} did not start"
            time.sleep(0.02)
        return self.state

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
