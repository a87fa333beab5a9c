// waypost console: the new-endpoint form (seed 004 §2.3), posted to the CSGHub-compatible API.
(function () {
  "use strict";
  const w = window.waypost;

  // The name rules of seed 004, as waypost.model.names checks them on the server.
  const RULES = {
    length: function (v) { return v.length >= 2 && v.length <= 64; },
    start: function (v) { return /^[A-Za-z]/.test(v); },
    end: function (v) { return /[A-Za-z0-9]$/.test(v); },
    chars: function (v) { return /^[A-Za-z0-9._-]*$/.test(v); },
    together: function (v) { return !/[._-]{2}/.test(v); },
  };
  const MODEL_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/;

  document.addEventListener("DOMContentLoaded", function () {
    const form = document.getElementById("new-form");
    const name = document.getElementById("n-name");
    const model = document.getElementById("n-model");
    const cluster = document.getElementById("n-cluster");
    const resource = document.getElementById("n-resource");
    const framework = document.getElementById("n-framework");
    const quant = document.getElementById("n-quant");
    const argsBox = document.getElementById("n-engine-args");
    let frameworks = [];

    function checkName() {
      const value = name.value;
      let ok = true;
      for (const item of document.querySelectorAll("#n-name-rules [data-rule]")) {
        const passed = RULES[item.dataset.rule](value);
        item.dataset.ok = value ? String(passed) : "";
        ok = ok && passed;
      }
      name.setAttribute("aria-invalid", String(!ok && value !== ""));
      return ok;
    }
    name.addEventListener("input", checkName);

    w.api("GET", "/api/v1/models").then(function (models) {
      const list = document.getElementById("n-models");
      for (const m of models || []) list.append(w.el("option", { value: m.id, text: m.task }));
    }).catch(function () { /* typing the id still works */ });

    w.api("GET", "/api/v1/cluster").then(function (clusters) {
      for (const c of clusters || []) {
        cluster.append(w.el("option", { value: c.cluster_id, text: c.region ? c.cluster_id + " (" + c.region + ")" : c.cluster_id }));
      }
      loadResources();
    }).catch(function (error) { w.showErrors(form, error, "cluster_id"); });

    function loadResources() {
      resource.textContent = "";
      w.api("GET", "/api/v1/space_resources?cluster_id=" + encodeURIComponent(cluster.value)).then(function (resources) {
        for (const r of resources || []) {
          const gib = (r.memory / 1073741824).toString();
          resource.append(w.el("option", { value: r.id, text: r.name + " — " + r.cpu + " CPU, " + gib + " GiB" + (r.gpu ? ", " + r.gpu + " GPU" : "") }));
        }
      }).catch(function (error) { w.showErrors(form, error, "resource_id"); });
    }
    cluster.addEventListener("change", loadResources);

    let asked = "";
    async function loadFrameworks() {
      const id = model.value.trim();
      const box = form.querySelector('[data-error="model"]');
      box.textContent = "";
      model.removeAttribute("aria-invalid");
      if (!id || id === asked) return;
      if (!MODEL_ID.test(id)) {
        box.textContent = "a model ID is owner/model, e.g. acme/minilm";
        model.setAttribute("aria-invalid", "true");
        return;
      }
      asked = id;
      framework.textContent = "";
      framework.disabled = true;
      try {
        frameworks = (await w.api("GET", "/api/v1/models/" + id + "/runtime_framework")) || [];
      } catch (error) {
        frameworks = [];
        asked = "";
        box.textContent = error.message;
        model.setAttribute("aria-invalid", "true");
      }
      if (!frameworks.length) {
        framework.append(w.el("option", { value: "", text: "No framework serves this model" }));
      }
      for (const f of frameworks) {
        framework.append(w.el("option", { value: f.id, text: f.name + (f.description ? " — " + f.description : "") }));
      }
      framework.disabled = !frameworks.length;
      showFramework();
    }
    model.addEventListener("change", loadFrameworks);
    model.addEventListener("blur", loadFrameworks);

    function chosenFramework() {
      return frameworks.find(function (f) { return String(f.id) === framework.value; }) || null;
    }
    function showFramework() {
      const f = chosenFramework();
      w.engineArgsForm(argsBox, f ? f.engine_args : [], {}, "n-arg-");
      quant.textContent = "";
      quant.append(w.el("option", { value: "", text: "None" }));
      for (const q of (f && f.quantizations) || []) quant.append(w.el("option", { value: q, text: q }));
    }
    framework.addEventListener("change", showFramework);

    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      w.clearErrors(form);
      if (!checkName()) {
        form.querySelector('[data-error="deploy_name"]').textContent = "the name breaks a rule above";
        name.focus();
        return;
      }
      const id = model.value.trim();
      if (!MODEL_ID.test(id)) {
        form.querySelector('[data-error="model"]').textContent = "a model ID is owner/model, e.g. acme/minilm";
        model.focus();
        return;
      }
      const body = {
        deploy_name: name.value,
        cluster_id: cluster.value,
        resource_id: Number(resource.value),
        runtime_framework_id: Number(framework.value),
        min_replica: Number(form.elements.min_replica.value),
        max_replica: Number(form.elements.max_replica.value),
        secure_level: Number(form.elements.secure_level.value),
        engine_args: JSON.stringify(w.engineArgsValues(argsBox, true)),
        revision: "main",
      };
      if (quant.value) body.quantization = quant.value;
      const submit = document.getElementById("n-submit");
      submit.disabled = true;
      try {
        const run = await w.api("POST", "/api/v1/models/" + id + "/run", body);
        // ``endpoint`` is the gateway URL; its last five segments are the endpoint's key.
        const key = new URL(run.endpoint).pathname.split("/").filter(Boolean).slice(-5).join("/");
        location.href = "/endpoints/" + key;
      } catch (error) {
        w.showErrors(form, error, "form");
        submit.disabled = false;
      }
    });
  });
})();
