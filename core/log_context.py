"""Log lines that say which incident they concern, as text or as JSON.

The incident being handled is a context variable: set by the request that loaded it
(``api.guards``), by an SOS once its incident is known, and by the worker around each
deadline; every line logged meanwhile in that task carries it. ``PHIKAT_LOG_FORMAT=json``
writes one JSON object per line (python-json-logger) for a log collector.
"""

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from core import log_redaction

_INCIDENT: ContextVar[str | None] = ContextVar("phikat_incident_id", default=None)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def concerning(incident_id: uuid.UUID) -> None:
    """From here to the end of the current task, log lines concern this incident."""
    _INCIDENT.set(str(incident_id))


@contextmanager
def about(incident_id: uuid.UUID | None) -> Iterator[None]:
    """Within the block, log lines concern this incident (None: no incident)."""
    if incident_id is None:
        yield
        return
    token = _INCIDENT.set(str(incident_id))
    try:
        yield
    finally:
        _INCIDENT.reset(token)


_make_record = logging.getLogRecordFactory()


def _record_with_incident(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _make_record(*args, **kwargs)
    record.incident_id = _INCIDENT.get()
    return record


# Every record, whichever handler gets it (also pytest's), carries ``incident_id``.
logging.setLogRecordFactory(_record_with_incident)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        incident = getattr(record, "incident_id", None)
        return f"{line} [incident {incident}]" if incident else line


class _RedactedJson(JsonFormatter):
    def formatException(self, ei: Any) -> str:
        # python-json-logger formats the traceback itself, not from the redacted exc_text.
        formatted = super().formatException(ei)
        text = formatted if isinstance(formatted, str) else "\n".join(formatted)
        return log_redaction.redact(text)


def json_formatter() -> logging.Formatter:
    return _RedactedJson(
        "%(asctime)s %(levelname)s %(name)s %(message)s %(incident_id)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
    )


def configure(level: str, fmt: str) -> None:
    """The root logger's one handler: text or JSON, secrets redacted, incident ids added."""
    handler = logging.StreamHandler()
    handler.setFormatter(json_formatter() if fmt == "json" else TextFormatter(TEXT_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    log_redaction.install()
