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
    "offer": {
        "th": "ขอความช่วยเหลือ: {elder} ({distance}) กดรับภายใน {timeout} วินาที",
        "en": "SOS: {elder} ({distance}) needs help. Accept within {timeout} s.",
    },
    "offer_title": {"th": "เหตุฉุกเฉินใกล้คุณ", "en": "Emergency near you"},
    "offer_withdrawn": {
        "th": "มีผู้รับเหตุของ {elder} แล้ว ขอบคุณค่ะ",
        "en": "Someone else is on the way to {elder}. Thank you.",
    },
    "help_coming": {
        "th": "{responder} กำลังไปหาคุณ ถึงในประมาณ {eta} นาที",
        "en": "{responder} is on the way, about {eta} min.",
    },
    "help_coming_family": {
        "th": "พิกัด: {elder} กดขอความช่วยเหลือ {responder} กำลังไปช่วย โทร {fallback_phone} หากเร่งด่วน",
        "en": "Phikat: {elder} asked for help. {responder} is on the way. "
        "Urgent: call {fallback_phone}.",
    },
    "escalation_officers": {
        "th": "ยังไม่มีผู้รับเหตุของ {elder} ({zone}) กรุณาสั่งการ ระดับ {level}",
        "en": "Nobody has taken {elder}'s SOS ({zone}). Please dispatch. Level {level}.",
    },
    "offer_sms": {
        "th": "พิกัด SOS: {elder} ({distance}) ต้องการความช่วยเหลือ เปิดแอปเพื่อรับเหตุ {link}",
        "en": "Phikat SOS: {elder} ({distance}) needs help. Open the app to accept {link}",
    },
    "assigned_to_you": {
        "th": "เจ้าหน้าที่มอบหมายเหตุของ {elder} ให้คุณ ({distance}) กรุณาเดินทางทันที",
        "en": "An officer assigned {elder}'s SOS ({distance}) to you. Please go now.",
    },
    "assigned_to_you_title": {"th": "ได้รับมอบหมายเหตุฉุกเฉิน", "en": "Emergency assigned to you"},
    "stand_down_cancelled": {
        "th": "เหตุของ {elder} ถูกยกเลิกแล้ว ไม่ต้องเดินทางต่อ ขอบคุณค่ะ",
        "en": "{elder}'s SOS was cancelled. You can stop; thank you.",
    },
    "stand_down_resolved": {
        "th": "เหตุของ {elder} ปิดแล้ว ไม่ต้องเดินทางต่อ ขอบคุณค่ะ",
        "en": "{elder}'s SOS has been closed. You can stop; thank you.",
    },
    "stand_down_reassigned": {
        "th": "เจ้าหน้าที่มอบหมายเหตุของ {elder} ให้ผู้อื่นแล้ว ไม่ต้องเดินทางต่อ ขอบคุณค่ะ",
        "en": "An officer gave {elder}'s SOS to someone else. You can stop; thank you.",
    },
    "stand_down_cancelled_title": {"th": "ไม่ต้องเดินทางต่อ", "en": "You can stand down"},
    "stand_down_resolved_title": {"th": "ไม่ต้องเดินทางต่อ", "en": "You can stand down"},
    "stand_down_reassigned_title": {"th": "ไม่ต้องเดินทางต่อ", "en": "You can stand down"},
    "sos_already_active": {
        "th": "ได้รับสัญญาณแล้ว ความช่วยเหลือกำลังดำเนินการอยู่",
        "en": "We already have your SOS. Help is on its way.",
    },
}


def render(key: str, language: str, **values: str) -> str:
    """The text for ``key`` in ``language`` (Thai when the language is unknown)."""
    texts = TEXTS[key]
    return texts.get(language, texts["th"]).format(**values)
