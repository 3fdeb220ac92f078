"""A live socket's lifecycle: OPEN → CLOSING → CLOSED, and no other move.

The first decision to close wins (too slow, credentials revoked, token expired,
the client left, the server stopping) and is final: from then on the socket
sends no frame but its close frame. The decision is taken synchronously, where
the cause is seen, so no event can slip out between the cause and the close
(the defect of issue 11: a cancellation swallowed by ``asyncio.wait_for`` let a
socket stream on past a dropped batch or a revocation).
"""

import asyncio
import enum
from typing import NamedTuple


class SocketState(enum.Enum):
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


_MOVES = {
    SocketState.OPEN: {SocketState.CLOSING},
    SocketState.CLOSING: {SocketState.CLOSED},
    SocketState.CLOSED: set(),
}


class IllegalMove(RuntimeError):
    pass


class CloseDecision(NamedTuple):
    code: int
    reason: str
    # The client closed or vanished: there is nobody to send a close frame to.
    by_client: bool = False


class Lifecycle:
    """Where one socket stands; ``decided`` is set once a close is decided."""

    def __init__(self) -> None:
        self.state = SocketState.OPEN
        self.decision: CloseDecision | None = None
        self.decided = asyncio.Event()

    @property
    def is_open(self) -> bool:
        return self.state is SocketState.OPEN

    def close(self, code: int, reason: str, *, by_client: bool = False) -> bool:
        """Decide to close; True if this call decided, False if a decision stands already."""
        if self.state is not SocketState.OPEN:
            return False
        self._move(SocketState.CLOSING)
        self.decision = CloseDecision(code, reason, by_client)
        self.decided.set()
        return True

    def closed(self) -> None:
        """The close frame went out (or could not): the socket is done."""
        self._move(SocketState.CLOSED)

    def _move(self, to: SocketState) -> None:
        if to not in _MOVES[self.state]:
            raise IllegalMove(f"a live socket cannot move from {self.state.value} to {to.value}")
        self.state = to
