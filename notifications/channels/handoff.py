"""The 1669 hand-off webhook: each record (a JSON document) is POSTed to the province
centre's URL, signed with the secret shared with it (``notifications.signing``).

2xx is a delivery; its JSON body may carry the centre's ``reference`` for the
incident (the receipt). 408, 425, 429, 5xx and no answer in time are transient
(retried with backoff, Retry-After honoured); any other answer refuses the message.
"""

import asyncio

import httpx

from notifications.channels.base import Delivery, Outcome
from notifications.signing import sign

TRANSIENT = {408, 425, 429, 500, 502, 503, 504}
DELIVERY_HEADER = "X-Phikat-Delivery"


class HandoffWebhookChannel:
    name = "handoff"

    def __init__(self, *, timeout_s: float = 10.0) -> None:
        self.client = httpx.AsyncClient(timeout=timeout_s)

    async def send(self, deliveries: list[Delivery]) -> list[Outcome]:
        return list(await asyncio.gather(*(self._one(d) for d in deliveries)))

    async def _one(self, delivery: Delivery) -> Outcome:
        if not delivery.secret:
            return Outcome(ok=False, error="no shared secret for the 1669 centre")
        body = delivery.body.encode()
        headers = {
            "Content-Type": "application/json",
            # The same id on a resend: the centre can tell a retry from a new version.
            DELIVERY_HEADER: str(delivery.message_id),
            **sign(delivery.secret, body),
        }
        try:
            response = await self.client.post(delivery.address, content=body, headers=headers)
        except httpx.TimeoutException:
            return Outcome(ok=False, retry_after_s=0, error="1669 centre: no answer in time")
        except httpx.HTTPError as exc:
            return Outcome(ok=False, retry_after_s=0, error=f"1669 centre unreachable: {exc}")
        if response.is_success:
            return Outcome(ok=True, receipt=_reference(response))
        if response.status_code in TRANSIENT:
            return Outcome(
                ok=False,
                retry_after_s=_retry_after(response),
                error=f"1669 centre {response.status_code}",
            )
        return Outcome(ok=False, error=f"1669 centre refused: {response.status_code}")

    async def close(self) -> None:
        await self.client.aclose()


def _reference(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        return None
    reference = body.get("reference") if isinstance(body, dict) else None
    return str(reference)[:200] if reference is not None else None


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(float(response.headers.get("Retry-After", "0")), 0.0)
    except ValueError:
        return 0.0
