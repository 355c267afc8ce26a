// Shared by the widgets' pages: configuration and fetch with the admin's
// CSRF token (double-submit cookie "csrftoken", header "X-CSRFToken").
"use strict";
window.pgext = (function () {
  const config = JSON.parse(document.body.dataset.config || "{}");

  function cookie(name) {
    for (const part of document.cookie.split(";")) {
      const [key, ...rest] = part.trim().split("=");
      if (key === name) return decodeURIComponent(rest.join("="));
    }
    return "";
  }

  async function api(url, options = {}) {
    const init = Object.assign({ credentials: "same-origin", headers: {} }, options);
    if (init.method && init.method !== "GET") {
      init.headers["X-CSRFToken"] = cookie("csrftoken");
      if (init.body !== undefined) init.headers["Content-Type"] = "application/json";
    }
    const response = await fetch(url, init);
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = { error: text }; }
    if (!response.ok) {
      const message = (data && data.error) || response.statusText;
      throw new Error(`${response.status}: ${message}`);
    }
    return data;
  }

  function text(id, value) {
    const element = document.getElementById(id);
    if (element) element.textContent = value;
  }

  return { config, cookie, api, text };
})();
