// waypost console: an endpoint's settings page (seed 004 §3).
// Each form PATCHes only its own fields; the API's problems are shown next to them.
(function () {
  "use strict";
  const w = window.waypost;

  document.addEventListener("DOMContentLoaded", function () {
    const ep = w.endpointData();
    const url = "/api/v1/endpoints/" + ep.key;
    const actions = JSON.parse(document.getElementById("actions-data").textContent);

    // -- stop, start, restart, wake: only those that fit the state are enabled --------------
    const stateBox = document.querySelector('[data-section="state"]');
    function enableActions(state) {
      const allowed = actions[state] || [];
      for (const button of stateBox.querySelectorAll("[data-action]")) {
        button.disabled = !allowed.includes(button.dataset.action);
      }
    }
    enableActions(ep.state);
    document.addEventListener("endpoint-state", function (event) { enableActions(event.detail.state); });
    stateBox.addEventListener("click", async function (event) {
      const button = event.target.closest("[data-action]");
      if (!button) return;
      w.clearErrors(stateBox);
      button.disabled = true;
      try {
        const now = await w.api("PUT", url + "/" + button.dataset.action);
        w.toast(button.textContent + ": the endpoint is now " + now.state);
        enableActions(now.state);
      } catch (error) {
        w.showErrors(stateBox, error, "state");
        enableActions(document.body.dataset.state || ep.state);
      }
    });

    // -- one PATCH per form -----------------------------------------------------------------
    async function patch(form, body) {
      w.clearErrors(form);
      const button = form.querySelector('button[type="submit"]');
      button.disabled = true;
      try {
        const now = await w.api("PATCH", url, body);
        const waiting = now.pending_changes && now.pending_changes.length;
        w.toast(waiting ? "Saved: it applies at the next start or restart" : "Saved");
        return now;
      } catch (error) {
        w.showErrors(form, error, form.dataset.patch);
        return null;
      } finally {
        button.disabled = false;
      }
    }

    function onSubmit(name, build) {
      const form = document.querySelector('[data-patch="' + name + '"]');
      if (!form) return null;
      form.addEventListener("submit", async function (event) {
        event.preventDefault();
        const body = await build(form);
        if (body) await patch(form, body);
      });
      return form;
    }

    // Cloud resource: a preset of the cluster, or limits typed in.
    const preset = document.getElementById("s-preset");
    w.api("GET", "/api/v1/space_resources?cluster_id=" + encodeURIComponent(preset.dataset.cluster))
      .then(function (resources) {
        preset.textContent = "";
        preset.append(w.el("option", { value: "", text: "none (limits below)" }));
        for (const r of resources || []) {
          const gib = (r.memory / 1073741824).toString();
          const text = r.name + " — " + r.cpu + " CPU, " + gib + " GiB" + (r.gpu ? ", " + r.gpu + " GPU" : "");
          const option = w.el("option", { value: r.name, text: text, selected: r.name === preset.dataset.current });
          option.dataset.resource = JSON.stringify(r);
          preset.append(option);
        }
      })
      .catch(function () { /* no presets on this installation: the limits fields stay */ });
    preset.addEventListener("change", function () {
      const option = preset.selectedOptions[0];
      if (!option || !option.dataset.resource) return;
      const r = JSON.parse(option.dataset.resource);
      document.getElementById("s-cpu").value = r.cpu;
      document.getElementById("s-memory").value = r.memory;
      document.getElementById("s-gpu").value = r.gpu || 0;
    });
    onSubmit("resources", function (form) {
      const value = function (name) { return form.elements[name].value.trim(); };
      const resources = { preset: value("preset") || null };
      resources.cpu = value("cpu") ? Number(value("cpu")) : null;
      const memory = value("memory");
      resources.memory = memory === "" ? null : /^\d+$/.test(memory) ? Number(memory) : memory;
      resources.gpu = value("gpu") ? Number(value("gpu")) : 0;
      return { resources: resources };
    });

    // Runtime framework and engine args: from the frameworks that serve the model's task.
    const argsBox = document.getElementById("s-engine-args");
    const argsNow = JSON.parse(document.getElementById("engine-args-now").textContent);
    let frameworks = [];
    function schemaOf(name) {
      const found = frameworks.find(function (f) { return f.name === name; });
      return found ? found.engine_args : null;
    }
    w.engineArgsForm(argsBox, null, argsNow, "s-arg-");
    const fwForm = document.querySelector('[data-patch="runtime_framework"]');
    if (fwForm && fwForm.dataset.model) {
      const select = document.getElementById("s-framework");
      w.api("GET", "/api/v1/models/" + fwForm.dataset.model + "/runtime_framework")
        .then(function (found) {
          frameworks = found || [];
          select.textContent = "";
          for (const f of frameworks) {
            select.append(w.el("option", { value: f.name, text: f.name + (f.description ? " — " + f.description : ""), selected: f.name === select.dataset.current }));
          }
          w.engineArgsForm(argsBox, schemaOf(argsBox.dataset.framework), argsNow, "s-arg-");
        })
        .catch(function (error) { w.showErrors(fwForm, error, "runtime_framework"); });
      select.addEventListener("change", function () {
        w.engineArgsForm(argsBox, schemaOf(select.value), select.value === argsBox.dataset.framework ? argsNow : {}, "s-arg-");
      });
    }
    onSubmit("runtime_framework", function (form) {
      return { runtime_framework: form.elements.runtime_framework.value };
    });
    onSubmit("engine_args", function () {
      // A merge patch: arguments back at their default are removed (null).
      const all = w.engineArgsValues(argsBox, false);
      const changed = w.engineArgsValues(argsBox, true);
      const body = {};
      for (const name of Object.keys(all)) body[name] = name in changed ? changed[name] : null;
      for (const name of Object.keys(argsNow)) if (!(name in all)) body[name] = null;
      return { engine_args: body };
    });

    onSubmit("replicas", function (form) {
      const min = form.elements.min.value, max = form.elements.max.value;
      return { replicas: { min: Number(min), max: Number(max) } };
    });

    // Visibility: confirmed in a dialog first.
    const dialog = document.getElementById("visibility-dialog");
    onSubmit("visibility", function (form) {
      const chosen = form.elements.visibility.value;
      dialog.querySelector("[data-dialog-text]").textContent = chosen === "private"
        ? "Only callers with a token that may invoke it will reach " + ep.key + "; others get 401 or 403."
        : "Anyone who can reach the gateway will be able to call " + ep.key + ", with no token.";
      return new Promise(function (resolve) {
        dialog.addEventListener("close", function () {
          resolve(dialog.returnValue === "confirm" ? { visibility: chosen } : null);
        }, { once: true });
        dialog.showModal();
      });
    });

    // Delete: the typed name of §3.4.
    const confirmBox = document.getElementById("s-confirm");
    const deleteButton = document.getElementById("delete-button");
    const deleteSection = document.querySelector('[data-section="delete"]');
    confirmBox.addEventListener("input", function () {
      deleteButton.disabled = confirmBox.value !== confirmBox.dataset.expect;
    });
    deleteButton.addEventListener("click", async function () {
      w.clearErrors(deleteSection);
      deleteButton.disabled = true;
      try {
        await w.api("DELETE", url + "?confirm=" + encodeURIComponent(confirmBox.value));
        location.href = "/?deleted=" + encodeURIComponent(ep.key);
      } catch (error) {
        w.showErrors(deleteSection, error, "confirm");
        deleteButton.disabled = false;
      }
    });
  });
})();
