// GridLinks Hub dashboard: small progressive enhancements. Every page works without
// this file; with it you get copy buttons, the live feed, import progress and the like.
(function () {
  "use strict";
  var $ = function (sel, root) { return (root || document).querySelector(sel); };
  var $$ = function (sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); };

  function copyText(text, button) {
    var done = function () {
      var old = button.textContent; button.textContent = "Copied"; setTimeout(function () { button.textContent = old; }, 1200);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallbackCopy(text); done(); });
    } else { fallbackCopy(text); done(); }
  }
  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text; area.setAttribute("readonly", ""); area.style.position = "fixed"; area.style.opacity = "0";
    document.body.appendChild(area); area.select();
    try { document.execCommand("copy"); } catch (e) { /* nothing more to try */ }
    document.body.removeChild(area);
  }
  // Masked secrets are not in the page: Reveal and Copy fetch them (data-fetch, a POST with
  // the page's CSRF token; the hub audits it) and keep them in this script only.
  var csrfMeta = $("meta[name=csrf-token]");
  var fetched = {};
  function secretOf(target) {
    var known = target.getAttribute("data-value");
    if (known !== null) return Promise.resolve(known);
    var src = target.getAttribute("data-fetch");
    if (!src) return Promise.resolve(target.textContent);
    if (fetched[target.id] !== undefined) return Promise.resolve(fetched[target.id]);
    return fetch(src, { method: "POST", credentials: "same-origin",
                        headers: { "X-CSRF-Token": csrfMeta ? csrfMeta.content : "" } })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (body) { fetched[target.id] = String(body.value); return fetched[target.id]; });
  }
  function failed(button) {
    var old = button.textContent; button.textContent = "Unavailable"; setTimeout(function () { button.textContent = old; }, 1500);
  }
  $$("[data-copy]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var target = document.getElementById(button.getAttribute("data-copy"));
      if (target) secretOf(target).then(function (text) { copyText(text, button); }, function () { failed(button); });
    });
  });

  $$("[data-reveal]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var target = document.getElementById(button.getAttribute("data-reveal"));
      if (!target) return;
      if (target.getAttribute("data-shown") === "1") {
        target.textContent = "••••••••••••"; target.classList.add("masked");
        target.setAttribute("data-shown", "0"); button.textContent = "Reveal";
        return;
      }
      secretOf(target).then(function (text) {
        target.textContent = text; target.classList.remove("masked");
        target.setAttribute("data-shown", "1"); button.textContent = "Hide";
      }, function () { failed(button); });
    });
  });

  // A password input's "Show" shows what was typed there.
  $$("[data-show-input]").forEach(function (button) {
    var input = document.getElementById(button.getAttribute("data-show-input"));
    if (!input) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      var show = input.type === "password";
      input.type = show ? "text" : "password";
      button.textContent = show ? "Hide" : "Show";
    });
  });

  $$("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      if (!window.confirm(form.getAttribute("data-confirm"))) ev.preventDefault();
    });
  });

  $$("[data-generate]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var input = document.getElementById(button.getAttribute("data-generate"));
      var chars = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789", out = "";
      var bytes = new Uint8Array(12); window.crypto.getRandomValues(bytes);
      for (var i = 0; i < bytes.length; i++) out += chars[bytes[i] % chars.length];
      if (input) input.value = out;
    });
  });

  // Profile form: show the fields that belong to the chosen strategy.
  var strategy = $("select[name=provision_type]");
  if (strategy) {
    var sync = function () {
      $$("[data-strategy]").forEach(function (el) {
        var wanted = el.getAttribute("data-strategy").split(" ");
        var match = wanted.indexOf(strategy.value) >= 0;
        el.hidden = !match;
        $$("input, textarea, select", el).forEach(function (i) { i.disabled = !match; });
      });
    };
    strategy.addEventListener("change", sync); sync();
  }

  $$("time[data-ts]").forEach(function (el) {
    var ts = parseInt(el.getAttribute("data-ts"), 10);
    if (ts) { el.title = el.textContent; el.textContent = new Date(ts).toLocaleString(); }
  });

  // Live event feed (server-sent events).
  var feed = $("#feed[data-src]");
  if (feed && window.EventSource) {
    var status = $("#feed-status");
    var source = new EventSource(feed.getAttribute("data-src"));
    source.onopen = function () { if (status) { status.classList.add("on"); $(".text", status).textContent = "Live"; } };
    source.onerror = function () { if (status) { status.classList.remove("on"); $(".text", status).textContent = "Reconnecting…"; } };
    source.addEventListener("hub", function (ev) {
      var item; try { item = JSON.parse(ev.data); } catch (e) { return; }
      var li = document.createElement("li"); li.className = "new"; li.setAttribute("data-type", item.type);
      var when = document.createElement("span"); when.className = "when"; when.textContent = new Date(item.ts).toLocaleTimeString();
      var badge = document.createElement("span"); badge.className = "badge " + outcomeClass(item.outcome);
      badge.textContent = item.outcome || "EVENT";
      var what = document.createElement("span"); what.className = "what"; what.textContent = describe(item);
      li.appendChild(when); li.appendChild(badge); li.appendChild(what);
      var empty = $(".empty", feed); if (empty) empty.remove();
      feed.insertBefore(li, feed.firstChild);
      while (feed.children.length > 100) feed.removeChild(feed.lastChild);
    });
  }
  function outcomeClass(outcome) {
    if (outcome === "SUCCESS") return "ok";
    if (!outcome) return "info";
    if (outcome === "PARTIAL" || outcome === "CLAIMED") return "warn";
    return "bad";
  }
  function describe(item) {
    var names = { device_provisioned: "provisioned", provision_failed: "provisioning failed", claim_registered: "claim info registered",
      device_claimed: "claim", device_reclaimed: "re-claimed", device_created: "device created", credentials_issued: "credentials issued",
      bulk_import_finished: "bulk import finished", user_login: "sign-in" };
    var parts = [item.device_name || "", names[item.type] || item.type.replace(/_/g, " ")];
    if (item.transport) parts.push("via " + item.transport);
    if (item.actor) parts.push("by " + item.actor);
    if (item.reason) parts.push("— " + item.reason);
    return parts.filter(Boolean).join(" ");
  }

  // Bulk import progress.
  var job = $("[data-import-status]");
  if (job) {
    var bar = $(".progress > div", job), label = $("#import-progress-text");
    var poll = function () {
      fetch(job.getAttribute("data-import-status"), { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (s) {
        var pct = s.total ? Math.round(100 * s.done / s.total) : 0;
        if (bar) bar.style.width = pct + "%";
        if (label) label.textContent = s.done + " of " + s.total + " lines (" + pct + "%)";
        if (s.state === "running") setTimeout(poll, 400); else window.location.reload();
      }).catch(function () { setTimeout(poll, 1500); });
    };
    poll();
  }

  // The claim QR code carries device and secret in the fragment: fill the widget, then drop it from the address bar.
  var claimForm = $("form[data-claim-widget]");
  if (claimForm && window.location.hash.length > 1) {
    var params = new URLSearchParams(window.location.hash.slice(1));
    var device = $("input[name=device]", claimForm), secret = $("input[name=secret]", claimForm);
    if (device && params.get("device")) device.value = params.get("device");
    if (secret && params.get("secret")) secret.value = params.get("secret");
    history.replaceState(null, "", window.location.pathname + window.location.search);
  }
  // Signing in from a claim link: keep the fragment through the login redirect.
  var next = $("input[name=next]");
  if (next && next.value && window.location.hash.length > 1 && next.value.indexOf("#") < 0) {
    next.value += window.location.hash;
  }
})();
