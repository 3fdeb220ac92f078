"""SMS through a generic HTTP webhook (Thai SMS providers, family members without the app).

The request body is the JSON template from the settings, with ``{to}`` and
``{text}`` replaced in every string value, e.g. ``{"msisdn": "{to}", "message": "{text}"}``.
"""

import asyncio
import json
from typing import Any

import httpx

from notifications.channels.base import Delivery, Outcome

TRANSIENT = {408, 425, 429, 500, 502, 503, 504}


def fill(template: Any, to: str, text: str) -> Any:
    if isinstance(template, str):
        return template.replace("{to}", to).replace("{text}", text)
    if isinstance(template, dict):
        return {k: fill(v, to, text) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(v, to, text) for v in template]
    return template


class SmsWebhookChannel:
    name = "sms"

    def __init__(
        self, *, url: str, template: str, auth_header: str | None = None, timeout_s: float = 10.0
    ) -> None:
        self.url = url
        self.template = json.loads(template)
        headers = {"Authorization": auth_header} if auth_header else {}
        self.client = httpx.AsyncClient(timeout=timeout_s, headers=headers)

    async def send(self, deliveries: list[Delivery]) -> list[Outcome]:
        # All at once: the sender bounds how many SMS are in flight.
        return list(await asyncio.gather(*(self._one(d) for d in deliveries)))

    async def _one(self, delivery: Delivery) -> Outcome:
        body = fill(self.template, delivery.address, delivery.body)
        try:
            # The gateway (and the fault suite) can tell a resend from a new message.
            headers = {"Idempotency-Key": str(delivery.message_id)}
            response = await self.client.post(self.url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            return Outcome(ok=False, retry_after_s=0, error=f"sms gateway unreachable: {exc}")
        if response.is_success:
            return Outcome(ok=True)
        if response.status_code in TRANSIENT:
            return Outcome(
                ok=False,
                retry_after_s=_retry_after(response),
                error=f"sms gateway {response.status_code}",
            )
        return Outcome(ok=False, error=f"sms gateway refused: {response.status_code}")

    async def close(self) -> None:
        await self.client.aclose()


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(float(response.headers.get("Retry-After", "0")), 0.0)
    except ValueError:
        return 0.0
