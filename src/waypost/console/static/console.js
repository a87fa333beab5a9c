// waypost console: the small script every page loads.
// Polls partial HTML and swaps it in ([data-poll]), copies URLs ([data-copy]), keeps an
// endpoint's state badge live, follows its logs, and calls the REST API with the session
// cookie (plus the X-Waypost-Console header the API asks of cookie-signed changes).
// Hand-written on purpose: no CDN is reachable and no third-party code is committed.
(function () {
  "use strict";
  const HEADERS = { "X-Waypost-Console": "1" };

  function signIn() {
    location.href = "/signin?next=" + encodeURIComponent(location.pathname + location.search);
  }

  // CSGHub-style answers wrap their data: {"msg": "OK", "data": ...}.
  function unwrap(data) {
    if (data && typeof data === "object" && !Array.isArray(data) && "msg" in data && "data" in data) {
      return data.data;
    }
    return data;
  }

  async function api(method, url, body) {
    const init = { method: method, credentials: "same-origin", headers: Object.assign({}, HEADERS) };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(url, init);
    if (response.status === 401) {
      signIn();
      throw new Error("signed out");
    }
    const text = await response.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch (e) { data = text; }
    }
    if (!response.ok) {
      const error = new Error((data && data.message) || response.status + " " + response.statusText);
      error.status = response.status;
      error.data = data;
      throw error;
    }
    return unwrap(data);
  }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = value;
      else if (name === "checked" || name === "selected" || name === "disabled") node[name] = true;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children || []) node.append(child);
    return node;
  }

  let toastTimer = null;
  function toast(message) {
    const box = document.getElementById("toast");
    if (!box) return;
    box.textContent = message;
    box.classList.add("show");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { box.classList.remove("show"); }, 2200);
  }

  // Errors of an API answer shown next to their fields: each problem's field is matched
  // against [data-error] boxes in ``scope`` by prefix (``replicas.min`` -> ``replicas``).
  function showErrors(scope, error, fallback) {
    clearErrors(scope);
    const boxes = Array.from(scope.querySelectorAll("[data-error]"));
    const problems = (error.data && error.data.problems) || [];
    let placed = false;
    for (const problem of problems) {
      const field = (problem.field || "").replace(/-/g, "_");
      const box = boxes
        .filter(function (b) { return field === b.dataset.error || field.startsWith(b.dataset.error.replace(/-/g, "_")); })
        .sort(function (a, b) { return b.dataset.error.length - a.dataset.error.length; })[0];
      if (box) {
        box.textContent = (box.textContent ? box.textContent + " " : "") + problem.message;
        markInvalid(box);
        placed = true;
      }
    }
    if (!placed) {
      const box = (fallback && scope.querySelector('[data-error="' + fallback + '"]')) || boxes[boxes.length - 1];
      if (box) { box.textContent = error.message; markInvalid(box); }
    }
  }

  function markInvalid(box) {
    const field = box.closest(".field");
    const input = field && field.querySelector("input, select, textarea");
    if (input) input.setAttribute("aria-invalid", "true");
  }

  function clearErrors(scope) {
    for (const box of scope.querySelectorAll("[data-error]")) box.textContent = "";
    for (const input of scope.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  }

  // -- partial swaps ---------------------------------------------------------------------

  function swap(node, html) {
    const focused = document.activeElement;
    const copyOf = focused && node.contains(focused) ? focused.getAttribute("data-copy") : null;
    node.innerHTML = html;
    if (copyOf) {
      const again = Array.from(node.querySelectorAll("[data-copy]")).find(function (b) { return b.getAttribute("data-copy") === copyOf; });
      if (again) again.focus();
    }
    node.dispatchEvent(new CustomEvent("swapped", { bubbles: true }));
  }

  function poll(node) {
    const every = Number(node.dataset.every) || 1000;
    let busy = false;
    async function tick() {
      if (!document.hidden && !busy && node.isConnected) {
        busy = true;
        try {
          let url = node.dataset.poll;
          if ("withQuery" in node.dataset) url += location.search;
          const response = await fetch(url, { credentials: "same-origin", headers: HEADERS });
          if (response.status === 401) { signIn(); return; }
          if (response.status === 404) return; // gone (deleted): stop polling
          if (response.ok) {
            const html = await response.text();
            if (html !== node.dataset.last) {
              node.dataset.last = html;
              swap(node, html);
            }
          }
        } catch (e) {
          // The control plane restarting: try again at the next tick.
        }
        busy = false;
      }
      node.pollTimer = setTimeout(tick, every);
    }
    node.pollNow = function () { clearTimeout(node.pollTimer); tick(); };
    if ("load" in node.dataset) tick();
    else node.pollTimer = setTimeout(tick, every);
  }

  // -- copying -----------------------------------------------------------------------------

  async function copyText(text) {
    try {
      await navigator.clipboard.writeText(text);
    } catch (e) {
      const area = el("textarea", { "aria-hidden": "true", class: "sr-only" });
      area.value = text;
      document.body.append(area);
      area.select();
      try { document.execCommand("copy"); } catch (ignored) { /* nothing more to try */ }
      area.remove();
    }
    toast("Copied to the clipboard");
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-copy], [data-copy-from]");
    if (!button) return;
    const from = button.getAttribute("data-copy-from");
    const text = from ? document.getElementById(from).textContent : button.getAttribute("data-copy");
    copyText(text);
    button.dataset.copied = "true";
  });

  // -- filters -----------------------------------------------------------------------------

  function filters(form) {
    form.addEventListener("change", function () {
      const query = new URLSearchParams();
      for (const [name, value] of new FormData(form)) if (value) query.set(name, value);
      const search = query.toString() ? "?" + query.toString() : "";
      if (document.body.dataset.page === "endpoints") {
        history.replaceState(null, "", location.pathname + search);
        const list = document.getElementById("list");
        if (list && list.pollNow) list.pollNow();
      } else {
        location.href = location.pathname + search;
      }
    });
  }

  // -- an endpoint's live state and logs ----------------------------------------------------

  function endpointData() {
    const node = document.getElementById("endpoint-data");
    return node ? JSON.parse(node.textContent) : null;
  }

  function followState(ep) {
    const url = "/api/v1/endpoints/" + ep.key;
    async function tick() {
      if (!document.hidden) {
        try {
          const now = await api("GET", url);
          setState(now);
        } catch (e) {
          if (e.status === 404) return;
        }
      }
      setTimeout(tick, 1000);
    }
    setState(ep);
    setTimeout(tick, 1000);
  }

  function setState(ep) {
    for (const badge of document.querySelectorAll("[data-live-state]")) {
      badge.textContent = ep.state;
      badge.dataset.state = ep.state;
    }
    for (const text of document.querySelectorAll("[data-live-state-text]")) text.textContent = ep.state;
    if (document.body.dataset.state !== ep.state) {
      document.body.dataset.state = ep.state;
      document.dispatchEvent(new CustomEvent("endpoint-state", { detail: ep }));
    }
  }

  function followLogs(pre) {
    const follow = document.getElementById("logs-follow");
    let offset = null;
    async function tick() {
      if (!document.hidden) {
        try {
          const url = pre.dataset.logs + (offset === null ? "?tail=200" : "?offset=" + offset);
          const chunk = await api("GET", url);
          if (chunk.text) {
            pre.textContent = (pre.textContent + chunk.text).split("\n").slice(-2000).join("\n");
            if (!follow || follow.checked) pre.scrollTop = pre.scrollHeight;
          } else if (offset === null && !pre.textContent) {
            pre.textContent = "";
          }
          offset = chunk.offset;
        } catch (e) {
          if (e.status === 404) return;
        }
      }
      setTimeout(tick, 1000);
    }
    tick();
  }

  // -- engine arguments, from a framework's declared schema (seed 004 §2.4) ------------------

  function engineArgsForm(container, schema, values, prefix) {
    container.textContent = "";
    const rows = schema && schema.length ? schema : inferSchema(values);
    if (!rows.length) {
      container.append(el("p", { class: "muted", text: "This framework declares no engine arguments." }));
      return;
    }
    for (const arg of rows) {
      const id = prefix + arg.name;
      const value = Object.prototype.hasOwnProperty.call(values, arg.name) ? values[arg.name] : arg.default;
      const help = el("span", { class: "help", id: id + "-help", text: arg.help || "" });
      let input;
      if (arg.type === "select") {
        input = el("select", { id: id }, (arg.choices || []).map(function (c) {
          return el("option", { value: c, text: c, selected: String(value) === c });
        }));
      } else if (arg.type === "switch") {
        input = el("input", { id: id, type: "checkbox", role: "switch", checked: value === true });
      } else if (arg.type === "number") {
        input = el("input", {
          id: id, type: "number", value: value === null || value === undefined ? "" : value,
          min: arg.minimum, max: arg.maximum, step: arg.integer === false ? "any" : "1",
        });
      } else {
        input = el("input", { id: id, type: "text", value: value === null || value === undefined ? "" : value, spellcheck: "false" });
      }
      input.dataset.arg = arg.name;
      input.dataset.type = arg.type;
      input.dataset.default = JSON.stringify(arg.default === undefined ? null : arg.default);
      input.setAttribute("aria-describedby", id + "-help");
      const label = el("label", { for: id, text: arg.name });
      const field = arg.type === "switch"
        ? el("div", { class: "field" }, [el("label", { class: "inline", for: id }, [input, " " + arg.name]), help])
        : el("div", { class: "field" }, [label, input, help]);
      field.append(el("p", { class: "error", role: "alert", "data-error": "engine_args." + arg.name }));
      container.append(field);
    }
  }

  function inferSchema(values) {
    return Object.keys(values || {}).map(function (name) {
      const v = values[name];
      const type = typeof v === "boolean" ? "switch" : typeof v === "number" ? "number" : "text";
      return { name: name, type: type, default: null, help: "", integer: Number.isInteger(v) };
    });
  }

  // The values the form holds; ``changedOnly``: only those that differ from their default.
  function engineArgsValues(container, changedOnly) {
    const values = {};
    for (const input of container.querySelectorAll("[data-arg]")) {
      let value;
      if (input.dataset.type === "switch") value = input.checked;
      else if (input.dataset.type === "number") value = input.value === "" ? null : Number(input.value);
      else value = input.value;
      const fallback = JSON.parse(input.dataset.default);
      if (changedOnly && (value === fallback || value === null || value === "")) continue;
      values[input.dataset.arg] = value;
    }
    return values;
  }

  window.waypost = {
    api: api, el: el, toast: toast, showErrors: showErrors, clearErrors: clearErrors,
    engineArgsForm: engineArgsForm, engineArgsValues: engineArgsValues, endpointData: endpointData,
    unwrap: unwrap,
  };

  document.addEventListener("DOMContentLoaded", function () {
    for (const node of document.querySelectorAll("[data-poll]")) poll(node);
    for (const form of document.querySelectorAll("[data-filters]")) filters(form);
    const ep = endpointData();
    if (ep) followState(ep);
    const logs = document.getElementById("logs");
    if (logs) followLogs(logs);
  });
})();
