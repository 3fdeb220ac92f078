// The officers' live map: zones, open incidents, responders on duty, live over /v1/live.
"use strict";

const ACTIVE = ["dispatching", "accepted", "on_scene"];
const state = {
  token: staffSession.token(),
  org: null,
  cursor: null,          // last event id seen: a reconnect resumes after it
  socket: null,
  reconnects: 0,
  reconnectDelayMs: 1000,
  incidents: new Map(),  // id -> summary
  markers: new Map(),    // incident id -> Leaflet marker
  responders: new Map(), // responder id -> {data, marker}
  selected: null,
  unseen: 0,
  watch: null,           // {checkins, zones}: elders whose check-in or safe zone needs an eye
  track: null,           // the selected wander incident's track (a Leaflet polyline)
};
window.phikat = state;

const map = L.map("map", { zoomControl: true }).setView([16.88, 103.26], 13);
const zoneLayer = L.featureGroup().addTo(map);

async function api(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(options.json);
  }
  const response = await staffSession.fetch(path, { ...options, headers });
  if (response.status === 401) { logout(); throw new Error("unauthenticated"); }
  if (!response.ok) {
    const problem = await response.json().catch(() => ({}));
    throw new Error(problem.detail || response.statusText);
  }
  return response.status === 204 ? null : response.json();
}

// --- login ---------------------------------------------------------------------------

document.getElementById("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!(await staffSession.login(new FormData(event.target)))) {
    document.getElementById("login-error").textContent = t("badLogin");
    return;
  }
  state.token = staffSession.token();
  await start();
});

async function logout() {
  state.token = null;
  if (state.socket) state.socket.close();
  await staffSession.logout();
  location.reload();
}
document.getElementById("logout").addEventListener("click", logout);
document.getElementById("lang").addEventListener("click", () => {
  window.lang = window.lang === "th" ? "en" : "th";
  localStorage.setItem("phikat.lang", window.lang);
  applyI18n();
  renderList();
  renderWatch();
  if (state.selected) showIncident(state.selected);
});

// --- drawing ---------------------------------------------------------------------------

function ageText(iso) {
  const minutes = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 60000));
  return `${minutes} ${t("minutes")}${window.lang === "th" ? "" : " " + t("ago")}`;
}

function incidentIcon(incident) {
  return L.divIcon({
    className: "",
    iconSize: [22, 22],
    html: `<div class="incident state-${incident.state}" data-incident="${incident.id}"></div>`,
  });
}

function drawIncident(incident) {
  state.incidents.set(incident.id, incident);
  const open = ACTIVE.includes(incident.state);
  let marker = state.markers.get(incident.id);
  if (!open) {
    if (marker) { marker.remove(); state.markers.delete(incident.id); }
    renderList();
    return;
  }
  const at = [incident.location.lat, incident.location.lon];
  if (!marker) {
    marker = L.marker(at, { icon: incidentIcon(incident) }).addTo(map);
    marker.on("click", () => showIncident(incident.id));
    state.markers.set(incident.id, marker);
  } else {
    marker.setLatLng(at);
    marker.setIcon(incidentIcon(incident));
  }
  marker.bindTooltip(`${escapeHtml(incident.elder_name ?? "—")} · ${t(incident.state)} · ${ageText(incident.created_at)}`);
  renderList();
}

function renderList() {
  const list = document.getElementById("incidents");
  const open = [...state.incidents.values()].filter((i) => ACTIVE.includes(i.state))
    .sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at));
  list.innerHTML = "";
  if (!open.length) list.innerHTML = `<li>${t("none")}</li>`;
  for (const incident of open) {
    const item = document.createElement("li");
    item.innerHTML = `<span class="badge ${incident.state}">${t(incident.state)}</span> `
      + `${triggerHtml(incident.trigger)}${escapeHtml(incident.elder_name ?? "—")} · ${ageText(incident.created_at)}`;
    item.addEventListener("click", () => showIncident(incident.id));
    list.appendChild(item);
  }
}

// An incident the elder did not open by pressing: a missed check-in, or wandering.
function triggerHtml(trigger) {
  const label = { wander: t("wander"), checkin_missed: tCheckin("missed") }[trigger];
  return label ? `<span class="trigger" data-trigger="${trigger}">${escapeHtml(label)}</span> ` : "";
}

// --- elders to watch: check-ins missed, due or paused, and safe zones left or unknown ---

function clockText(iso) {
  return new Date(iso).toLocaleString(window.lang === "th" ? "th-TH" : "en-GB",
    { hour: "2-digit", minute: "2-digit", day: "numeric", month: "short" });
}

