"""HTTP as phones speak it on a bad day: a connection refused or cut, a timeout or a 503
is retried with the very same request (and so the same Idempotency-Key) until it is
answered; every attempt is recorded, so the books can say which requests a fault hit
and that each of them got through in the end."""

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.stress.answers import ALLOWED, Api
from tests.stress.scene import Person

RETRYABLE = frozenset({502, 503, 504})


@dataclass
class Attempt:
    at: float  # time.monotonic()
    kind: str
    status: int | str  # a status, or "error" / "timeout"


@dataclass
class Tries:
    """Every attempt of one request (an SOS by its Idempotency-Key)."""

    attempts: list[Attempt] = field(default_factory=list)
    final: int | None = None
    bodies_503: list[dict[str, Any]] = field(default_factory=list)


class PhoneApi(Api):
    """``Api`` whose requests are retried like a phone's: at once after an error, after
    ``Retry-After`` (at most 2 s) after a 503, until ``give_up_s``. A few SOS go over a
    weak signal: the first attempt times out after ``weak_timeout_s``, then is resent."""

    def __init__(self, *args: Any, give_up_s: float = 90, weak_share: float = 0.1) -> None:
        super().__init__(*args)
        self.give_up_s = give_up_s
        self.weak_share = weak_share
        self.attempts: list[Attempt] = []
        self.sos: dict[str, Tries] = defaultdict(Tries)  # Idempotency-Key -> its tries

    async def call(
        self,
        kind: str,
        method: str,
        path: str,
        person: Person,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
        also_allowed: frozenset[int] = frozenset(),
    ) -> httpx.Response | None:
        headers = {**person.headers, **(headers or {})}
        key = headers.get("Idempotency-Key") if kind.startswith("sos") else None
        started = time.monotonic()
        weak = key is not None and self.rng.random() < self.weak_share
        while True:
            url = self.rng.choice(self.urls) + path
            timeout = 0.02 if weak else 30.0  # a weak signal: the answer never arrives
            weak = False
            try:
                response = await self.client.request(
                    method, url, json=json, headers=headers, timeout=timeout
                )
                status: int | str = response.status_code
            except httpx.TimeoutException:
                response, status = None, "timeout"
            except httpx.TransportError:
                response, status = None, "error"
            attempt = Attempt(time.monotonic(), kind, status)
            self.attempts.append(attempt)
            self.rec.count(kind, status)
            if key is not None:
                self.sos[key].attempts.append(attempt)
            retry = response is None or response.status_code in RETRYABLE
            if response is not None and response.status_code == 503:
                if key is not None:
                    self.sos[key].bodies_503.append(
                        {**response.json(), "retry_after": response.headers.get("Retry-After")}
                    )
                elif "Retry-After" not in response.headers:
                    self.rec.failures.append(f"{kind}: 503 without Retry-After")
            if not retry:
                break
            if time.monotonic() - started > self.give_up_s:
                self.rec.failures.append(
                    f"{kind}: {method} {path} by {person.name} still {status} after "
                    f"{self.give_up_s:.0f}s of retries"
                )
                return None
            pause = (
                0.2 if response is None else min(2.0, float(response.headers.get("Retry-After", 1)))
            )
            await asyncio.sleep(pause * self.rng.uniform(0.5, 1.0))
        assert response is not None
        code = response.status_code
        if key is not None:
            self.sos[key].final = code
        self.rec.latencies[kind].append(time.monotonic() - started)
        if code >= 500 or code not in ALLOWED[kind] | also_allowed:
            self.rec.failures.append(
                f"{kind}: {method} {url} by {person.name} body={json!r} -> {code} "
                f"{response.text[:600]}"
            )
        return response
