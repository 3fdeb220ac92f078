"""Telling "the database is unavailable or too busy" apart from a bug.

Such a failure is answered 503 with Retry-After (api/unavailable.py), and background
loops back off while it lasts; anything else is a defect and stays a 500.
"""

import psycopg
import sqlalchemy.exc

# SQLSTATEs meaning: try again later, nothing is wrong with the request.
UNAVAILABLE_SQLSTATES = {
    "57P01": "admin_shutdown",
    "57P02": "crash_shutdown",
    "57P03": "cannot_connect_now",
    "53300": "too_many_connections",
    "57014": "query_canceled",  # statement_timeout
    "55P03": "lock_not_available",  # lock_timeout
}


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it wraps) says the database cannot be reached or is
    too busy to answer in time."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sqlalchemy.exc.TimeoutError):  # no free pooled connection
            return True
        if isinstance(current, sqlalchemy.exc.DBAPIError) and current.connection_invalidated:
            return True
        state = getattr(current, "sqlstate", None)
        if state in UNAVAILABLE_SQLSTATES or (isinstance(state, str) and state.startswith("08")):
            return True
        if _is_connection_failure(current):
            return True
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return False


def pool_exhausted(exc: BaseException) -> bool:
    """No pooled connection came free in time: the database answers, we are busy."""
    return isinstance(exc, sqlalchemy.exc.TimeoutError)


def _is_connection_failure(exc: BaseException) -> bool:
    # psycopg raises OperationalError without a SQLSTATE when it cannot connect or the
    # connection broke (refused, timed out, server closed the connection).
    if isinstance(exc, psycopg.OperationalError) and getattr(exc, "sqlstate", None) is None:
        return True
    return isinstance(exc, ConnectionError | TimeoutError)