async function loadWatch() {
  const [checkins, zones] = await Promise.all([
    api(`/v1/orgs/${state.org}/checkins`), api(`/v1/orgs/${state.org}/safe-zones`)]);
  state.watch = { checkins, zones };
  renderWatch();
}

function renderWatch() {
  if (!state.watch) return;
  const rows = [];
  for (const c of state.watch.checkins) {
    const s = c.status;
    if (s.state === "ok") continue;
    const key = s.state === "due" && s.late ? "late" : s.state;
    const when = s.state === "paused" ? `${t("until")} ${clockText(s.paused_until)}`
      : `${t("dueAt")} ${clockText(s.due_at)}`;
    rows.push(`<li data-watch="${c.elder_id}" data-checkin="${key}"${s.incident_id ? ` data-open="${s.incident_id}"` : ""}>`
      + `<span class="badge checkin-${key}">${escapeHtml(tCheckin(key))}</span> ${escapeHtml(c.elder_name)} · ${when}</li>`);
  }
  for (const z of state.watch.zones) {
    const s = z.status;
    if (s.state === "inside") continue;
    rows.push(`<li data-watch="${z.elder_id}" data-wander="${s.state}"${s.incident_id ? ` data-open="${s.incident_id}"` : ""}>`
      + `<span class="badge wander-${s.state}">${escapeHtml(tWander(s.state))}</span> ${escapeHtml(z.elder_name)}`
      + ` · ${escapeHtml(z.zone_name)}${s.last_fix_at ? " · " + clockText(s.last_fix_at) : ""}</li>`);
  }
  const list = document.getElementById("watch");
  list.innerHTML = rows.join("") || `<li>${t("nobody")}</li>`;
  list.querySelectorAll("[data-open]").forEach((li) => li.addEventListener("click", () => showIncident(li.dataset.open)));
}

// The elder's positions since leaving the safe zone, on the map while the incident is open.
function drawTrack(incident) {
  if (state.track) { state.track.remove(); state.track = null; }
  if (incident.trigger !== "wander") return;
  const points = incident.trail.filter((p) => p.source === "elder").map((p) => [p.lat, p.lon]);
  if (points.length) state.track = L.polyline(points, { className: "wander-track", color: "#8e24aa", weight: 4 }).addTo(map);
}

