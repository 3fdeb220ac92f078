"""Background loops while the database is away: back off, and say so once per outage.

A loop that polls every 0.2 s must not write a traceback every 0.2 s while
PostgreSQL restarts: the first failure of an outage is logged (a warning with the
reason when the database is unavailable, the traceback when it is a defect),
the rest are counted, and the recovery is logged with how long it lasted.
"""

import logging
import time

from core.db_errors import database_unavailable


class Outage:
    def __init__(self, log: logging.Logger, what: str, *, max_delay_s: float = 10.0) -> None:
        self._log = log
        self._what = what
        self._max_delay_s = max_delay_s
        self._since: float | None = None
        self._failures = 0

    @property
    def ongoing(self) -> bool:
        return self._since is not None

    def failed(self, exc: BaseException) -> float:
        """Note a failed round; returns how long to wait before the next."""
        self._failures += 1
        if self._since is None:
            self._since = time.monotonic()
            if database_unavailable(exc):
                self._log.warning(
                    "%s: database unavailable (%s: %s); retrying with back-off",
                    self._what,
                    type(exc).__name__,
                    str(exc).splitlines()[0][:200] if str(exc) else "",
                )
            else:
                self._log.error("%s failed; retrying with back-off", self._what, exc_info=exc)
        return float(min(0.25 * 2.0 ** min(self._failures, 10), self._max_delay_s))

    def succeeded(self) -> None:
        if self._since is not None:
            self._log.warning(
                "%s: working again after %.1f s and %d failed rounds",
                self._what,
                time.monotonic() - self._since,
                self._failures,
            )
        self._since, self._failures = None, 0
