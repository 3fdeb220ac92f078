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
      + `${escapeHtml(incident.elder_name ?? "—")} · ${ageText(incident.created_at)}`;
    item.addEventListener("click", () => showIncident(incident.id));
    list.appendChild(item);
  }
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
  const detail = document.getElementById("detail");
  detail.hidden = false;
  document.getElementById("list").hidden = true;
  detail.innerHTML = `
    <button type="button" id="back">← ${t("back")}</button>
    <h2>${escapeHtml(incident.elder ? incident.elder.name : "—")} <span class="badge ${incident.state}">${t(incident.state)}</span></h2>
    <p>${incident.zone ? escapeHtml(incident.zone.name) : "—"} · ${ageText(incident.created_at)} · ${t("level")}: ${incident.escalation_level}</p>
    ${medical ? `<p><b>${t("medical")}:</b> ${escapeHtml(medical.conditions.join(", "))}; ${escapeHtml(medical.medications.join(", "))}; ${escapeHtml(medical.allergies.join(", "))} ${escapeHtml(medical.blood_type || "")}</p>` : ""}
    ${incident.responder ? `<p><b>${t("responder")}:</b> ${escapeHtml(incident.responder.name)} ${escapeHtml(incident.responder.phone || "")}
      ${last ? ` · ${t("eta")} ${Math.round((last.eta_s || 0) / 60)} ${t("minutes")}` : ""}</p>` : ""}
    <h3>${t("offers")}</h3>
    <ul>${incident.offers.map((o) => `<li>${escapeHtml(names.get(o.responder_id) || o.responder_id.slice(0, 8))}
      · ${escapeHtml(o.state)}${o.received_at ? " · " + t("received") : ""}
      ${o.distance_m != null ? " · " + Math.round(o.distance_m) + " m" : ""}</li>`).join("")}</ul>
    <div class="actions">
      <select id="assign-to">${responders.map(([rid, r]) => `<option value="${rid}">${escapeHtml(r.name || rid)}</option>`).join("")}</select>
      <button type="button" data-action="assign">${t("assign")}</button>
      <button type="button" data-action="escalate">${t("escalate")}</button>
      <button type="button" data-action="cancel">${t("cancel")}</button>
      <button type="button" data-action="resolve">${t("resolve")}</button>
    </div>
    <h3>${t("timeline")}</h3>
    <ol class="timeline">${incident.events.map((e) => `<li>${new Date(e.at).toLocaleTimeString()} ${escapeHtml(e.event)}</li>`).join("")}</ol>`;
  document.getElementById("back").addEventListener("click", () => {
    state.selected = null;
    detail.hidden = true;
    document.getElementById("list").hidden = false;
  });
  detail.querySelectorAll("[data-action]").forEach((button) => {
    button.addEventListener("click", () => act(id, button.dataset.action));
  });
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
  if (event.startsWith("incident.") || event === "offer.received") {
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