function drawResponder(id, name, lat, lon) {
  let entry = state.responders.get(id);
  if (!entry) {
    const marker = L.marker([lat, lon], {
      icon: L.divIcon({ className: "", iconSize: [14, 14], html: `<div class="responder" data-responder="${id}"></div>` }),
    }).addTo(map).bindTooltip(escapeHtml(name || ""));
    entry = { marker, name };
    state.responders.set(id, entry);
  } else {
    entry.marker.setLatLng([lat, lon]);
  }
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

// --- the incident panel ------------------------------------------------------------------

async function showIncident(id) {
  state.selected = id;
  const incident = await api(`/v1/incidents/${id}`);
  const responders = [...state.responders.entries()];
  const names = new Map(responders.map(([rid, r]) => [rid, r.name]));
  const last = incident.trail.filter((p) => p.source === "responder").pop();
  const medical = incident.elder ? incident.elder.medical : null; // null: erased (PDPA)
  drawTrack(incident);
  const detail = document.getElementById("detail");
  detail.hidden = false;
  document.getElementById("list").hidden = true;
  detail.innerHTML = `
    <button type="button" id="back">← ${t("back")}</button>
    <h2>${triggerHtml(incident.trigger)}${escapeHtml(incident.elder ? incident.elder.name : "—")} <span class="badge ${incident.state}">${t(incident.state)}</span></h2>
    <p>${incident.zone ? escapeHtml(incident.zone.name) : "—"} · ${ageText(incident.created_at)} · ${t("level")}: ${incident.escalation_level}</p>
    ${medicalHtml(medical)}
    ${handoffHtml(incident.events)}
    ${incident.responder ? `<p><b>${t("responder")}:</b> ${escapeHtml(incident.responder.name)} ${escapeHtml(incident.responder.phone || "")}
      ${last ? ` · ${t("eta")} ${Math.round((last.eta_s || 0) / 60)} ${t("minutes")}` : ""}</p>` : ""}
    <h3>${t("offers")}</h3>
    <ul>${incident.offers.map((o) => `<li>${escapeHtml(names.get(o.responder_id) || o.responder_id.slice(0, 8))}
      · ${escapeHtml(tOffer(o.state))}${o.received_at ? " · " + t("received") : ""}
      ${o.distance_m != null ? " · " + Math.round(o.distance_m) + " m" : ""}</li>`).join("")}</ul>
    <div class="actions">
      <select id="assign-to">${responders.map(([rid, r]) => `<option value="${rid}">${escapeHtml(r.name || rid)}</option>`).join("")}</select>
      <button type="button" data-action="assign">${t("assign")}</button>
      <button type="button" data-action="escalate">${t("escalate")}</button>
      <button type="button" data-action="cancel">${t("cancel")}</button>
      <button type="button" data-action="resolve">${t("resolve")}</button>
    </div>
    <h3>${t("timeline")}</h3>
    <ol class="timeline">${timelineHtml(incident.events, names)}</ol>`;
  document.getElementById("back").addEventListener("click", () => {
    state.selected = null;
    drawTrack({ trigger: null });
    detail.hidden = true;
    document.getElementById("list").hidden = false;
  });
  detail.querySelectorAll("[data-action]").forEach((button) => {
    button.addEventListener("click", () => act(id, button.dataset.action));
  });
}

// Only the medical facts there are: an elder with no allergy shows no "allergies" label.
function medicalHtml(medical) {
  if (!medical) return "";  // not shown to this viewer, or erased (PDPA)
  const parts = [
    ["conditions", medical.conditions.join(", ")],
    ["medications", medical.medications.join(", ")],
    ["allergies", medical.allergies.join(", ")],
    ["bloodType", medical.blood_type || ""],
  ].filter(([, text]) => text.trim())
    .map(([label, text]) => `<span data-medical="${label}">${t(label)}: ${escapeHtml(text)}</span>`);
  return parts.length ? `<p class="medical"><b>${t("medical")}:</b> ${parts.join(" · ")}</p>` : "";
}

// The 1669 hand-off as its latest step: sent, delivered, then the centre's answers (ASAP),
// with the centre's reference, a rejection's reason or a closing disposition.
function handoffHtml(events) {
  let status = null;
  let note = "";
  let reference = "";
  for (const e of events) {
    const data = e.data || {};
    if (e.event === "handoff.sent" && !status) status = "sent";
    else if (e.event === "handoff.delivered" && (!status || status === "sent")) {
      status = "delivered";
      reference = data.reference || reference;
    } else if (e.event === "handoff.answered") {
      status = data.status;
      note = data.status === "rejected" ? data.reason : data.status === "closed" ? data.disposition : "";
      reference = data.reference || reference;
    }
  }
  if (!status) return "";
  return `<p class="handoff ${status === "rejected" ? "alert" : ""}" data-handoff="${escapeHtml(status)}">`
    + `<b>${t("handoff")}:</b> <span class="handoff-status">${escapeHtml(tHandoff(status))}</span>`
    + `${note ? ` · <span class="handoff-note">${escapeHtml(note)}</span>` : ""}`
    + `${reference ? ` · ${escapeHtml(reference)}` : ""}</p>`;
}

// Event names in the officer's language (the raw name as a tooltip), who it concerns, and a
// run of position reports folded into one line: a ride sends dozens.
function timelineHtml(events, names) {
  const rows = [];
  for (const e of events) {
    const previous = rows[rows.length - 1];
    if (e.event.endsWith(".location") && previous && previous.event.event === e.event) {
      previous.count += 1;
      previous.last = e;
      continue;
    }
    rows.push({ event: e, last: e, count: 1 });
  }
  return rows.map(({ event, last, count }) => {
    const who = event.data && event.data.responder_id ? names.get(event.data.responder_id) : null;
    return `<li data-event="${escapeHtml(event.event)}" title="${escapeHtml(event.event)}">`
      + `${new Date(last.at).toLocaleTimeString()} ${escapeHtml(tEvent(event.event))}`
      + `${who ? " · " + escapeHtml(who) : ""}${count > 1 ? ` (×${count})` : ""}</li>`;
  }).join("");
}

async function act(id, action) {
  try {
    if (action === "assign") {
      await api(`/v1/incidents/${id}/assign`, { method: "POST", json: { responder_id: document.getElementById("assign-to").value } });
    } else if (action === "escalate") {
      await api(`/v1/incidents/${id}/escalate`, { method: "POST" });
    } else if (action === "cancel") {
      const reason = prompt(t("reason"));
      if (!reason) return;
      await api(`/v1/incidents/${id}/cancel`, { method: "POST", json: { reason } });
    } else if (action === "resolve") {
      await api(`/v1/incidents/${id}/resolve`, { method: "POST", json: { outcome: "handed_to_1669" } });
    }
  } catch (error) {
    alert(error.message);
  }
  await refreshIncident(id);
  if (state.selected === id) showIncident(id);
}

// --- live ---------------------------------------------------------------------------------

function beep() {
  try {
    const audio = new AudioContext();
    const tone = audio.createOscillator();
    tone.frequency.value = 880;
    tone.connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.4);
  } catch (error) { /* no audio device: the title still changes */ }
}

