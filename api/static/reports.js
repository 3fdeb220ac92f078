// Response-time report: p50/p90 to first receipt, accept and arrival, per zone.
"use strict";

const form = document.getElementById("period");
const LABELS = {
  th: ["ถึงโทรศัพท์ผู้ช่วย", "มีผู้รับเหตุ", "ถึงที่เกิดเหตุ"],
  en: ["first receipt", "accepted", "on scene"],
};
let chart = null;

async function get(path) {
  const response = await staffSession.fetch(path);
  if (!response.ok) throw new Error((await response.json().catch(() => ({}))).detail || response.statusText);
  return response;
}

function seconds(value) { return value == null ? "—" : `${Math.round(value)} s`; }

async function load() {
  const org = (await (await get("/v1/me")).json()).organization_id;
  const data = new FormData(form);
  const query = new URLSearchParams({ from: `${data.get("from")}T00:00:00Z`, to: `${data.get("to")}T23:59:59Z` });
  const report = await (await get(`/v1/orgs/${org}/reports/response-times?${query}`)).json();
  const steps = [report.first_receipt, report.accept, report.arrival];
  document.getElementById("summary").textContent = `${report.incidents} incidents`;
  const labels = LABELS[window.lang] || LABELS.th;
  if (chart) chart.destroy();
  chart = new Chart(document.getElementById("chart"), {
    type: "bar",
    data: {
      labels,
      datasets: [
        { label: "p50 (s)", data: steps.map((s) => s.p50_s), backgroundColor: "#1976d2" },
        { label: "p90 (s)", data: steps.map((s) => s.p90_s), backgroundColor: "#f57c00" },
      ],
    },
    options: { animation: false, responsive: false },
  });
  const rows = report.zones.map((z) => `<tr><td>${z.zone_name || "—"}</td><td>${z.incidents}</td>
    ${[z.first_receipt, z.accept, z.arrival].map((m) => `<td>${seconds(m.p50_s)} / ${seconds(m.p90_s)}</td>`).join("")}</tr>`);
  document.getElementById("zones").innerHTML = `<tr><th>zone</th><th>n</th>${labels.map((l) => `<th>${l} p50/p90</th>`).join("")}</tr>${rows.join("")}`;
  document.getElementById("export").onclick = async (event) => {
    event.preventDefault();
    const blob = await (await get(`/v1/orgs/${org}/incidents.geojson?${query}`)).blob();
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = "incidents.geojson";
    link.click();
  };
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  load().catch((error) => { document.getElementById("error").textContent = error.message; });
});
document.getElementById("lang").addEventListener("click", () => {
  window.lang = window.lang === "th" ? "en" : "th";
  localStorage.setItem("phikat.lang", window.lang);
  applyI18n();
  load().catch(() => {});
});
const today = new Date();
form.elements.to.value = today.toISOString().slice(0, 10);
form.elements.from.value = new Date(today - 30 * 86400000).toISOString().slice(0, 10);
applyI18n();
if (!staffSession.token()) location.href = "/map";
else load().catch((error) => { document.getElementById("error").textContent = error.message; });
