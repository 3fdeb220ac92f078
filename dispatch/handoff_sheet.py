"""The printable one-page hand-off sheet (A4), in Thai or English, for centres that
take hand-offs by fax or as a LINE image. Built from the hand-off record
(dispatch.handoff_record) alone; every value is escaped (names, addresses and
medical notes are typed by people); no script, no external asset.
"""

from html import escape
from typing import Any

LABELS: dict[str, dict[str, str]] = {
    "th": {
        "title": "ใบส่งต่อเหตุฉุกเฉิน 1669",
        "incident": "เหตุ",
        "version": "ฉบับที่",
        "status": "สถานะ",
        "trigger": "สาเหตุ",
        "opened": "เวลาแจ้งเหตุ",
        "handed": "เวลาส่งต่อ",
        "patient": "ผู้ป่วย",
        "name": "ชื่อ",
        "age": "ช่วงอายุ",
        "group": "กลุ่มพึ่งพิง",
        "conditions": "โรคประจำตัว",
        "medications": "ยาที่ใช้",
        "allergies": "แพ้ยา/อาหาร",
        "blood": "หมู่เลือด",
        "location": "ตำแหน่ง",
        "accuracy": "ความแม่นยำ (ม.)",
        "source": "แหล่งที่มา",
        "address": "ที่อยู่",
        "zone": "พื้นที่",
        "trail": "เส้นทางล่าสุด",
        "responder": "ผู้ช่วยเหลือในที่เกิดเหตุ",
        "agency": "หน่วยงาน",
        "agent": "เจ้าหน้าที่ผู้ส่งต่อ",
        "callbacks": "เบอร์ติดต่อกลับ",
        "none": "-",
        "system": "ระบบ (เจ้าหน้าที่ไม่ตอบรับภายในเวลา)",
    },
    "en": {
        "title": "1669 emergency hand-off",
        "incident": "Incident",
        "version": "Version",
        "status": "Status",
        "trigger": "Trigger",
        "opened": "Reported at",
        "handed": "Handed over at",
        "patient": "Patient",
        "name": "Name",
        "age": "Age group",
        "group": "Dependency group",
        "conditions": "Conditions",
        "medications": "Medications",
        "allergies": "Allergies",
        "blood": "Blood type",
        "location": "Location",
        "accuracy": "Accuracy (m)",
        "source": "Source",
        "address": "Address",
        "zone": "Zone",
        "trail": "Recent trail",
        "responder": "Responder on scene",
        "agency": "Agency",
        "agent": "Handed over by",
        "callbacks": "Callback phones",
        "none": "-",
        "system": "System (no officer took it in time)",
    },
}

STYLE = """
@page { size: A4; margin: 12mm; }
* { box-sizing: border-box; }
body { font-family: "Sarabun", "TH Sarabun New", "Loma", "Garuda", sans-serif;
       font-size: 11pt; color: #000; background: #fff; margin: 0; }
h1 { font-size: 17pt; margin: 0 0 4mm; border-bottom: 2px solid #000; }
h2 { font-size: 12.5pt; margin: 4mm 0 1.5mm; }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; vertical-align: top; padding: 1mm 2mm; border: 1px solid #999; }
th { width: 32%; background: #eee; }
.medical td { font-weight: bold; }
section { page-break-inside: avoid; }
@media print { body { -webkit-print-color-adjust: exact; print-color-adjust: exact; } }
"""


def _v(value: Any, none: str) -> str:
    if value is None or value == "" or value == []:
        return escape(none)
    if isinstance(value, list):
        return escape(", ".join(str(v) for v in value))
    return escape(str(value))


def _table(rows: list[tuple[str, Any]], none: str, cls: str = "") -> str:
    body = "".join(f"<tr><th>{escape(k)}</th><td>{_v(v, none)}</td></tr>" for k, v in rows)
    return f'<table class="{cls}">{body}</table>'


def render_sheet(record: dict[str, Any], lang: str = "th") -> str:
    t = LABELS.get(lang, LABELS["th"])
    none = t["none"]
    inc = record["incidentComponent"]
    locations = {loc["$id"]: loc for loc in record["locationComponent"]}
    current = next(
        loc for loc in locations.values() if loc["locationTypeDescriptionRegistryText"] == "Caller"
    )
    trail = [
        loc for loc in locations.values() if loc["locationTypeDescriptionRegistryText"] == "Trail"
    ]
    parts = [
        f"<h1>{escape(t['title'])}</h1>",
        _table(
            [
                (t["incident"], inc["internalIncidentId"]),
                (t["version"], record["recordVersion"]),
                (t["status"], inc["incidentStatusCommonRegistryText"]),
                (t["trigger"], inc["incidentTypeInternalText"]),
                (t["opened"], inc["incidentCreationTimeStamp"]),
                (t["handed"], inc["handoffTimeStamp"]),
            ],
            none,
        ),
    ]
    for person in record["personComponent"]:
        medical = person["medical"]
        parts += [
            f"<section><h2>{escape(t['patient'])}</h2>",
            _table(
                [
                    (t["name"], person["personName"]),
                    (t["age"], person["ageGroupText"]),
                    (t["group"], person["dependencyGroupNumber"]),
                    (t["address"], person.get("homeAddressText")),
                ],
                none,
            ),
            _table(
                [
                    (t["conditions"], medical["conditions"]),
                    (t["medications"], medical["medications"]),
                    (t["allergies"], medical["allergies"]),
                    (t["blood"], medical["bloodType"]),
                ],
                none,
                "medical",
            ),
            "</section>",
        ]
    geo = current["geo"]
    parts += [
        f"<section><h2>{escape(t['location'])}</h2>",
        _table(
            [
                (t["location"], f"{geo['lat']:.6f}, {geo['lon']:.6f}"),
                (t["accuracy"], current["uncertaintyRadiusMeters"]),
                (t["source"], current["locationSourceText"]),
                (t["zone"], inc.get("zoneName")),
                (
                    t["trail"],
                    [f"{p['geo']['lat']:.5f},{p['geo']['lon']:.5f}" for p in trail[-5:]],
                ),
            ],
            none,
        ),
        "</section>",
    ]
    for resource in record["emergencyResourceComponent"]:
        parts += [
            f"<section><h2>{escape(t['responder'])}</h2>",
            _table(
                [
                    (t["name"], resource["emergencyResourceName"]),
                    (t["status"], resource["primaryUnitStatusRegistryText"]),
                ],
                none,
            ),
            "</section>",
        ]
    agency = record["agencyComponent"][0]
    agent = record["agentComponent"][0]["agentName"] if record["agentComponent"] else t["system"]
    phones = [
        f"{c['callbackRoleText']}: {c['callBackInformationUri'][0].removeprefix('tel:')}"
        for c in record["callbackComponent"]
    ]
    parts += [
        f"<section><h2>{escape(t['agency'])}</h2>",
        _table(
            [(t["agency"], agency["agencyName"]), (t["agent"], agent), (t["callbacks"], phones)],
            none,
        ),
        "</section>",
    ]
    return (
        f'<!DOCTYPE html><html lang="{escape(lang)}"><head><meta charset="utf-8">'
        f"<title>{escape(t['title'])} {escape(inc['internalIncidentId'])}</title>"
        f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>"
    )
