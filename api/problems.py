"""RFC 9457 problem details for every error; the one table from domain errors to HTTP."""

import logging
from typing import Any

import psycopg
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from core.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    TooManyRequests,
    Unauthenticated,
)
from core.uow import retryable_sqlstate

log = logging.getLogger("phikat.api")
PROBLEM_JSON = "application/problem+json"

STATUS_BY_ERROR: dict[type[DomainError], tuple[int, str]] = {
    InvalidInput: (422, "invalid-input"),
    NotFound: (404, "not-found"),
    Conflict: (409, "conflict"),
    Forbidden: (403, "forbidden"),
    Unauthenticated: (401, "unauthenticated"),
    TooManyRequests: (429, "too-many-requests"),
}

HTTP_TITLES = {
    400: ("Bad request", "bad-request"),
    401: ("Unauthenticated", "unauthenticated"),
    403: ("Forbidden", "forbidden"),
    404: ("Not found", "not-found"),
    405: ("Method not allowed", "method-not-allowed"),
    409: ("Conflict", "conflict"),
    413: ("Request body too large", "body-too-large"),
    415: ("Unsupported media type", "unsupported-media-type"),
    422: ("Invalid input", "invalid-input"),
    429: ("Too many requests", "too-many-requests"),
    500: ("Internal error", "internal-error"),
}


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    slug: str,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    extensions: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        **(extensions or {}),
        "type": f"urn:phikat:problem:{slug}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _status_of(exc: DomainError) -> tuple[int, str]:
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 400, "bad-request"


async def domain_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    status, slug = _status_of(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, TooManyRequests):
        headers["Retry-After"] = str(exc.retry_after_s)
    errors = None
    if isinstance(exc, InvalidInput):
        errors = [{"loc": e.loc, "msg": e.msg} for e in exc.errors]
    return problem(
        status,
        exc.title,
        exc.detail,
        slug=slug,
        errors=errors,
        headers=headers,
        extensions={k: str(v) for k, v in exc.extra.items()},
    )


def _clean_loc(loc: tuple[Any, ...]) -> list[str | int]:
    return [part if isinstance(part, int | str) else str(part) for part in loc]


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Never echo the input back: it may be large, or a password.
    errors = [
        {"loc": _clean_loc(tuple(e.get("loc", ()))), "msg": str(e.get("msg", ""))}
        for e in exc.errors()
    ]
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(p) for p in first["loc"])
    detail = f"{where}: {first['msg']}" if where else str(first["msg"])
    if len(errors) > 1:
        detail += f" (and {len(errors) - 1} more)"
    return problem(422, "Invalid input", detail, slug="invalid-input", errors=errors)


async def http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    title, slug = HTTP_TITLES.get(exc.status_code, ("Error", "error"))
    detail = exc.detail if isinstance(exc.detail, str) else title
    headers = dict(exc.headers) if exc.headers else None
    return problem(exc.status_code, title, detail, slug=slug, headers=headers)


async def client_left_handler(request: Request, exc: Exception) -> JSONResponse:
    """The phone gave up while sending its body (a weak signal): nothing was read,
    nothing stored, and its retry with the same Idempotency-Key goes through. Not an
    error of ours (it was a 500 and a traceback; found by the fault suite)."""
    log.info("%s %s: the client left mid-request", request.method, request.url.path)
    return problem(400, "Client left", "The request body never arrived.", slug="bad-request")


UNSTORABLE_TEXT = (
    "The request's text cannot be stored: it holds a NUL character (U+0000) or an "
    "unpaired surrogate (U+D800 to U+DFFF). Nothing was stored."
)
# PostgreSQL's untranslatable_character (\\u0000 in JSONB) and character_not_in_repertoire.
_UNSTORABLE_SQLSTATES = frozenset({"22P05", "22021"})


def unstorable_text(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it wraps) is PostgreSQL or its driver refusing text a
    client sent: valid JSON, but no text column (or JSONB value) can hold it. Found by
    the generated tests (tests/test_fuzz_regressions.py); checked here, at the one place
    every such refusal passes, rather than in each text field of each schema."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, UnicodeEncodeError) and "surrogates not allowed" in str(current):
            return True
        if isinstance(current, psycopg.DataError) and (
            current.sqlstate in _UNSTORABLE_SQLSTATES
            or (current.sqlstate is None and "NUL (0x00)" in str(current))
        ):
            return True
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return False


async def unstorable_text_handler(request: Request, exc: Exception) -> JSONResponse:
    """422 for text no column can hold; any other error of these types goes on to the
    last-resort handler, as if this one were not there."""
    if not unstorable_text(exc):
        raise exc
    log.info("%s %s: text the database cannot store", request.method, request.url.path)
    return problem(
        422,
        "Invalid input",
        UNSTORABLE_TEXT,
        slug="invalid-input",
        errors=[{"loc": ["body"], "msg": UNSTORABLE_TEXT}],
    )


async def unexpected_error_handler(request: Request, exc: Exception) -> JSONResponse:
    if retryable_sqlstate(exc) is not None:
        # Met other commands on the same rows more often than the retries allow:
        # nothing was stored, and sending the same request again is safe.
        log.error("%s %s aborted after every retry: %s", request.method, request.url.path, exc)
        return problem(
            503,
            "Busy",
            "Too many people are acting on the same incident at once; nothing was stored. "
            "Send the same request again.",
            slug="busy",
            headers={"Retry-After": "1"},
        )
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(
        500,
        "Internal error",
        "The server failed on this request; it has been logged.",
        slug="internal-error",
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, domain_error_handler)
    app.add_exception_handler(ClientDisconnect, client_left_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(sqlalchemy.exc.DataError, unstorable_text_handler)
    app.add_exception_handler(UnicodeEncodeError, unstorable_text_handler)
    app.add_exception_handler(Exception, unexpected_error_handler)
