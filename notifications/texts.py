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
    "wander_family": {
        "th": "พิกัด: {elder} ออกนอกพื้นที่ปลอดภัย ({zone}) ตั้งแต่ {since} เจ้าหน้าที่ได้รับแจ้งแล้ว",
        "en": "Phikat: {elder} left the safe zone ({zone}) at {since}. The officers are told.",
    },
    "wander_officers": {
        "th": "ผู้สูงอายุออกนอกพื้นที่ปลอดภัย: {elder} ({zone}) ตั้งแต่ {since}",
        "en": "Wandering: {elder} left the safe zone ({zone}) at {since}",
    },
    "help_coming_family": {
        "th": "พิกัด: {elder} กดขอความช่วยเหลือ {responder} กำลังไปช่วย ถึงในประมาณ {eta} นาที "
        "โทร {fallback_phone} หากเร่งด่วน",
        "en": "Phikat: {elder} asked for help. {responder} is on the way, about {eta} min. "
        "Urgent: call {fallback_phone}.",
    },
    "escalation_officers": {
        "th": "ยังไม่มีผู้รับเหตุของ {elder} ({zone}) กรุณาสั่งการ ระดับ {level}",
        "en": "Nobody has taken {elder}'s SOS ({zone}). Please dispatch. Level {level}.",
    },
    "handoff_rejected": {
        "th": "1669 ปฏิเสธการรับเหตุของ {elder} ({zone}): {reason} กรุณาสั่งการทันที",
        "en": "1669 refused {elder}'s incident ({zone}): {reason}. Please dispatch now.",
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
    # The family's moments (dispatch.outgoing.family_alerted: LINE or SMS per contact).
    # "<template>_title" heads the LINE Flex message.
    "family_sos_opened": {
        "th": "พิกัด: {elder} กดขอความช่วยเหลือ กำลังจัดหาผู้ช่วยเหลือ หากเร่งด่วนโทร {fallback_phone}",
        "en": "Phikat: {elder} asked for help. Help is being arranged. "
        "Urgent: call {fallback_phone}.",
    },
    "family_sos_opened_title": {"th": "ขอความช่วยเหลือ", "en": "SOS"},
    "help_coming_family_title": {"th": "ผู้ช่วยเหลือกำลังไป", "en": "Help is on the way"},
    "family_arrived": {
        "th": "พิกัด: {responder} ถึงที่เกิดเหตุของ {elder} แล้ว",
        "en": "Phikat: {responder} has reached {elder}.",
    },
    "family_arrived_title": {"th": "ผู้ช่วยเหลือถึงแล้ว", "en": "Help has arrived"},
    "family_resolved": {
        "th": "พิกัด: เหตุของ {elder} ได้รับการดูแลและปิดเรียบร้อยแล้ว",
        "en": "Phikat: {elder}'s emergency has been taken care of and closed.",
    },
    "family_resolved_title": {"th": "ปิดเหตุแล้ว", "en": "Resolved"},
    "family_cancelled": {
        "th": "พิกัด: เหตุขอความช่วยเหลือของ {elder} ถูกยกเลิกแล้ว",
        "en": "Phikat: {elder}'s SOS was cancelled.",
    },
    "family_cancelled_title": {"th": "ยกเลิกแล้ว", "en": "Cancelled"},
    "family_handed_1669": {
        "th": "พิกัด: ส่งต่อเหตุของ {elder} ให้หน่วยแพทย์ฉุกเฉิน 1669 แล้ว หากเร่งด่วนโทร 1669",
        "en": "Phikat: {elder}'s emergency was handed to the 1669 emergency medical "
        "service. Urgent: call 1669.",
    },
    "family_handed_1669_title": {"th": "ส่งต่อ 1669", "en": "Handed to 1669"},
    "wander_family_title": {"th": "ออกนอกพื้นที่ปลอดภัย", "en": "Left the safe zone"},
    # Daily check-ins (dispatch/checkins): the elder's reminders, then the family.
    "checkin_reminder": {
        "th": "ถึงเวลารายงานตัวแล้ว กดปุ่ม \"ฉันสบายดี\" ภายใน {due} น.",
        "en": "Time to check in: tap \"I'm OK\" by {due}.",
    },
    "checkin_reminder_title": {"th": "รายงานตัวประจำวัน", "en": "Daily check-in"},
    "checkin_missed_family": {
        "th": "พิกัด: {elder} ยังไม่ได้รายงานตัวตามเวลา {due} น. กรุณาโทรหา "
        "หากเร่งด่วนโทร {fallback_phone}",
        "en": "Phikat: {elder} has not checked in (due {due}). Please call them. "
        "Urgent: call {fallback_phone}.",
    },
    "checkin_missed_family_title": {"th": "ยังไม่ได้รายงานตัว", "en": "Check-in missed"},
    "checkin_after_all": {
        "th": "พิกัด: {elder} ตอบกลับแล้วเมื่อ {at} น.",
        "en": "Phikat: {elder} responded at {at}.",
    },
    "checkin_after_all_title": {"th": "ตอบกลับแล้ว", "en": "Responded"},
    "checkin_done": {
        "th": "พิกัด: {elder} รายงานตัวแล้วเมื่อ {at} น.",
        "en": "Phikat: {elder} checked in at {at}.",
    },
    "checkin_done_title": {"th": "รายงานตัวแล้ว", "en": "Checked in"},
    "line_label_zone": {"th": "พื้นที่", "en": "Zone"},
    "line_label_map": {"th": "ดูแผนที่", "en": "Open the map"},
    # Replies of the LINE Official Account to a family member (before linking their
    # language is not known: both).
    "line_welcome": {
        "th": "สวัสดีค่ะ ส่งรหัส 8 ตัวที่เจ้าหน้าที่ให้ไว้ (เช่น ABCD-2345) "
        "เพื่อรับการแจ้งเตือนเกี่ยวกับผู้สูงอายุในครอบครัวของคุณ",
        "en": "Hello. Send the 8-character code the officer gave you (e.g. ABCD-2345) "
        "to receive alerts about your elderly family member.",
    },
    "line_code_invalid": {
        "th": "รหัสไม่ถูกต้องหรือหมดอายุแล้ว กรุณาขอรหัสใหม่จากเจ้าหน้าที่",
        "en": "This code is not valid or has expired. Please ask the officer for a new one.",
    },
    "line_code_too_many": {
        "th": "ลองหลายครั้งเกินไป กรุณารอสักครู่แล้วลองใหม่",
        "en": "Too many tries. Please wait a minute and try again.",
    },
    "line_linked": {
        "th": "เชื่อมต่อแล้ว คุณจะได้รับการแจ้งเตือนเกี่ยวกับ {elder} ทาง LINE นี้",
        "en": "Linked. You will receive alerts about {elder} here on LINE.",
    },
}


def render(key: str, language: str, **values: str) -> str:
    """The text for ``key`` in ``language`` (Thai when the language is unknown)."""
    texts = TEXTS[key]
    return texts.get(language, texts["th"]).format(**values)
