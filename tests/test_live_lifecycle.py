"""The live socket's lifecycle: OPEN → CLOSING → CLOSED, the first decision final."""

import pytest

from notifications.live.lifecycle import IllegalMove, Lifecycle, SocketState


def test_the_lifecycle_refuses_illegal_moves() -> None:
    life = Lifecycle()
    with pytest.raises(IllegalMove):
        life.closed()  # a socket closes only after a decision
    assert life.close(1011, "too slow") and not life.close(4401, "revoked")
    assert life.decision is not None and life.decision.code == 1011  # the first one wins
    life.closed()
    assert life.state is SocketState.CLOSED and not life.close(1000, "again")
    with pytest.raises(IllegalMove):
        life.closed()
