"""Password hashing, signed staff tokens and opaque device tokens. No I/O.

Argon2 is slow and memory-hungry on purpose (about 0.1-0.3 s and 64 MiB a
check), so code on the event loop never calls ``hash_password`` or
``verify_password`` itself: it hands them to ``ARGON2``, a few low-priority
threads, and awaits the answer.
"""

import asyncio
import hashlib
import hmac
import os
import secrets
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ParamSpec, TypeVar

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.errors import TooManyRequests, Unauthenticated

_hasher = PasswordHasher()
_ALGORITHM = "HS256"
_ISSUER = "phikat"
DEVICE_TOKEN_PREFIX = "phk_dev_"  # noqa: S105 (a prefix, not a secret)
REFRESH_TOKEN_PREFIX = "phk_rt_"  # noqa: S105


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# Verifying against this when the account does not exist keeps the timing of
# "no such user" and "wrong password" alike.
DUMMY_PASSWORD_HASH = _hasher.hash(secrets.token_urlsafe(16))

P = ParamSpec("P")
T = TypeVar("T")


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _lower_thread_priority() -> None:
    # On Linux a thread has its own nice value, inherited by the threads Argon2
    # starts for its lanes: under a login flood the event loop (SOS intake, the
    # live hub) still gets the CPU first.
    with suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


class Argon2Lane:
    """Runs Argon2 off the event loop, on at most ``workers`` threads at a time.

    Logins pass ``admit()`` first: beyond ``max_logins`` at once (waiting for a
    thread, or for the database) a login is answered 429 at once instead of
    queueing without end, so a flood of logins neither holds memory nor delays
    everyone else. Hashing for an authenticated officer creating an account is
    not refused; it waits for a thread.
    """

    def __init__(self, *, workers: int, max_logins: int) -> None:
        self.workers = workers
        self.max_logins = max_logins
        self.logins = 0
        self._executor = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="argon2", initializer=_lower_thread_priority
        )

    @contextmanager
    def admit(self) -> Iterator[None]:
        if self.logins >= self.max_logins:
            raise TooManyRequests("too many logins at once; try again in a moment", retry_after_s=1)
        self.logins += 1
        try:
            yield
        finally:
            self.logins -= 1

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` on one of the lane's threads."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))


# Half the cores (at least one): the other half stays with the event loop. A check
# takes 0.1-0.3 s, so 32 logins a thread wait a few seconds at worst.
_WORKERS = max(1, _usable_cores() // 2)
ARGON2 = Argon2Lane(workers=_WORKERS, max_logins=32 * _WORKERS)


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    role: str
    organization_id: uuid.UUID | None
    expires_at: datetime


def create_access_token(
    *, secret: str, user_id: uuid.UUID, role: str, organization_id: uuid.UUID | None, ttl_s: int
) -> tuple[str, AccessClaims]:
    now = datetime.now(UTC)
    expires_at = now + timedelta(seconds=ttl_s)
    payload = {
        "iss": _ISSUER,
        "sub": str(user_id),
        "role": role,
        "org": str(organization_id) if organization_id else None,
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
        "jti": secrets.token_hex(8),
    }
    token = jwt.encode(payload, secret, algorithm=_ALGORITHM)
    return token, AccessClaims(user_id, role, organization_id, expires_at)


def decode_access_token(token: str, *, secret: str) -> AccessClaims:
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[_ALGORITHM],
            issuer=_ISSUER,
            options={"require": ["exp", "sub", "iss"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthenticated("The access token has expired; log in again.") from exc
    except jwt.PyJWTError as exc:
        raise Unauthenticated("The access token is not valid.") from exc
    try:
        return AccessClaims(
            user_id=uuid.UUID(payload["sub"]),
            role=str(payload["role"]),
            organization_id=uuid.UUID(payload["org"]) if payload.get("org") else None,
            expires_at=datetime.fromtimestamp(payload["exp"], UTC),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise Unauthenticated("The access token is not valid.") from exc


@dataclass(frozen=True)
class OpaqueTokenParts:
    token_id: uuid.UUID
    secret: str


def new_opaque_token(prefix: str, token_id: uuid.UUID) -> tuple[str, str]:
    """``<prefix><id hex>.<secret>`` and the hash to store (the token itself is shown once).

    The id finds the row without a scan; only the secret's hash is kept.
    """
    secret = secrets.token_urlsafe(32)
    return f"{prefix}{token_id.hex}.{secret}", hash_opaque_secret(secret)


def hash_opaque_secret(secret: str) -> str:
    # 256 random bits need no slow hash: SHA-256 is enough and keeps SOS fast.
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_opaque_token(prefix: str, token: str) -> OpaqueTokenParts | None:
    if not token.startswith(prefix):
        return None
    token_hex, _, secret = token.removeprefix(prefix).partition(".")
    try:
        token_id = uuid.UUID(hex=token_hex)
    except ValueError:
        return None
    if not secret:
        return None
    return OpaqueTokenParts(token_id, secret)


def opaque_secret_matches(stored_hash: str, secret: str) -> bool:
    return hmac.compare_digest(stored_hash, hash_opaque_secret(secret))


def new_device_token(token_id: uuid.UUID) -> tuple[str, str]:
    """A fresh elder device token and the hash to store."""
    return new_opaque_token(DEVICE_TOKEN_PREFIX, token_id)


def parse_device_token(token: str) -> OpaqueTokenParts | None:
    return parse_opaque_token(DEVICE_TOKEN_PREFIX, token)
