// Sluice console: the prompt playground's Run. It posts the form's
// variables to the data plane (POST /prompts/{name}@{version}) with the API
// key pasted into the page, streams the answer into the page, then reads
// the request's tokens and cost from the ledger through the console. The
// key is never sent to the console and never stored.
(function () {
  "use strict";

  function onReady(fn) {
    if (document.readyState !== "loading") fn(); else document.addEventListener("DOMContentLoaded", fn);
  }

  // variables builds the variables object as the console's Render does: a
  // string as typed, anything else parsed as JSON; empty fields left out.
  function variables(form) {
    var out = {};
    var fields = form.querySelectorAll("[data-var]");
    for (var i = 0; i < fields.length; i++) {
      var f = fields[i], name = f.getAttribute("data-var"), type = f.getAttribute("data-type"), v = f.value;
      if (v === "") continue;
      if (type === "string") { out[name] = v; continue; }
      try { out[name] = JSON.parse(v); } catch (e) {
        throw new Error("Variable " + name + ": not a valid " + type + " (write it as JSON).");
      }
    }
    return out;
  }

  function errorText(status, body) {
    try {
      var j = JSON.parse(body);
      if (j && j.error && j.error.message) return status + ": " + j.error.message;
    } catch (e) { /* not JSON */ }
    return status + ": " + body.slice(0, 500);
  }

  function run(form) {
    var out = document.getElementById("pg-out");
    var status = document.getElementById("pg-status");
    var box = document.getElementById("run-result");
    var key = document.getElementById("pg-key").value.trim();
    var button = document.getElementById("pg-run");
    box.hidden = false;
    out.textContent = "";
    ["pg-in", "pg-outtok", "pg-cost"].forEach(function (id) { document.getElementById(id).textContent = "—"; });
    if (!key) { status.textContent = "Paste an API key first."; return; }
    var vars;
    try { vars = variables(form); } catch (e) { status.textContent = e.message; return; }
    status.textContent = "Sending…";
    button.disabled = true;
    var usage = null, requestID = "", failed = false;
    fetch(form.getAttribute("data-run-path"), {
      method: "POST", credentials: "omit", cache: "no-store",
      headers: { "Authorization": "Bearer " + key, "Content-Type": "application/json" },
      body: JSON.stringify({ variables: vars, stream: true })
    }).then(function (r) {
      requestID = r.headers.get("X-Request-Id") || "";
      var served = r.headers.get("X-Sluice-Prompt") || "";
      if (!r.ok || !r.body) {
        failed = true;
        return r.text().then(function (t) { status.textContent = errorText(r.status, t); });
      }
      status.textContent = "Streaming" + (served ? " " + served : "") + "…";
      var reader = r.body.getReader(), decoder = new TextDecoder(), buf = "";
      function line(l) {
        if (l.indexOf("data:") !== 0) return;
        var data = l.slice(5).trim();
        if (data === "" || data === "[DONE]") return;
        var ev;
        try { ev = JSON.parse(data); } catch (e) { return; }
        if (ev.error) { failed = true; status.textContent = "Error: " + (ev.error.message || "the stream ended with an error"); return; }
        if (ev.usage) usage = ev.usage;
        if (ev.choices && ev.choices.length && ev.choices[0].delta && typeof ev.choices[0].delta.content === "string") {
          out.textContent += ev.choices[0].delta.content;
        }
      }
      function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) { if (buf) line(buf); return; }
          buf += decoder.decode(chunk.value, { stream: true });
          var lines = buf.split("\n");
          buf = lines.pop();
          lines.forEach(function (l) { line(l.replace(/\r$/, "")); });
          return pump();
        });
      }
      return pump().then(function () {
        if (!failed) status.textContent = "Done" + (served ? ": " + served : "") + (requestID ? " · request " + requestID : "");
      });
    }).then(function () {
      if (usage) {
        document.getElementById("pg-in").textContent = String(usage.prompt_tokens);
        document.getElementById("pg-outtok").textContent = String(usage.completion_tokens);
      }
      if (!requestID) return;
      var q = "request_id=" + encodeURIComponent(requestID);
      var org = form.getAttribute("data-org");
      if (org) q += "&org=" + encodeURIComponent(org);
      return fetch("/console/playground/usage?" + q, { credentials: "same-origin", cache: "no-store" })
        .then(function (r) { return r.json(); })
        .then(function (u) {
          if (!u.found) {
            document.getElementById("pg-cost").textContent = "not in the ledger yet";
            return;
          }
          document.getElementById("pg-in").textContent = String(u.input_tokens);
          document.getElementById("pg-outtok").textContent = String(u.output_tokens);
          document.getElementById("pg-cost").textContent = u.cost + (u.cache === "hit" ? " (cache hit)" : "");
        });
    }).catch(function (err) {
      status.textContent = String(err);
    }).then(function () { button.disabled = false; });
  }

  onReady(function () {
    var form = document.getElementById("playground");
    if (!form) return;
    document.getElementById("run-box").hidden = false;
    document.getElementById("pg-run").addEventListener("click", function () { run(form); });
  });
})();
