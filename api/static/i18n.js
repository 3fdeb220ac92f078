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
  },
};
window.lang = localStorage.getItem("phikat.lang") || "th";
window.t = (key) => (window.I18N[window.lang] || window.I18N.th)[key] || key;
window.applyI18n = () => {
  document.documentElement.lang = window.lang;
  document.querySelectorAll("[data-t]").forEach((el) => { el.textContent = t(el.dataset.t); });
  const toggle = document.getElementById("lang");
  if (toggle) toggle.textContent = window.lang === "th" ? "EN" : "ไทย";
};