function announceSos() {
  state.unseen += 1;
  document.title = `(${state.unseen}) ${t("newSos")} — ${t("app")}`;
  beep();
}
window.addEventListener("focus", () => { state.unseen = 0; document.title = `${t("app")}`; });

async function refreshIncident(id) {
  const incident = await api(`/v1/incidents/${id}`);
  drawIncident(incident);
}

async function onEvent(frame) {
  state.cursor = frame.id;
  const { event, incident_id: id, data } = frame;
  if (event === "responder.location") {
    drawResponder(data.responder_id, state.responders.get(data.responder_id)?.name, data.lat, data.lon);
  }
  if (!id) return;
  if (event === "incident.opened") announceSos();
  if (["incident.opened", "incident.joined", "checkin.received"].includes(event)) loadWatch().catch(console.error);
  if (event.startsWith("incident.") || event.startsWith("handoff.") || event === "offer.received") {
    await refreshIncident(id);
    if (state.selected === id) showIncident(id);
  }
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/v1/live`);
  state.socket = socket;
  const live = document.getElementById("live");
  let chain = Promise.resolve();
  socket.onopen = async () => {
    state.token = await staffSession.fresh();
    socket.send(JSON.stringify({ type: "hello", token: state.token, after: state.cursor }));
  };
  socket.onmessage = (message) => {
    const frame = JSON.parse(message.data);
    if (frame.type === "welcome") {
      if (state.cursor === null) state.cursor = frame.last_event_id;
      live.className = "live on";
      live.textContent = t("online");
    } else if (frame.type === "event") {
      chain = chain.then(() => onEvent(frame)).catch(console.error);  // in id order
    } else if (frame.type === "ping") {
      socket.send(JSON.stringify({ type: "pong" }));
    }
  };
  socket.onclose = (closed) => {
    live.className = "live off";
    live.textContent = t("offline");
    if (!state.token) return;
    if (closed.code === 4401) {
      // The access token expired under the socket: renew it and resume, or sign in again.
      staffSession.renew().then((ok) => (ok ? setTimeout(connect, 0) : logout()));
      return;
    }
    state.reconnects += 1;
    setTimeout(connect, state.reconnectDelayMs);  // resumes with after = state.cursor
  };
}

// For tests and for an officer's "reconnect" in the console.
state.dropSocket = () => state.socket && state.socket.close();

// --- start ----------------------------------------------------------------------------------

async function start() {
  const me = await api("/v1/me");
  state.org = me.organization_id;
  document.getElementById("login").hidden = true;
  document.getElementById("list").hidden = false;
  document.getElementById("logout").hidden = false;
  const org = await api(`/v1/orgs/${state.org}`);
  document.getElementById("org").textContent = org.name;

  const config = await api("/map/config.json");
  if (config.tiles_url) {
    L.tileLayer(config.tiles_url, { attribution: config.tiles_attribution, maxZoom: 19 }).addTo(map);
  }
  const zones = await api(`/v1/orgs/${state.org}/zones`);
  L.geoJSON(zones, {
    style: { color: "#12355b", weight: 2, fillOpacity: 0.08 },
    onEachFeature: (feature, layer) => layer.bindTooltip(feature.properties.name,
      { permanent: true, direction: "center", className: "zone-label" }),
  }).addTo(zoneLayer);
  if (zoneLayer.getLayers().length) map.fitBounds(zoneLayer.getBounds());

  await loadResponders();
  setInterval(loadResponders, 30000);
  await loadWatch();
  setInterval(() => loadWatch().catch(console.error), 15000);
  const incidents = await api(`/v1/orgs/${state.org}/incidents?limit=200`);
  incidents.forEach(drawIncident);
  setInterval(() => state.incidents.forEach((i) => drawIncident(i)), 10000);  // ages
  connect();
}

async function loadResponders() {
  const responders = await api(`/v1/orgs/${state.org}/responders`);
  for (const r of responders) {
    if (r.on_duty && r.last_location) drawResponder(r.id, r.name, r.last_location.lat, r.last_location.lon);
    else if (state.responders.has(r.id)) state.responders.get(r.id).name = r.name;
  }
  for (const r of responders) {
    const entry = state.responders.get(r.id);
    if (entry) entry.name = r.name;
  }
}

applyI18n();
if (state.token) start().catch(() => logout());
