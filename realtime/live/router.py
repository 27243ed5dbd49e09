"""`GET /live`: a small page for a glance at today, refreshed every 30 s.

The page itself holds no data and needs no key; it asks for the company API key,
keeps it in sessionStorage (gone when the tab closes) and sends it as
`Authorization: Bearer` to `GET /v1/reports/live`, the same endpoint and the same
company scoping as any API client. Everything is inline: no CDN, and a Content
Security Policy that lets the page talk to this service only.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(tags=["live"])

REFRESH_SECONDS = 30

# Only this origin, only inline script and style of this page, nothing framed.
CSP = (
    "default-src 'none'; connect-src 'self'; script-src 'unsafe-inline'; "
    "style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<link rel="icon" href="data:,">
<title>callpath live</title>
<style>
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
 background:#f5f6f8;color:#1d2330}
header{background:#1d2f4f;color:#fff;padding:14px 24px}h1{margin:0;font-size:20px}
main{padding:16px 24px;max-width:900px}
form,#report{background:#fff;border-radius:8px;padding:14px 18px;margin-bottom:14px;
 box-shadow:0 1px 2px rgba(0,0,0,.08)}
input{font:inherit;padding:5px 8px;width:24em}button{font:inherit;padding:5px 12px}
#error{color:#9b1c1c;background:#fdecec;padding:10px 14px;border-radius:6px}
.cards{display:flex;gap:12px;margin:8px 0 14px}.card{flex:1;background:#f0f4fa;
 border-radius:6px;padding:8px 12px}.card b{display:block;font-size:26px}
table{border-collapse:collapse;width:100%}th,td{padding:5px 9px;
 border-bottom:1px solid #e3e6eb;text-align:right}th:first-child,td:first-child{text-align:left}
.muted{color:#5b6473;font-size:13px}
</style></head>
<body><header><h1>callpath live</h1>
<div class="muted" style="color:#cfe0ff">Today's calls, target calls and leads by source;
refreshed every __REFRESH__ seconds.</div></header>
<main>
<form id="key-form" autocomplete="off">
 <label for="api-key">Company API key</label><br>
 <input id="api-key" type="password" placeholder="cp_…" required>
 <button type="submit">Show</button>
 <button type="button" id="forget" hidden>Forget the key</button>
 <div class="muted">Kept in this tab only (sessionStorage). Create one with
 <code>callpath keys create --company ID</code>.</div>
</form>
<div id="error" role="alert" hidden></div>
<div id="report" hidden>
 <div class="muted">Day <span id="day"></span> (<span id="tz"></span>), updated
 <span id="updated"></span></div>
 <div class="cards">
  <div class="card">calls<b id="total-calls"></b></div>
  <div class="card">target calls<b id="total-target"></b></div>
  <div class="card">missed calls<b id="total-missed"></b></div>
  <div class="card">leads<b id="total-leads"></b></div>
 </div>
 <table><thead><tr><th>source</th><th>calls</th><th>target calls</th>
 <th>missed calls</th><th>leads</th></tr></thead><tbody id="sources"></tbody></table>
</div>
</main>
<script>
(function () {
  "use strict";
  var STORAGE = "callpath.apiKey";
  var PERIOD_MS = __REFRESH__ * 1000;
  var timer = null;
  function $(id) { return document.getElementById(id); }
  function showError(text) {
    $("error").textContent = text; $("error").hidden = false; $("report").hidden = true;
  }
  function cell(row, value) {
    var td = document.createElement("td"); td.textContent = String(value); row.appendChild(td);
  }
  function render(report) {
    $("error").hidden = true;
    $("day").textContent = report.date;
    $("tz").textContent = report.timezone;
    $("updated").textContent = new Date().toLocaleTimeString();
    $("total-calls").textContent = report.totals.calls;
    $("total-target").textContent = report.totals.target_calls;
    $("total-missed").textContent = report.totals.missed_calls;
    $("total-leads").textContent = report.totals.leads;
    var body = $("sources");
    body.textContent = "";
    report.sources.forEach(function (s) {
      var tr = document.createElement("tr");
      [s.source, s.calls, s.target_calls, s.missed_calls, s.leads].forEach(function (v) {
        cell(tr, v);
      });
      body.appendChild(tr);
    });
    if (!report.sources.length) {
      var tr = document.createElement("tr"); cell(tr, "no calls or leads yet today");
      tr.firstChild.colSpan = 5; body.appendChild(tr);
    }
    $("report").hidden = false;
  }
  function stop() { if (timer) { clearInterval(timer); timer = null; } }
  function load() {
    var key = sessionStorage.getItem(STORAGE);
    if (!key) { return; }
    fetch("/v1/reports/live", {headers: {"Authorization": "Bearer " + key},
                               cache: "no-store"})
      .then(function (response) {
        if (response.status === 401) {
          sessionStorage.removeItem(STORAGE); stop(); $("forget").hidden = true;
          throw new Error("This API key was refused (401). Check it, or create a new one " +
                          "with `callpath keys create --company ID`.");
        }
        if (!response.ok) {
          throw new Error("The service answered " + response.status + "; retrying in " +
                          __REFRESH__ + " s.");
        }
        return response.json();
      })
      .then(render)
      .catch(function (error) {
        var text = error instanceof TypeError
          ? "The service cannot be reached; retrying in " + __REFRESH__ + " s."
          : error.message;
        showError(text);
      });
  }
  function start() {
    stop(); $("forget").hidden = false; load(); timer = setInterval(load, PERIOD_MS);
  }
  $("key-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var key = $("api-key").value.trim();
    if (!key) { return; }
    sessionStorage.setItem(STORAGE, key);
    $("api-key").value = "";
    start();
  });
  $("forget").addEventListener("click", function () {
    sessionStorage.removeItem(STORAGE); stop(); $("forget").hidden = true;
    $("report").hidden = true; $("error").hidden = true;
  });
  if (sessionStorage.getItem(STORAGE)) { start(); }
})();
</script>
</body></html>
""".replace("__REFRESH__", str(REFRESH_SECONDS))


@router.get("/live", response_class=HTMLResponse, summary="Live view of today (HTML page)")
def live_page() -> HTMLResponse:
    return HTMLResponse(
        PAGE,
        headers={
            "Content-Security-Policy": CSP,
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )
