"""The map's translations (api/static/i18n.js), read by Node as the browser reads them: every
event of the catalogue and every offer state has a name in Thai and in English, so no new
event can reach the officers' timeline as a raw `offer.sent`."""

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from core.events.catalogue import EventName
from dispatch.enums import OfferState

I18N_JS = Path(__file__).resolve().parent.parent / "api" / "static" / "i18n.js"
THAI = re.compile(r"[\u0e00-\u0e7f]")
# What the browser gives the script, and nothing else: a window and an empty localStorage.
LOAD = """
globalThis.window = globalThis;
globalThis.localStorage = { getItem: () => null };
require(process.argv[1]);
process.stdout.write(JSON.stringify({
  tables: window.I18N,
  th: Object.keys(window.I18N.th.events).map((n) => [n, window.tEvent(n)]),
  unknown: window.tEvent("no.such_event"),
}));
"""


@pytest.fixture(scope="module")
def i18n() -> dict[str, Any]:
    node = shutil.which("node")
    assert node, "Node.js is needed (scripts/test installs Debian's nodejs with the web assets)"
    out = subprocess.run(
        [node, "-e", LOAD, str(I18N_JS)], capture_output=True, text=True, check=True, timeout=30
    )
    loaded: dict[str, Any] = json.loads(out.stdout)
    return loaded


@pytest.mark.parametrize("lang", ["th", "en"])
def test_every_catalogue_event_has_a_name(i18n: dict[str, Any], lang: str) -> None:
    names = i18n["tables"][lang]["events"]
    missing = [e.value for e in EventName if not str(names.get(e.value, "")).strip()]
    assert not missing, f"i18n.js ({lang}) has no name for {missing}"
    raw = [name for name, text in names.items() if text == name]
    assert not raw, f"i18n.js ({lang}) leaves {raw} untranslated"


def test_thai_names_are_thai(i18n: dict[str, Any]) -> None:
    th = i18n["tables"]["th"]
    not_thai = [n for n, text in th["events"].items() if not THAI.search(text)]
    assert not not_thai, not_thai
    assert all(THAI.search(text) for text in th["offerStates"].values())


@pytest.mark.parametrize("lang", ["th", "en"])
def test_every_offer_state_has_a_name(i18n: dict[str, Any], lang: str) -> None:
    states = i18n["tables"][lang]["offerStates"]
    assert sorted(states) == sorted(s.value for s in OfferState)


def test_the_lookup_translates_and_falls_back_to_the_raw_name(i18n: dict[str, Any]) -> None:
    assert dict(i18n["th"])["offer.sent"] == i18n["tables"]["th"]["events"]["offer.sent"]
    assert i18n["unknown"] == "no.such_event"
