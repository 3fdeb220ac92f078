"""Reading an SOS body leniently: a broken optional field never costs an SOS.

The device token already proves who is pressing. Each optional field is checked
on its own; what is unusable (a timestamp before year 1 in UTC, a battery of
150 %, a latitude of 91, half a coordinate pair, a trigger this server does not
know) is dropped and named in ``ignored``, which goes into the incident's
timeline and back to the phone. Only a body that is not a JSON object is refused.
"""

import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from core.types import Latitude, Longitude
from dispatch.enums import Trigger
from dispatch.inputs import AccuracyM, BatteryPct, PastTimestamp, SosIn

# What the phone may send as the Idempotency-Key header (printable ASCII, bounded).
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")

_LAT = TypeAdapter(Latitude)
_LON = TypeAdapter(Longitude)
_ACCURACY = TypeAdapter(AccuracyM)
_CAPTURED_AT = TypeAdapter(PastTimestamp)
_BATTERY = TypeAdapter(BatteryPct)


class NotAnObject(ValueError):
    pass


@dataclass(frozen=True)
class Ignored:
    field: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "reason": self.reason}


@dataclass(frozen=True)
class SosInput:
    payload: SosIn
    idempotency_key: str | None
    ignored: tuple[Ignored, ...]


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(str(e.get("msg", "invalid")) for e in exc.errors())[:200]
    return str(exc)[:200] or "invalid"


def _check(adapter: TypeAdapter[Any], value: Any) -> Any:
    try:
        return adapter.validate_python(value)
    except (ValidationError, ValueError, OverflowError) as exc:
        raise ValueError(_reason(exc)) from None


def read_sos(raw: bytes, idempotency_key: str | None) -> SosInput:
    """The usable part of an SOS body and header; raises NotAnObject for a body that is
    not a JSON object (nothing in it can be trusted to be an SOS of this app)."""
    try:
        body = json.loads(raw) if raw.strip() else {}
    except (ValueError, RecursionError) as exc:
        raise NotAnObject("the body must be a JSON object") from exc
    if not isinstance(body, dict):
        raise NotAnObject("the body must be a JSON object")
    ignored: list[Ignored] = []
    values: dict[str, Any] = {}

    def take(name: str, adapter: TypeAdapter[Any]) -> None:
        if body.get(name) is None:
            return
        try:
            values[name] = _check(adapter, body[name])
        except ValueError as exc:
            ignored.append(Ignored(name, str(exc)))

    take("accuracy_m", _ACCURACY)
    take("captured_at", _CAPTURED_AT)
    take("battery_pct", _BATTERY)
    _read_position(body, values, ignored)
    _read_trigger(body, values, ignored)
    if "accuracy_m" in values and "lat" not in values:
        values.pop("accuracy_m")  # an accuracy without its position means nothing
    if idempotency_key is not None and not IDEMPOTENCY_KEY.match(idempotency_key):
        ignored.append(Ignored("Idempotency-Key", "not 1 to 255 printable ASCII characters"))
        idempotency_key = None
    return SosInput(SosIn(**values), idempotency_key, tuple(ignored))


def _read_position(body: dict[str, Any], values: dict[str, Any], ignored: list[Ignored]) -> None:
    lat, lon = body.get("lat"), body.get("lon")
    if lat is None and lon is None:
        return
    if lat is None or lon is None:
        missing = "lat" if lat is None else "lon"
        ignored.append(Ignored("lat,lon", f"{missing} is missing: the home location is used"))
        return
    try:
        values["lat"], values["lon"] = _check(_LAT, lat), _check(_LON, lon)
    except ValueError as exc:
        ignored.append(Ignored("lat,lon", f"{exc}: the home location is used"))


def _read_trigger(body: dict[str, Any], values: dict[str, Any], ignored: list[Ignored]) -> None:
    trigger = body.get("trigger")
    if trigger is None:
        return
    try:
        values["trigger"] = Trigger(trigger)
    except (ValueError, TypeError):
        ignored.append(Ignored("trigger", f"unknown trigger {str(trigger)[:40]!r}: 'button'"))
        return
    if values["trigger"] is Trigger.STAFF:
        values.pop("trigger")
        ignored.append(Ignored("trigger", "'staff' is for staff: 'button'"))
    elif values["trigger"] is Trigger.WANDER:
        values.pop("trigger")
        ignored.append(Ignored("trigger", "'wander' is raised by the server: 'button'"))
