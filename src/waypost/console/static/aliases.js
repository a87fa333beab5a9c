// waypost console: aliases — weights edited with immediate validation, live shares, history
// with rollback. An alias is written back whole (PUT), as the API takes it.
(function () {
  "use strict";
  const w = window.waypost;

  function body(policy) {
    const member = function (m) {
      return Object.assign({ name: m.name }, m.target, "weight" in m ? { weight: m.weight } : {});
    };
    return {
      backends: policy.backends.map(member),
      mirrors: policy.mirrors.map(member),
      sticky: policy.sticky,
    };
  }

  function percent(part, total) {
    if (!total) return "—";
    const value = (part / total) * 100;
    return (value >= 10 || value === 0 ? value.toFixed(0) : value.toFixed(1)) + "%";
  }

  document.addEventListener("DOMContentLoaded", function () {
    const aliases = JSON.parse(document.getElementById("aliases-data").textContent);

    for (const section of document.querySelectorAll("section.alias")) {
      const alias = aliases[Number(section.dataset.alias)];
      const url = "/api/v1/projects/" + alias.project + "/aliases/" + (alias.deployment || "-") + "/" + alias.name;
      const form = section.querySelector("[data-weights]");
      const save = form.querySelector('button[type="submit"]');
      const inputs = Array.from(form.querySelectorAll("input.weight"));

      // Immediate validation: whole numbers of 0 or more, not all 0; the plan shown as shares.
      function check() {
        w.clearErrors(form);
        const problems = [];
        let total = 0;
        for (const input of inputs) {
          const ok = /^\d+$/.test(input.value);
          input.setAttribute("aria-invalid", String(!ok));
          if (!ok) problems.push("the weight of " + alias.policy.backends[input.dataset.backend].name + " must be a whole number of 0 or more");
          else total += Number(input.value);
        }
        if (!problems.length && total === 0) problems.push("the weights add up to 0, so no request could be sent anywhere");
        for (const input of inputs) {
          const cell = form.querySelector('[data-planned="' + input.dataset.backend + '"]');
          cell.textContent = /^\d+$/.test(input.value) ? percent(Number(input.value), total) : "—";
        }
        const changed = inputs.some(function (i) { return Number(i.value) !== alias.policy.backends[i.dataset.backend].weight; });
        form.querySelector('[data-error="weights"]').textContent = problems.join("; ");
        save.disabled = problems.length > 0 || !changed;
        return problems.length === 0;
      }
      form.addEventListener("input", check);
      form.addEventListener("reset", function () { setTimeout(check, 0); });
      check();

      form.addEventListener("submit", async function (event) {
        event.preventDefault();
        if (!check()) return;
        const policy = JSON.parse(JSON.stringify(alias.policy));
        for (const input of inputs) policy.backends[input.dataset.backend].weight = Number(input.value);
        save.disabled = true;
        try {
          const now = await w.api("PUT", url, body(policy));
          alias.policy = now.policy;
          for (const input of inputs) input.defaultValue = input.value;
          w.toast("Weights saved: the gateways take them within a second");
          check();
          loadHistory();
        } catch (error) {
          w.showErrors(form, error, "weights");
          save.disabled = false;
        }
      });

      const details = section.querySelector("[data-history]");
      const list = details.querySelector("[data-history-list]");
      async function loadHistory() {
        try {
          const events = await w.api("GET", details.dataset.history);
          list.textContent = "";
          if (!events.length) list.append(w.el("li", { class: "muted", text: "No change recorded." }));
          for (const e of events.slice().reverse()) {
            const item = w.el("li", {}, [
              w.el("time", { datetime: e.at, text: e.at.slice(0, 19).replace("T", " ") }),
              w.el("span", { class: "reason", text: describe(e) }),
              w.el("span", { class: "muted", text: " — " + e.actor + " " }),
            ]);
            if (e.old) {
              const button = w.el("button", { type: "button", text: "Roll back to before this" });
              button.addEventListener("click", async function () {
                button.disabled = true;
                try {
                  await w.api("PUT", url, body(e.old));
                  w.toast("Rolled back");
                  location.reload();
                } catch (error) {
                  w.showErrors(details, error, "history");
                  button.disabled = false;
                }
              });
              item.append(button);
            }
            list.append(item);
          }
        } catch (error) {
          w.showErrors(details, error, "history");
        }
      }
      details.addEventListener("toggle", function () { if (details.open) loadHistory(); });
    }

    // Live shares: a hidden fragment, polled; its values copied into the tables.
    const live = document.getElementById("alias-live");
    if (live) {
      live.addEventListener("swapped", function () {
        for (const item of live.querySelectorAll("[data-share]")) {
          for (const cell of document.querySelectorAll('[data-live="' + CSS.escape(item.dataset.share) + '"]')) {
            cell.textContent = item.textContent;
          }
        }
      });
      if (live.pollNow) live.pollNow();
    }
  });

  function describe(e) {
    const weights = function (p) {
      return p ? p.backends.map(function (b) { return b.name + " " + b.weight; }).join(", ") : "none";
    };
    if (!e.old && !e.new) return e.reason;
    return "backends " + weights(e.old) + " → " + weights(e.new) + " ";
  }
})();
