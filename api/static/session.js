// The officer's sign-in in this tab: a short-lived access token, renewed with the
// single-use refresh token shortly before it expires (and once after a 401).
"use strict";

const staffSession = (() => {
  const KEYS = ["phikat.token", "phikat.refresh", "phikat.renewAt"];
  let renewing = null;  // one renewal at a time: a refresh token works only once

  function save(tokens) {
    sessionStorage.setItem("phikat.token", tokens.access_token);
    sessionStorage.setItem("phikat.refresh", tokens.refresh_token);
    sessionStorage.setItem("phikat.renewAt", String(Date.now() + tokens.expires_in * 800));
  }

  function clear() { KEYS.forEach((key) => sessionStorage.removeItem(key)); }

  function token() { return sessionStorage.getItem("phikat.token"); }

  async function login(form) {
    const response = await fetch("/v1/auth/token", { method: "POST", body: new URLSearchParams(form) });
    if (!response.ok) return false;
    save(await response.json());
    return true;
  }

  function renew() {
    if (!renewing) {
      renewing = (async () => {
        const refresh = sessionStorage.getItem("phikat.refresh");
        if (!refresh) return false;
        const body = new URLSearchParams({ grant_type: "refresh_token", refresh_token: refresh });
        const response = await fetch("/v1/auth/token", { method: "POST", body }).catch(() => null);
        if (!response || !response.ok) { if (response) clear(); return false; }
        save(await response.json());
        return true;
      })().finally(() => { renewing = null; });
    }
    return renewing;
  }

  // A token good for the next request, renewed first when it is about to expire.
  async function fresh() {
    if (Date.now() >= Number(sessionStorage.getItem("phikat.renewAt") || 0)) await renew();
    return token();
  }

  async function authorizedFetch(path, options = {}) {
    const send = (bearer) =>
      fetch(path, { ...options, headers: { ...(options.headers || {}), Authorization: `Bearer ${bearer}` } });
    let response = await send(await fresh());
    if (response.status === 401 && (await renew())) response = await send(token());
    return response;
  }

  async function logout() {
    const refresh = sessionStorage.getItem("phikat.refresh");
    clear();
    if (refresh) {
      await fetch("/v1/auth/logout", { method: "POST", body: new URLSearchParams({ refresh_token: refresh }) })
        .catch(() => {});
    }
  }

  return { token, login, renew, fresh, fetch: authorizedFetch, logout, clear };
})();
