"""Message texts in Thai (the default) and English."""

TEXTS: dict[str, dict[str, str]] = {
    "sos_received": {
        "th": "ได้รับสัญญาณขอความช่วยเหลือแล้ว กำลังติดต่อผู้ช่วยเหลือที่อยู่ใกล้คุณ",
        "en": "Your SOS was received. We are contacting a helper near you.",
    },
    "sos_received_no_zone": {
        "th": "ได้รับสัญญาณขอความช่วยเหลือแล้ว เจ้าหน้าที่กำลังดำเนินการ หากเร่งด่วนโทร {fallback_phone}",
        "en": "Your SOS was received and passed to the officers. "
        "If it is urgent, call {fallback_phone}.",
    },
    "sos_already_active": {
        "th": "ได้รับสัญญาณแล้ว ความช่วยเหลือกำลังดำเนินการอยู่",
        "en": "We already have your SOS. Help is on its way.",
    },
}


def render(key: str, language: str, **values: str) -> str:
    """The text for ``key`` in ``language`` (Thai when the language is unknown)."""
    texts = TEXTS[key]
    return texts.get(language, texts["th"]).format(**values)
