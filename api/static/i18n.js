// Thai first (the officers' language), English second.
window.I18N = {
  th: {
    app: "พิกัด", offline: "ออฟไลน์", online: "ออนไลน์", reports: "รายงาน", logout: "ออกจากระบบ",
    login: "เข้าสู่ระบบเจ้าหน้าที่", email: "อีเมล", password: "รหัสผ่าน", signin: "เข้าสู่ระบบ",
    badLogin: "อีเมลหรือรหัสผ่านไม่ถูกต้อง", active: "เหตุที่กำลังดำเนินการ", none: "ไม่มีเหตุ",
    dispatching: "รอผู้รับเหตุ", accepted: "มีผู้รับเหตุแล้ว", on_scene: "ถึงที่เกิดเหตุ",
    resolved: "ปิดเหตุแล้ว", cancelled: "ยกเลิก", minutes: "นาที", ago: "ที่แล้ว",
    elder: "ผู้สูงอายุ", responder: "ผู้ช่วยเหลือ", eta: "ถึงในประมาณ", distance: "ระยะทาง",
    offers: "ผู้ที่ได้รับแจ้ง", timeline: "ลำดับเหตุการณ์", received: "ได้รับแล้ว",
    assign: "มอบหมาย", escalate: "ส่งต่อ 1669", cancel: "ยกเลิกเหตุ", resolve: "ปิดเหตุ",
    level: "ระดับการส่งต่อ", newSos: "SOS ใหม่!", medical: "ข้อมูลสุขภาพ", back: "กลับ",
    reason: "เหตุผลที่ยกเลิก", outcome: "ผลการช่วยเหลือ",
    watch: "ผู้สูงอายุที่ต้องติดตาม", checkinStates: {
      ok: "รายงานตัวแล้ว", due: "ถึงเวลารายงานตัว", late: "เลยเวลารายงานตัว",
      missed: "ไม่ได้รายงานตัว", paused: "พักการรายงานตัว",
    },
    wanderStates: { leaving: "กำลังออกนอกพื้นที่", outside: "ออกนอกพื้นที่ปลอดภัย", unknown: "ตำแหน่งไม่แน่ชัด" },
    until: "ถึง", dueAt: "กำหนด", wander: "ออกนอกพื้นที่", nobody: "ไม่มี",
    conditions: "โรคประจำตัว", medications: "ยา", allergies: "แพ้", bloodType: "กรุ๊ปเลือด",
    // Every name of core/events/catalogue.py (tests/test_map_i18n.py checks both languages).
    events: {
      "incident.opened": "แจ้งเหตุ SOS",
      "incident.joined": "กด SOS ซ้ำ",
      "offer.sent": "ส่งคำขอช่วยเหลือ",
      "offer.received": "ผู้ช่วยเหลือได้รับคำขอแล้ว",
      "offer.unreceived": "ไม่มีการยืนยันรับคำขอ",
      "offer.declined": "ผู้ช่วยเหลือปฏิเสธ",
      "offer.expired": "คำขอหมดเวลา",
      "offer.withdrawn": "ถอนคำขอ",
      "incident.accepted": "มีผู้รับเหตุแล้ว",
      "incident.escalated": "ส่งต่อระดับสูงขึ้น",
      "incident.on_scene": "ถึงที่เกิดเหตุ",
      "incident.arrival_overdue": "ยังไม่ถึงตามเวลาที่คาด",
      "incident.resolved": "ปิดเหตุแล้ว",
      "incident.cancelled": "ยกเลิกเหตุ",
      "responder.location": "ตำแหน่งผู้ช่วยเหลือ",
      "responder.removed": "ถอนผู้ช่วยเหลือออกจากเหตุ",
      "elder.location": "ตำแหน่งผู้สูงอายุ",
      "message.failed": "ส่งข้อความไม่สำเร็จ",
      "handoff.sent": "ส่งข้อมูลให้ศูนย์สั่งการ 1669",
      "handoff.delivered": "ศูนย์สั่งการ 1669 ได้รับข้อมูลแล้ว",
      "handoff.answered": "ศูนย์สั่งการ 1669 ตอบกลับ",
      "checkin.received": "ผู้สูงอายุรายงานตัวแล้ว",
    },
    handoff: "ศูนย์สั่งการ 1669",
    handoffStates: {
      sent: "ส่งข้อมูลแล้ว", delivered: "ศูนย์ได้รับข้อมูลแล้ว", accepted: "ศูนย์รับเหตุแล้ว",
      rejected: "ศูนย์ปฏิเสธ", dispatched: "ส่งรถพยาบาลแล้ว", arrived: "รถพยาบาลถึงที่เกิดเหตุ",
      closed: "ศูนย์ปิดเหตุแล้ว",
    },
    offerStates: {
      pending: "รอตอบ", accepted: "รับเหตุ", declined: "ปฏิเสธ", expired: "หมดเวลา",
      withdrawn: "ถอนแล้ว",
    },
  },
  en: {
    app: "Phikat", offline: "offline", online: "live", reports: "Reports", logout: "Log out",
    login: "Officer login", email: "E-mail", password: "Password", signin: "Log in",
    badLogin: "Wrong e-mail or password", active: "Open incidents", none: "No incidents",
    dispatching: "waiting for a responder", accepted: "accepted", on_scene: "on scene",
    resolved: "resolved", cancelled: "cancelled", minutes: "min", ago: "ago",
    elder: "Elder", responder: "Responder", eta: "ETA", distance: "Distance",
    offers: "Offered to", timeline: "Timeline", received: "received",
    assign: "Assign", escalate: "Hand to 1669", cancel: "Cancel", resolve: "Resolve",
    level: "Escalation level", newSos: "New SOS!", medical: "Medical", back: "Back",
    reason: "Reason for cancelling", outcome: "Outcome",
    watch: "Elders to watch", checkinStates: {
      ok: "checked in", due: "check-in due", late: "check-in late", missed: "check-in missed",
      paused: "check-ins paused",
    },
    wanderStates: { leaving: "leaving the safe zone", outside: "left the safe zone", unknown: "position unknown" },
    until: "until", dueAt: "due", wander: "Wandering", nobody: "Nobody",
    conditions: "Conditions", medications: "Medications", allergies: "Allergies",
    bloodType: "Blood type",
    events: {
      "incident.opened": "SOS received",
      "incident.joined": "SOS pressed again",
      "offer.sent": "Offer sent",
      "offer.received": "Offer received by the responder",
      "offer.unreceived": "Offer not confirmed",
      "offer.declined": "Offer declined",
      "offer.expired": "Offer expired",
      "offer.withdrawn": "Offer withdrawn",
      "incident.accepted": "Accepted",
      "incident.escalated": "Escalated",
      "incident.on_scene": "On scene",
      "incident.arrival_overdue": "Arrival overdue",
      "incident.resolved": "Resolved",
      "incident.cancelled": "Cancelled",
      "responder.location": "Responder's position",
      "responder.removed": "Responder removed from the incident",
      "elder.location": "Elder's position",
      "message.failed": "Message not delivered",
      "handoff.sent": "Hand-off sent to the 1669 centre",
      "handoff.delivered": "Hand-off received by the 1669 centre",
      "handoff.answered": "The 1669 centre answered",
      "checkin.received": "The elder checked in",
    },
    handoff: "1669 centre",
    handoffStates: {
      sent: "record sent", delivered: "received by the centre", accepted: "accepted by the centre",
      rejected: "refused by the centre", dispatched: "ambulance dispatched",
      arrived: "ambulance on scene", closed: "closed by the centre",
    },
    offerStates: {
      pending: "pending", accepted: "accepted", declined: "declined", expired: "expired",
      withdrawn: "withdrawn",
    },
  },
};
window.lang = localStorage.getItem("phikat.lang") || "th";
window.t = (key) => (window.I18N[window.lang] || window.I18N.th)[key] || key;
// An event's name, or an offer's state, in the current language (the raw name if unknown).
window.tEvent = (name) => (window.I18N[window.lang] || window.I18N.th).events[name] || name;
window.tHandoff = (status) => (window.I18N[window.lang] || window.I18N.th).handoffStates[status] || status;
window.tCheckin = (key) => (window.I18N[window.lang] || window.I18N.th).checkinStates[key] || key;
window.tWander = (key) => (window.I18N[window.lang] || window.I18N.th).wanderStates[key] || key;
window.tOffer = (state) => (window.I18N[window.lang] || window.I18N.th).offerStates[state] || state;
window.applyI18n = () => {
  document.documentElement.lang = window.lang;
  document.querySelectorAll("[data-t]").forEach((el) => { el.textContent = t(el.dataset.t); });
  const toggle = document.getElementById("lang");
  if (toggle) toggle.textContent = window.lang === "th" ? "EN" : "ไทย";
};
