"""Shared pieces of the generated bad-input tests (tests/test_fuzz_*.py).

Runs are reproducible by default: Hypothesis derives its examples from each test's
name (``derandomize``), so CI and a developer see the same examples, and the bounded
``max_examples`` keep every file within seconds. For a longer, random hunt::

    PHIKAT_FUZZ_SCALE=20 PHIKAT_FUZZ_RANDOM=1 pytest -q tests/test_fuzz_sos.py

(a failure prints the seed to reproduce it with ``--hypothesis-seed``).
"""

import json
import math
import os
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
from hypothesis import HealthCheck, event, note, settings
from hypothesis import strategies as st

SCALE = float(os.environ.get("PHIKAT_FUZZ_SCALE", "1"))
RANDOM = os.environ.get("PHIKAT_FUZZ_RANDOM") == "1"


def fuzz_settings(max_examples: int) -> settings:
    """Hypothesis settings for a property that drives the in-process app.

    Each test builds its organization once, and its examples share it: the
    function-scoped fixtures are meant to outlive one example."""
    return settings(
        max_examples=max(1, math.ceil(max_examples * SCALE)),
        deadline=None,
        derandomize=not RANDOM,
        database=None,  # nothing written under .hypothesis/ in the work tree
        print_blob=True,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )


def assert_not_5xx(response: httpx.Response) -> None:
    """The first property of every generated request (and the status counted for
    ``--hypothesis-show-statistics``)."""
    event(f"status {response.status_code}")
    assert response.status_code < 500, (
        f"{response.request.method} {response.request.url} answered "
        f"{response.status_code}: {response.text[:500]}"
    )


def note_request(method: str, path: str, content: bytes, **headers: Any) -> None:
    """Name the request in a failure report (this Hypothesis prints the test's
    arguments empty under pytest; a note always shows)."""
    shown = content if len(content) <= 2_000 else content[:2_000] + b"..."
    note(f"{method} {path} {headers or ''} {shown!r}")


def encode(value: Any) -> bytes:
    """JSON as a lenient client sends it: NaN and Infinity included, which Python's
    (and so the server's) json module reads back."""
    return json.dumps(value, allow_nan=True).encode()


JSON_HEADERS = {"Content-Type": "application/json"}

# Strings that have broken servers before: NUL (PostgreSQL text refuses it), a lone
# surrogate (not encodable as UTF-8), right-to-left and combining marks, Thai, huge.
NASTY_TEXT = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "a\x00b",
        "\ud800",
        "\udfff x",
        "\u202e\u0301",
        "ยายสมศรี",
        "null",
        "NaN",
        "-1",
        "1e309",
        "'; drop table incident; --",
    ]
)
# Far longer than any field allows (built, so that its repr stays short).
NASTY_TEXT |= st.integers(201, 10_000).map(lambda n: "x" * n)
TEXT = st.text(max_size=40) | NASTY_TEXT
# Ordinary text with one character no PostgreSQL text column (or JSONB value) holds.
UNSTORABLE_TEXT = st.builds(
    lambda before, bad, after: before + bad + after,
    st.text(max_size=8),
    st.sampled_from(["\x00", "\ud800", "\udfff"]),
    st.text(max_size=8),
)

# Numbers at the edges: too large for a float, for int64, for PostgreSQL's numeric
# range; negative zero; subnormals; NaN and infinities.
# JSON integers beyond a float's range (about 1.8e308): Python reads them exactly.
TOO_LARGE_FOR_A_FLOAT = st.sampled_from([2**1024, 10**309, 10**400, -(10**400)])
HUGE_INTS = st.sampled_from([2**31, 2**63, 2**64, -(2**63) - 1]) | TOO_LARGE_FOR_A_FLOAT
NUMBERS = st.integers() | HUGE_INTS | st.floats()

SCALARS = st.none() | st.booleans() | NUMBERS | TEXT
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)

# --- coordinates -----------------------------------------------------------------

LATITUDES = st.floats(min_value=-90, max_value=90, allow_nan=False)
LONGITUDES = st.floats(min_value=-180, max_value=180, allow_nan=False)
# Out of range, not finite, or not a number at all (some of these a lenient parser
# may still take, e.g. "16.88": properties may only assume the valid ones are valid).
BROKEN_COORDINATES = (
    st.floats().filter(lambda f: not -90 <= f <= 90)
    | st.sampled_from([90.000001, -90.000001, 180.0000001, -180.0000001, 1e308, -1e308])
    | HUGE_INTS
    | TOO_LARGE_FOR_A_FLOAT
    | JSON_VALUES
)

# --- timestamps --------------------------------------------------------------------

# Any UTC offset Python allows (strictly within ±24 h).
OFFSETS = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
ANY_AWARE = st.datetimes(
    min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59), timezones=OFFSETS
)
EDGE_TIMESTAMPS = st.sampled_from(
    [
        "0001-01-01T00:00:00+07:00",  # before year 1 in UTC: OverflowError in astimezone
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59-14:00",  # after year 9999 in UTC
        "9999-12-31T23:59:59.999999Z",
        "1970-01-01T00:00:00Z",
        "2024-02-30T10:00:00Z",
        "2024-01-01T24:00:00Z",
        "2024-01-01T10:00:00+24:00",
        "2024-01-01",
        "T10:00",
        "now",
        "",
    ]
)


@st.composite
def near_the_ends(draw: st.DrawFn) -> str:
    """A time within 12 hours of year 1 or of year 9999, in any offset: about a third
    of them are outside Python's range once converted to UTC."""
    minutes = timedelta(minutes=draw(st.integers(0, 12 * 60)))
    if draw(st.booleans()):
        moment = datetime(1, 1, 1) + minutes
    else:
        moment = datetime(9999, 12, 31, 23, 59) - minutes
    return moment.replace(tzinfo=draw(OFFSETS)).isoformat()


OTHER_BROKEN_TIMESTAMPS = (
    ANY_AWARE.map(datetime.isoformat)
    | st.datetimes().map(datetime.isoformat)  # naive: no time zone
    | NUMBERS
    | JSON_VALUES
)


@st.composite
def broken_timestamps(draw: st.DrawFn) -> Any:
    """A third each: near the ends, the list above, anything else (drawn by index:
    Hypothesis would weigh the branches of a one_of by what they have left to give)."""
    which = draw(st.integers(0, 2))
    if which == 0:
        return draw(near_the_ends())
    return draw(EDGE_TIMESTAMPS if which == 1 else OTHER_BROKEN_TIMESTAMPS)


BROKEN_TIMESTAMPS = broken_timestamps()


@st.composite
def recent_timestamps(draw: st.DrawFn) -> str:
    """A valid fix time: within the last five years, in any UTC offset."""
    ago = timedelta(seconds=draw(st.integers(min_value=1, max_value=5 * 365 * 86_400)))
    return (datetime.now(UTC) - ago).astimezone(draw(OFFSETS)).isoformat()


def absent_or(*strategies: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A field's value, or the marker that leaves the field out."""
    return st.one_of(st.just(ABSENT), *strategies)


class _Absent:
    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()


def without_absent(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not ABSENT}
