"""The channel used when no real one is configured: the message goes to the log."""

import logging

from notifications.channels.base import Delivery, Outcome

log = logging.getLogger("phikat.messages")


class LogChannel:
    def __init__(self, name: str) -> None:
        self.name = name

    async def send(self, deliveries: list[Delivery]) -> list[Outcome]:
        for d in deliveries:
            log.info(
                "NOT SENT (%s not configured) to %s: %s — %s",
                self.name,
                d.address[:12],
                d.title,
                d.body,
            )
        return [Outcome(ok=True) for _ in deliveries]

    async def close(self) -> None:
        return None
