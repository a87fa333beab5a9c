// waypost console: the playground (seed 004 §5). Every call goes through the console's
// forwarding route to the gateway (the browser cannot reach the gateway's port): chat with
// streamed tokens, text to image, embeddings with a cosine-similarity matrix, image + text,
// and a generic request view. Each call leaves a ready-to-copy curl and Python snippet.
(function () {
  "use strict";
  const w = window.waypost;
  const MODES = {
    "text-generation": "chat", "text-to-image": "image",
    "feature-extraction": "embed", "image-text-to-text": "vision",
  };

  document.addEventListener("DOMContentLoaded", function () {
    const root = document.querySelector("[data-playground]");
    const key = root.dataset.key;
    const endpointUrl = root.dataset.url;
    const isPrivate = root.dataset.private === "true";
    const modelId = root.dataset.model || "default";
    const forwardUrl = "/console/playground/" + key;
    const status = document.getElementById("resp-status");
    const headersOut = document.getElementById("resp-headers");
    const bodyOut = document.getElementById("resp-body");

    // -- modes (tabs) -------------------------------------------------------------------
    const tabs = Array.from(root.querySelectorAll('[role="tab"]'));
    function select(mode) {
      for (const tab of tabs) {
        const on = tab.dataset.mode === mode;
        tab.setAttribute("aria-selected", String(on));
        tab.tabIndex = on ? 0 : -1;
        document.getElementById(tab.getAttribute("aria-controls")).hidden = !on;
      }
    }
    root.querySelector('[role="tablist"]').addEventListener("click", function (event) {
      const tab = event.target.closest('[role="tab"]');
      if (tab) select(tab.dataset.mode);
    });
    root.querySelector('[role="tablist"]').addEventListener("keydown", function (event) {
      const at = tabs.indexOf(document.activeElement);
      if (at < 0 || (event.key !== "ArrowRight" && event.key !== "ArrowLeft")) return;
      const next = tabs[(at + (event.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
      next.focus();
      select(next.dataset.mode);
    });
    select("request");
    if (root.dataset.model) {
      w.api("GET", "/api/v1/models").then(function (models) {
        const found = (models || []).find(function (m) { return m.id === root.dataset.model; });
        if (found && MODES[found.task]) select(MODES[found.task]);
      }).catch(function () { /* the request view stays */ });
    }

    // -- only while Running ---------------------------------------------------------------
    const notice = document.getElementById("pg-not-running");
    function gate(state) {
      const running = state === "Running";
      notice.hidden = running;
      for (const button of root.querySelectorAll('form button[type="submit"]')) button.disabled = !running;
    }
    gate(w.endpointData().state);
    document.addEventListener("endpoint-state", function (event) { gate(event.detail.state); });

    // -- sending ----------------------------------------------------------------------------
    function show(answer) {
      status.dataset.ok = String(answer.status < 400);
      status.textContent = answer.status + " " + (answer.reason || "") + " · " + answer.elapsed_ms + " ms · " + answer.size + " bytes" + (answer.truncated ? " (cut)" : "");
      headersOut.textContent = answer.headers.map(function (h) { return h[0] + ": " + h[1]; }).join("\n");
      let text = answer.body;
      if (text === null) text = "(" + answer.size + " bytes of binary data)";
      else {
        try { text = JSON.stringify(JSON.parse(text), longStrings, 2); } catch (e) { /* not JSON: as it is */ }
      }
      bodyOut.textContent = text;
    }

    async function send(call) {
      snippets(call);
      status.dataset.ok = "true";
      status.textContent = "Sending…";
      try {
        const answer = await w.api("POST", forwardUrl, call);
        show(answer);
        return answer;
      } catch (error) {
        status.dataset.ok = "false";
        status.textContent = error.message;
        return null;
      }
    }

    function json(answer) {
      if (!answer || answer.body === null) return null;
      try { return JSON.parse(answer.body); } catch (e) { return null; }
    }

    function postJson(path, payload) {
      return { method: "POST", path: path, headers: { "Content-Type": "application/json" }, body: JSON.stringify(payload) };
    }

    // -- text generation, streamed ----------------------------------------------------------
    const chatLog = document.getElementById("chat-log");
    const messages = [];
    const temp = document.getElementById("chat-temp");
    temp.addEventListener("input", function () { document.getElementById("chat-temp-out").textContent = temp.value; });
    document.getElementById("chat-clear").addEventListener("click", function () {
      messages.length = 0;
      chatLog.textContent = "";
    });
    document.getElementById("chat-form").addEventListener("submit", async function (event) {
      event.preventDefault();
      const input = document.getElementById("chat-input");
      const text = input.value.trim();
      if (!text) return;
      messages.push({ role: "user", content: text });
      chatLog.append(w.el("div", { class: "msg user", text: text }));
      const reply = w.el("div", { class: "msg assistant", text: "…" });
      chatLog.append(reply);
      const stream = document.getElementById("chat-stream").checked;
      const call = postJson("v1/chat/completions", {
        model: modelId, messages: messages.slice(), stream: stream,
        temperature: Number(temp.value), max_tokens: Number(document.getElementById("chat-max").value),
      });
      let content = "";
      if (stream) content = await streamChat(call, reply);
      else {
        const data = json(await send(call));
        content = data && data.choices ? (data.choices[0].message || {}).content || data.choices[0].text || "" : "";
        reply.textContent = content || "(no answer: see the response below)";
      }
      if (content) messages.push({ role: "assistant", content: content });
      chatLog.scrollTop = chatLog.scrollHeight;
    });

    async function streamChat(call, reply) {
      snippets(call);
      status.textContent = "Streaming…";
      const started = performance.now();
      let response;
      try {
        response = await fetch(forwardUrl + "/stream", {
          method: "POST", credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-Waypost-Console": "1" },
          body: JSON.stringify(call),
        });
      } catch (error) {
        status.dataset.ok = "false";
        status.textContent = "the console could not be reached: " + error.message;
        return "";
      }
      const head = response.headers.get("X-Upstream-Elapsed-Ms");
      headersOut.textContent = Array.from(response.headers.entries()).map(function (h) { return h[0] + ": " + h[1]; }).join("\n");
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "", raw = "", content = "";
      reply.textContent = "";
      for (;;) {
        const part = await reader.read();
        if (part.done) break;
        const text = decoder.decode(part.value, { stream: true });
        raw += text;
        buffer += text;
        const events = buffer.split(/\r?\n\r?\n/);
        buffer = events.pop();
        for (const event of events) content += deltas(event);
        reply.textContent = content;
        chatLog.scrollTop = chatLog.scrollHeight;
      }
      content += deltas(buffer);
      const total = Math.round(performance.now() - started);
      status.dataset.ok = String(response.ok);
      status.textContent = response.status + " " + response.statusText + " · first byte " + (head || "?") + " ms · done " + total + " ms";
      bodyOut.textContent = raw;
      if (!response.ok || !content) reply.textContent = content || "(no tokens: see the response below)";
      return content;
    }

    function deltas(event) {
      let text = "";
      for (const line of event.split(/\r?\n/)) {
        if (!line.startsWith("data:")) continue;
        const data = line.slice(5).trim();
        if (!data || data === "[DONE]") continue;
        try {
          const chunk = JSON.parse(data);
          const choice = (chunk.choices || [])[0] || {};
          text += (choice.delta && choice.delta.content) || choice.text || "";
        } catch (e) { /* a comment or keep-alive line */ }
      }
      return text;
    }

    // -- text to image ----------------------------------------------------------------------
    document.getElementById("image-form").addEventListener("submit", async function (event) {
      event.preventDefault();
      const out = document.getElementById("image-out");
      out.textContent = "Generating…";
      const data = json(await send(postJson("v1/images/generations", {
        model: modelId, prompt: document.getElementById("image-prompt").value, n: 1,
        size: document.getElementById("image-size").value, response_format: "b64_json",
      })));
      out.textContent = "";
      const item = data && data.data && data.data[0];
      if (item && (item.b64_json || item.url)) {
        const src = item.b64_json ? "data:image/png;base64," + item.b64_json : item.url;
        out.append(w.el("img", { src: src, alt: "Generated from: " + document.getElementById("image-prompt").value }));
      } else {
        out.textContent = "No image in the answer: see the response below.";
      }
    });

    // -- feature extraction -------------------------------------------------------------------
    document.getElementById("embed-form").addEventListener("submit", async function (event) {
      event.preventDefault();
      const texts = document.getElementById("embed-texts").value.split("\n").map(function (t) { return t.trim(); }).filter(Boolean);
      const out = document.getElementById("embed-out");
      out.textContent = "Embedding…";
      const data = json(await send(postJson("v1/embeddings", { model: modelId, input: texts })));
      out.textContent = "";
      const vectors = data && data.data ? data.data.map(function (d) { return d.embedding; }) : [];
      if (!vectors.length) {
        out.textContent = "No vectors in the answer: see the response below.";
        return;
      }
      out.append(w.el("h3", { text: vectors.length + " vectors of " + vectors[0].length + " dimensions" }));
      const list = w.el("ol", { class: "vectors mono" });
      vectors.forEach(function (v, i) {
        list.append(w.el("li", { text: texts[i] + " → [" + v.slice(0, 6).map(function (x) { return x.toFixed(4); }).join(", ") + (v.length > 6 ? ", …]" : "]") }));
      });
      out.append(list);
      out.append(similarity(texts, vectors));
    });

    function similarity(texts, vectors) {
      const norm = vectors.map(function (v) { return Math.sqrt(v.reduce(function (s, x) { return s + x * x; }, 0)) || 1; });
      const table = w.el("table", { class: "grid sim" }, [
        w.el("caption", { text: "Cosine similarity" }),
        w.el("thead", {}, [w.el("tr", {}, [w.el("th", { scope: "col", text: "" })].concat(texts.map(function (t, i) { return w.el("th", { scope: "col", title: t, text: "#" + (i + 1) }); })))]),
      ]);
      const body = w.el("tbody");
      vectors.forEach(function (a, i) {
        const row = w.el("tr", {}, [w.el("th", { scope: "row", title: texts[i], text: "#" + (i + 1) + " " + texts[i].slice(0, 24) })]);
        vectors.forEach(function (b, j) {
          let dot = 0;
          for (let k = 0; k < a.length; k++) dot += a[k] * b[k];
          const cos = dot / (norm[i] * norm[j]);
          const cell = w.el("td", { text: cos.toFixed(3), "data-sim": cos.toFixed(3) });
          cell.style.backgroundColor = "rgba(31, 95, 191, " + Math.max(0, cos) * 0.45 + ")";
          row.append(cell);
        });
        body.append(row);
      });
      table.append(body);
      return table;
    }

    // -- image + text -----------------------------------------------------------------------
    const file = document.getElementById("vision-file");
    const preview = document.getElementById("vision-preview");
    let imageUrl = null;
    file.addEventListener("change", function () {
      const chosen = file.files[0];
      if (!chosen) return;
      const reader = new FileReader();
      reader.onload = function () {
        imageUrl = reader.result;
        preview.src = imageUrl;
        preview.alt = "The image to ask about: " + chosen.name;
        preview.hidden = false;
      };
      reader.readAsDataURL(chosen);
    });
    document.getElementById("vision-form").addEventListener("submit", async function (event) {
      event.preventDefault();
      const out = document.getElementById("vision-out");
      if (!imageUrl) {
        out.textContent = "Choose an image first.";
        return;
      }
      out.textContent = "Asking…";
      const data = json(await send(postJson("v1/chat/completions", {
        model: modelId, max_tokens: 256,
        messages: [{ role: "user", content: [
          { type: "text", text: document.getElementById("vision-prompt").value },
          { type: "image_url", image_url: { url: imageUrl } },
        ] }],
      })));
      out.textContent = data && data.choices ? data.choices[0].message.content : "No answer: see the response below.";
    });

    // -- any request ------------------------------------------------------------------------
    const requestForm = document.getElementById("request-form");
    function requestCall() {
      const headers = {};
      for (const line of document.getElementById("req-headers").value.split("\n")) {
        const at = line.indexOf(":");
        if (at > 0) headers[line.slice(0, at).trim()] = line.slice(at + 1).trim();
      }
      const method = document.getElementById("req-method").value;
      const text = document.getElementById("req-body").value;
      return { method: method, path: document.getElementById("req-path").value.trim(), headers: headers, body: text && method !== "GET" && method !== "HEAD" ? text : null };
    }
    requestForm.addEventListener("input", function () { snippets(requestCall()); });
    requestForm.addEventListener("submit", async function (event) {
      event.preventDefault();
      const error = document.getElementById("req-error");
      error.textContent = "";
      const call = requestCall();
      if (call.body !== null && /json/i.test(call.headers["Content-Type"] || "")) {
        try { JSON.parse(call.body); } catch (e) {
          error.textContent = "The body is not valid JSON: " + e.message;
          return;
        }
      }
      await send(call);
    });

    // -- snippets ---------------------------------------------------------------------------
    function snippets(call) {
      const target = endpointUrl + call.path.replace(/^\/+/, "");
      const shown = call.body && call.body.length > 2000 ? shorten(call.body) : call.body;
      const quote = function (s) { return "'" + s.replace(/'/g, "'\\''") + "'"; };
      const curl = ["curl -X " + call.method + " " + quote(target)];
      for (const [name, value] of Object.entries(call.headers)) curl.push("-H " + quote(name + ": " + value));
      if (isPrivate) curl.push('-H "Authorization: Bearer $WAYPOST_TOKEN"');
      if (shown) curl.push("--data-raw " + quote(shown));
      document.getElementById("snippet-curl").textContent = curl.join(" \\\n  ");
      const py = ["import os", "", "import requests", ""];
      py.push("headers = " + JSON.stringify(call.headers));
      if (isPrivate) py.push('headers["Authorization"] = "Bearer " + os.environ["WAYPOST_TOKEN"]');
      py.push("response = requests.request(");
      py.push("    " + JSON.stringify(call.method) + ",");
      py.push("    " + JSON.stringify(target) + ",");
      py.push("    headers=headers,");
      if (shown) py.push("    data=" + JSON.stringify(shown) + ",");
      py.push("    timeout=60,");
      py.push(")");
      py.push("print(response.status_code, response.text)");
      document.getElementById("snippet-python").textContent = py.join("\n");
    }
    snippets(requestCall());
  });

  // Long strings (an image in base64) are cut where they are shown, not where they are sent.
  function longStrings(name, value) {
    return typeof value === "string" && value.length > 400 ? value.slice(0, 60) + "…(" + value.length + " characters)" : value;
  }
  function shorten(body) {
    try { return JSON.stringify(JSON.parse(body), longStrings); } catch (e) { return body.slice(0, 2000) + "…"; }
  }
})();
