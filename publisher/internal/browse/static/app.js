// The views' behaviour: local times, JSON highlighting, filters, copying a
// curl command, keyboard paging and, on a feed's head view, following new
// events with the same long poll a poller uses. It builds every element
// with textContent: no event data is ever parsed as markup.
"use strict";

// localTimes shows each time in the viewer's time zone, with the UTC time
// the page was rendered with on hover.
function localTimes(root) {
  for (const t of root.querySelectorAll("time[datetime]")) {
    const d = new Date(t.getAttribute("datetime"));
    if (isNaN(d) || t.title) continue;
    t.title = t.textContent;
    const ms = String(d.getMilliseconds()).padStart(3, "0");
    t.textContent = d.toLocaleString(undefined, {hour12: false}) + "." + ms;
  }
}

// curlButtons adds a "Copy curl" button beside each event's link to its
// Atom entry document: on a page of events, the entry of a row is the
// URL of its view without the "~/" segment of the views.
function curlButtons(root) {
  for (const a of root.querySelectorAll("tr[data-seq] th a, a.entry")) {
    if (a.dataset.curl) continue;
    const href = a.classList.contains("entry") ? a.href : a.href.replace("/~/", "/");
    a.dataset.curl = href;
    const b = document.createElement("button");
    b.type = "button";
    b.className = "curl";
    b.dataset.href = href;
    b.textContent = "Copy curl";
    b.title = "Copy a curl command that fetches the Atom entry";
    a.after(" ", b);
  }
}

const jsonToken = /("(?:[^"\\]|\\.)*")(\s*:)?|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|\b(true|false|null)\b/g;

function highlight(root) {
  for (const pre of root.querySelectorAll("pre.json")) {
    if (pre.dataset.done) continue;
    pre.dataset.done = "1";
    const text = pre.textContent;
    const out = document.createDocumentFragment();
    let last = 0;
    for (const m of text.matchAll(jsonToken)) {
      out.append(text.slice(last, m.index));
      const span = document.createElement("span");
      span.className = m[1] ? (m[2] ? "j-k" : "j-s") : m[3] ? "j-n" : "j-l";
      span.textContent = m[1] || m[3] || m[4];
      out.append(span);
      if (m[2]) out.append(m[2]);
      last = m.index + m[0].length;
    }
    out.append(text.slice(last));
    pre.replaceChildren(out);
  }
}

function applyFilter() {
  const ft = document.getElementById("f-type");
  const fs = document.getElementById("f-subject");
  if (!ft || !fs) return;
  const type = ft.value.toLowerCase(), subject = fs.value.toLowerCase();
  for (const tr of document.querySelectorAll("tr[data-seq]")) {
    const t = tr.querySelector(".type").textContent.toLowerCase();
    const s = tr.querySelector(".subject").textContent.toLowerCase();
    tr.hidden = !(t.includes(type) && s.includes(subject));
  }
}

function shellQuote(s) { return "'" + s.replace(/'/g, "'\\''") + "'"; }

function setStatus(text, down) {
  const s = document.getElementById("status");
  if (!s) return;
  s.textContent = text;
  s.classList.toggle("down", !!down);
}

function prepare(root) {
  localTimes(root);
  curlButtons(root);
  highlight(root);
  applyFilter();
}

document.addEventListener("click", (e) => {
  const b = e.target.closest("button.curl");
  if (!b) return;
  e.preventDefault();
  const cmd = "curl -s " + shellQuote(new URL(b.dataset.href, location.href).href);
  const done = () => { b.textContent = "Copied"; setTimeout(() => { b.textContent = "Copy curl"; }, 1500); };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(cmd).then(done, () => prompt("curl command", cmd));
  } else {
    prompt("curl command", cmd);
  }
});

document.addEventListener("input", (e) => {
  if (e.target.matches("#f-type, #f-subject")) applyFilter();
});

document.addEventListener("keydown", (e) => {
  if (e.altKey || e.ctrlKey || e.metaKey || e.target.matches("input, textarea")) return;
  const rel = {ArrowLeft: "prev", ArrowRight: "next"}[e.key];
  if (!rel) return;
  const a = document.querySelector('nav a[rel="' + rel + '"]');
  if (a) location.href = a.href;
});

// follow long-polls the subscription document (If-None-Match and
// Prefer: wait, as a poller does) and, whenever it changed, fetches this
// view again and swaps its events in: no reload, one request per change,
// and a backoff while the publisher is unreachable.
async function follow(live) {
  let etag = null, backoff = 500;
  for (;;) {
    try {
      const headers = {"Prefer": "wait=25"};
      if (etag) headers["If-None-Match"] = etag;
      const r = await fetch(live, {headers, cache: "no-store"});
      if (r.status !== 200 && r.status !== 304) throw new Error("HTTP " + r.status);
      if (r.status === 200) {
        const tag = r.headers.get("ETag");
        await r.arrayBuffer();
        if (tag !== etag) await refresh();
        etag = tag;
      }
      setStatus("live", false);
      backoff = 500;
    } catch (err) {
      setStatus("publisher unreachable (" + err.message + "); retrying", true);
      await new Promise((ok) => setTimeout(ok, backoff));
      backoff = Math.min(backoff * 2, 15000);
    }
  }
}

async function refresh() {
  const r = await fetch(location.href, {cache: "no-store"});
  if (r.status !== 200) throw new Error("HTTP " + r.status);
  const doc = new DOMParser().parseFromString(await r.text(), "text/html");
  const main = doc.getElementById("main");
  if (!main) return;
  const open = new Set([...document.querySelectorAll("details[open]")].map((d) => d.closest("tr")?.dataset.seq));
  for (const id of ["events"]) {
    const fresh = doc.getElementById(id), old = document.getElementById(id);
    if (fresh && old) old.replaceWith(document.adoptNode(fresh));
  }
  for (const sel of ["p.meta", "nav"]) {
    const fresh = doc.querySelectorAll("main " + sel), old = document.querySelectorAll("main " + sel);
    fresh.forEach((n, i) => old[i] && old[i].replaceWith(document.adoptNode(n)));
  }
  for (const d of document.querySelectorAll("tr[data-seq] details")) {
    if (open.has(d.closest("tr").dataset.seq)) d.open = true;
  }
  prepare(document);
}

document.addEventListener("DOMContentLoaded", () => {
  prepare(document);
  const live = document.getElementById("main").dataset.live;
  if (live) follow(live);
});
