"""Domain errors. They carry no HTTP; ``api.problems`` maps them to problem+json."""

from dataclasses import dataclass
from typing import Any


class DomainError(Exception):
    """Base of every error a client can cause; ``detail`` is safe to show, and so is
    ``extra``: extension members of the problem document (RFC 9457 §3.2)."""

    title = "Request refused"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFound(DomainError):
    title = "Not found"


class Conflict(DomainError):
    title = "Conflict"


class Forbidden(DomainError):
    title = "Forbidden"


class Unauthenticated(DomainError):
    title = "Unauthenticated"


@dataclass(frozen=True)
class FieldProblem:
    loc: list[str | int]
    msg: str


class InvalidInput(DomainError):
    """Input that parsed but breaks a domain rule (e.g. a self-intersecting polygon)."""

    title = "Invalid input"

    def __init__(self, detail: str, errors: list[FieldProblem] | None = None) -> None:
        super().__init__(detail)
        self.errors = errors or []


class TooManyRequests(DomainError):
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after_s: int, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.retry_after_s = retry_after_s
