/* vidpipe web page: small hand-written script over the service's /v1 API.
 * One file, no build step, no libraries. Each page's <body data-page> picks its part.
 * Times are float seconds everywhere; shown as h:mm:ss or m:ss. */
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

/* ------------------------------------------------------------------ helpers */

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** Seconds as h:mm:ss (or m:ss under an hour when short is true). */
function hms(seconds, short = false) {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) return "–";
  const s = Math.max(0, Math.floor(seconds + 1e-6));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = String(m).padStart(2, "0"), ss = String(r).padStart(2, "0");
  if (short && h === 0) return `${m}:${ss}`;
  return `${h}:${mm}:${ss}`;
}

function flash(message, bad = false) {
  const f = $("#flash");
  if (!f) return;
  f.textContent = message;
  f.classList.toggle("bad", bad);
  f.hidden = !message;
}

/** A name of an environment variable (VIDPIPE_LLM_URL, OPENAI_API_KEY). */
const ENV_NAME = /\b[A-Z][A-Z0-9]*_[A-Z0-9_]*[A-Z0-9]\b/;
const ENV_NAMES = new RegExp(ENV_NAME.source, "g");
/** What to tell a reader of the page instead of a hint that names server settings. */
const ADMIN_HINT = "whoever runs this service can set it up";

/** An error's message and hint for the page's reader: hints that name environment
 * variables (settings of the server, not of the page) become a user-facing hint. */
function readable(message, hint) {
  let m = String(message || "");
  let h = hint ? String(hint) : "";
  const env = ENV_NAME.test(m) || ENV_NAME.test(h);
  if (ENV_NAME.test(m)) m = m.replace(ENV_NAMES, "a server setting");
  if (ENV_NAME.test(h)) h = "";
  if (env && !h) h = ADMIN_HINT;
  return h ? `${m} (${h})` : m;
}

/** The service's JSON error {"error": {type, message, hint}} as one line. */
function errorLine(body, status) {
  const e = body && body.error;
  if (e && e.message) return readable(e.message, e.hint);
  if (body && typeof body.detail === "string") return readable(body.detail);
  return `the service answered ${status}`;
}

class ApiError extends Error {
  constructor(message, status, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

let signingIn = null;
/** The reader closed the sign-in dialog (Esc): requests that need a key fail at once. */
let signInDeclined = false;
const SIGN_IN_NEEDED = "Sign in with an API key to see this page (reload the page to sign in).";

/** Ask for the API key once (a <dialog>); the service keeps it in a session cookie.
 * Rejects with an ApiError (401) when the reader closes the dialog instead. */
function signIn() {
  if (signingIn) return signingIn;
  if (signInDeclined) return Promise.reject(new ApiError(SIGN_IN_NEEDED, 401, null));
  const dlg = $("#signin"), form = $("#signin-form"), input = $("#signin-key"), err = $("#signin-error");
  signingIn = new Promise((resolve, reject) => {
    const cancel = () => {
      // Esc (or the dialog closed another way): stop waiting, say what is missing
      form.removeEventListener("submit", submit);
      signingIn = null;
      signInDeclined = true;
      reject(new ApiError(SIGN_IN_NEEDED, 401, null));
    };
    const submit = async (ev) => {
      ev.preventDefault();
      const r = await fetch("/session", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ key: input.value }),
        credentials: "same-origin",
      });
      if (r.ok) {
        form.removeEventListener("submit", submit);
        dlg.removeEventListener("cancel", cancel);
        dlg.close();
        input.value = "";
        err.hidden = true;
        signingIn = null;
        resolve();
      } else {
        let body = null;
        try { body = await r.json(); } catch (_) { /* not JSON */ }
        err.textContent = errorLine(body, r.status);
        err.hidden = false;
        input.select();
      }
    };
    form.addEventListener("submit", submit);
    dlg.addEventListener("cancel", cancel, { once: true });
    dlg.showModal();
    input.focus();
  });
  return signingIn;
}

/** fetch() a /v1 route; JSON in and out. A 401 asks for the key and tries again. */
async function api(path, opts = {}) {
  const init = { credentials: "same-origin", headers: {}, ...opts };
  if (opts.json !== undefined) {
    init.method = init.method || "POST";
    init.headers = { "Content-Type": "application/json", ...init.headers };
    init.body = JSON.stringify(opts.json);
    delete init.json;
  }
  for (let attempt = 0; ; attempt++) {
    const r = await fetch(path, init);
    if (r.status === 401 && attempt < 3) {
      await signIn();
      continue;
    }
    const type = r.headers.get("content-type") || "";
    const body = type.includes("json") ? await r.json() : await r.text();
    if (!r.ok) throw new ApiError(errorLine(body, r.status), r.status, body);
    return body;
  }
}

/** A list out of a response that is a list or {items|jobs|hits|data: [...]}. */
function listOf(body, ...keys) {
  if (Array.isArray(body)) return body;
  for (const k of [...keys, "items", "data", "results"]) if (body && Array.isArray(body[k])) return body[k];
  return [];
}

/** Server-sent events of one URL. The session cookie goes with it, so EventSource works
 * with keys too. onEvent(type, data) gets every event; onEnd() when the server ends it. */
function listen(url, onEvent, onEnd) {
  const es = new EventSource(url, { withCredentials: true });
  const handle = (ev) => {
    let data = ev.data;
    try { data = JSON.parse(ev.data); } catch (_) { /* plain text */ }
    onEvent(ev.type, data);
  };
  for (const t of ["message", "progress", "status", "job", "update", "end", "done"]) es.addEventListener(t, handle);
  es.onerror = () => {
    // the server closes the stream when the job ended; EventSource would reconnect
    if (es.readyState !== EventSource.OPEN) {
      es.close();
      if (onEnd) onEnd();
    }
  };
  return es;
}

/* ------------------------------------------------------------------ items */

/** A file in the service's uploads folder (``<uploads>/file-<24 hex>/name``): uploaded,
 * or downloaded from a link by the service. */
const UPLOAD_DIR = /[\\/]file-[0-9a-f]{24}[\\/][^\\/]+$/;

/** One item of /v1/items or /v1/items/{id}, with the names this page uses. Uploaded
 * files show their own name and "sent to the service", never the uploads folder. */
function normItem(raw) {
  const m = raw.media || {};
  const src = raw.source || {};
  const path = raw.path || m.path || "";
  const name = path ? path.split(/[\\/]/).pop() : "";
  const uploaded = UPLOAD_DIR.test(path);
  const item = {
    id: raw.id ?? raw.media_id ?? m.id,
    title: raw.title || raw.name || (typeof raw.source === "string" ? raw.source : src.label) || name || `item ${raw.id}`,
    source: uploaded ? "sent to the service" : (typeof raw.source === "string" ? raw.source : (src.uri || raw.uri)) || path,
    uploaded,
    duration: raw.duration ?? m.duration ?? null,
    language: raw.language ?? (raw.transcript && raw.transcript.language) ?? null,
    status: raw.status || raw.state || src.state || "",
    reason: raw.reason || src.reason || null,
    width: raw.width ?? m.width ?? null,
    height: raw.height ?? m.height ?? null,
    video_codec: raw.video_codec ?? m.video_codec ?? null,
    audio_codec: raw.audio_codec ?? m.audio_codec ?? null,
    kind: raw.kind || null,
    raw,
  };
  if (!item.kind) item.kind = item.video_codec || item.width ? "video" : "audio";
  return item;
}

const itemUrl = (id, t) => `/items/${id}` + (t !== undefined && t !== null ? `?t=${Number(t).toFixed(2)}` : "");
const mediaUrl = (id) => `/v1/items/${id}/media`;
const thumbUrl = (id) => `/v1/items/${id}/thumbnail`;

/* ------------------------------------------------------------------ library page */

function libraryPage() {
  const form = $("#lib-filters"), rows = $("#lib-rows");
  // pages are cursors of GET /v1/items: cursors[i] fetches page i
  const state = { sort: "name", order: "asc", page: 0, cursors: [null], total: null };
  const params = new URLSearchParams(location.search);
  for (const [k, v] of params) if (form.elements[k] && k !== "sort") form.elements[k].value = v;
  if (params.get("sort")) {
    const s = params.get("sort");
    state.order = s.startsWith("-") ? "desc" : "asc";
    state.sort = s.replace(/^-/, "");
  }

  function filters() {
    const f = form.elements, q = new URLSearchParams();
    if (f.text.value.trim()) q.set("text", f.text.value.trim());
    if (f.status.value) q.set("status", f.status.value);
    if (f.language.value) q.set("language", f.language.value);
    const seconds = (minutes) => String(Number((Number(minutes) * 60).toFixed(3)));
    if (f.min.value !== "") q.set("min_duration", seconds(f.min.value));
    if (f.max.value !== "") q.set("max_duration", seconds(f.max.value));
    q.set("sort", (state.order === "desc" ? "-" : "") + state.sort);
    return q;
  }

  function showSort() {
    const menu = form.elements.sort, wanted = (state.order === "desc" ? "-" : "") + state.sort;
    if (menu && $$("option", menu).some((o) => o.value === wanted)) menu.value = wanted;
    for (const th of $$("#lib-table th[aria-sort]")) {
      const key = $("button", th).dataset.sort;
      th.setAttribute("aria-sort", key === state.sort ? (state.order === "asc" ? "ascending" : "descending") : "none");
    }
  }

  function row(it) {
    const thumb = el("img", {
      class: "thumb", loading: "lazy", alt: "", width: 112, height: 63, src: thumbUrl(it.id),
      onerror: (ev) => { ev.target.replaceWith(el("span", { class: "thumb", title: "no preview" })); },
    });
    return el("tr", { dataset: { id: it.id } },
      el("td", { class: "thumb-col" }, el("a", { href: itemUrl(it.id), tabindex: "-1", "aria-hidden": "true" }, thumb)),
      el("td", { class: "title-cell" },
        el("a", { href: itemUrl(it.id) }, it.title),
        it.source && it.source !== it.title ? el("span", { class: "src" }, it.source) : null),
      el("td", { class: "num meta dur", dataset: { seconds: it.duration ?? "" } }, hms(it.duration)),
      el("td", { class: "meta lang" }, it.language || "–"),
      el("td", { class: "meta stat" }, el("span", { class: `badge ${it.status}`, title: it.reason || "" }, it.status || "–")));
  }

  async function load() {
    showSort();
    const q = filters();
    history.replaceState(null, "", "?" + q.toString());
    const size = Number(form.elements.size.value) || 50;
    q.set("limit", String(size));
    const cursor = state.cursors[state.page];
    if (cursor) q.set("cursor", cursor);
    let body;
    try {
      body = await api("/v1/items?" + q.toString());
    } catch (e) {
      rows.replaceChildren(el("tr", {}, el("td", { colspan: 5, class: "error" }, e.message)));
      return;
    }
    const items = listOf(body, "items").map(normItem);
    state.total = body.total ?? null;
    state.cursors[state.page + 1] = body.next_cursor ?? null;
    const filtered = [...q.keys()].some((k) => k !== "sort" && k !== "limit" && k !== "cursor");
    const none = filtered ? el("td", { colspan: 5, class: "muted" }, "No items match these filters.")
      : el("td", { colspan: 5, class: "muted empty" },
        "The library is empty. Add items on the ", el("a", { href: "/new" }, "New"),
        " page (upload files or paste links), or on the server with ", el("code", {}, "vidpipe run FILES"), ".");
    rows.replaceChildren(...(items.length ? items.map(row) : [el("tr", { class: "placeholder" }, none)]));
    const offset = state.page * size;
    const from = items.length ? offset + 1 : 0, to = offset + items.length;
    $("#pg-info").textContent = state.total !== null ? `${from}–${to} of ${state.total}` : `${from}–${to}`;
    $("#lib-count").textContent = state.total !== null ? `${state.total} item${state.total === 1 ? "" : "s"}` : "";
    $("#pg-prev").disabled = state.page === 0;
    $("#pg-next").disabled = !body.next_cursor;
    rows.dataset.loaded = q.toString(); // what the rows show (tests wait for it)
  }

  let timer = null;
  const restart = () => { state.page = 0; state.cursors = [null]; };
  const reload = () => { restart(); clearTimeout(timer); timer = setTimeout(load, 250); };
  form.addEventListener("input", (ev) => {
    if (ev.target.name === "sort") { // the narrow screen's sort menu
      state.order = ev.target.value.startsWith("-") ? "desc" : "asc";
      state.sort = ev.target.value.replace(/^-/, "");
    }
    reload();
  });
  form.addEventListener("submit", (ev) => { ev.preventDefault(); restart(); load(); });
  for (const b of $$("#lib-table th button")) {
    b.addEventListener("click", () => {
      const key = b.dataset.sort;
      if (state.sort === key) state.order = state.order === "asc" ? "desc" : "asc";
      else { state.sort = key; state.order = key === "duration" ? "desc" : "asc"; }
      restart();
      load();
    });
  }
  $("#pg-prev").addEventListener("click", () => { state.page = Math.max(0, state.page - 1); load(); });
  $("#pg-next").addEventListener("click", () => { state.page += 1; load(); });
  load();
  loadReport();
}

/** Totals, failures by reason (each with its message) and the durations plot. */
async function loadReport() {
  let rep;
  try { rep = await api("/v1/report"); } catch (e) { $("#totals").replaceChildren(el("p", { class: "muted" }, e.message)); return; }
  const t = rep.totals || {};
  const labels = [["items", "items"], ["done", "done"], ["failed", "failed"], ["running", "running"], ["pending", "pending"],
    ["skipped", "skipped"], ["no_audio", "no audio"], ["duration", "total length"], ["words", "words"]];
  $("#totals").replaceChildren(...labels.filter(([k]) => t[k] !== undefined).map(([k, label]) =>
    el("div", {}, el("dt", {}, label), el("dd", { dataset: { total: k } }, k === "duration" ? hms(t[k]) : String(t[k])))));
  const langSel = $("#f-language");
  const have = new Set($$("option", langSel).map((o) => o.value));
  for (const lang of rep.languages || []) if (lang && !have.has(lang)) langSel.append(el("option", { value: lang }, lang));
  const params = new URLSearchParams(location.search);
  if (params.get("language")) langSel.value = params.get("language");
  const fails = rep.failures || [];
  if (fails.length) {
    $("#failures").replaceChildren(...fails.map((g) => el("div", { class: "failure" },
      el("strong", {}, `${g.reason} `), el("span", { class: "muted" }, `(${(g.items || []).length})`),
      el("ul", {}, (g.items || []).map((i) => el("li", {},
        typeof i === "string" ? i : [i.media_id ? el("a", { href: itemUrl(i.media_id) }, sourceLabel(i.source)) : sourceLabel(i.source),
          i.message ? el("span", { class: "msg" }, ` — ${i.message}`) : null]))))));
  }
  const durations = (rep.durations || []).filter((d) => isFinite(d));
  if (durations.length) durationPlot($("#dur-plot"), durations, t.duration);
}

/** A source line for the page: an uploaded file's own name, not the server's path. */
function sourceLabel(source) {
  const s = String(source || "");
  return UPLOAD_DIR.test(s) ? `${s.split(/[\\/]/).pop()} (sent to the service)` : s;
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

/** Round bin width (s) for a histogram of durations up to ``max`` s in about 12 bins. */
function binWidth(max) {
  const raw = Math.max(max, 1) / 12;
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200];
  return steps.find((w) => w >= raw) || Math.ceil(raw / 3600) * 3600;
}

/** The durations histogram, drawn in the page's colours from the report's numbers
 * (the same durations as the totals, so its total is the totals' total length). */
function durationPlot(box, durations, total) {
  // drawn at the box's own width, so its 12 px text stays 12 px on a phone too
  const w = Math.round(Math.min(720, Math.max(300, box.clientWidth || box.parentNode.clientWidth || 640)));
  const h = Math.round(Math.max(200, Math.min(280, w * 0.42))), left = 34, right = 12, top = 30, bottom = 40;
  const max = Math.max(...durations), bin = binWidth(max);
  const n = Math.max(1, Math.ceil((max + 1e-9) / bin));
  const counts = new Array(n).fill(0);
  for (const d of durations) counts[Math.min(n - 1, Math.floor(d / bin))]++;
  const top1 = Math.max(...counts);
  const x = (i) => left + (i * (w - left - right)) / n;
  const y = (c) => h - bottom - (c * (h - top - bottom)) / top1;
  const sum = total ?? durations.reduce((a, b) => a + b, 0);
  const label = (sec) => (bin >= 60 ? hms(sec, true) : `${Math.round(sec)} s`);
  const bars = counts.map((c, i) => svg("rect", {
    class: "col", x: x(i) + 1, y: y(c), width: Math.max(1, x(i + 1) - x(i) - 2), height: h - bottom - y(c),
    "data-count": c,
  }, svg("title", {}, `${label(i * bin)}–${label((i + 1) * bin)}: ${c} item${c === 1 ? "" : "s"}`)));
  const ticks = [];
  const every = Math.max(1, Math.ceil(n / Math.max(2, Math.floor(w / 110))));
  for (let i = 0; i <= n; i += every) ticks.push(svg("text", { class: "tick", x: x(i), y: h - bottom + 16, "text-anchor": "middle" }, label(i * bin)));
  const yTicks = [0, top1].map((c) => svg("text", { class: "tick", x: left - 6, y: y(c) + 4, "text-anchor": "end" }, String(c)));
  box.replaceChildren(svg("svg", { viewBox: `0 0 ${w} ${h}`, role: "img", "aria-labelledby": "dur-plot-cap", class: "histogram" },
    svg("text", { class: "plot-title", x: left, y: 18 },
      `${durations.length} item${durations.length === 1 ? "" : "s"} · total `, svg("tspan", { class: "plot-total" }, hms(sum))),
    svg("line", { class: "axis", x1: left, y1: h - bottom, x2: w - right, y2: h - bottom }),
    ...bars, ...ticks, ...yTicks,
    svg("text", { class: "tick", x: (left + w - right) / 2, y: h - 6, "text-anchor": "middle" }, "duration"),
  ));
  box.hidden = false;
}

/* ------------------------------------------------------------------ item page */

/** Index of the last entry whose start <= t (starts ascending), or -1. */
function lastStartAtOrBefore(starts, t) {
  let lo = 0, hi = starts.length - 1, ans = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (starts[mid] <= t + 1e-3) { ans = mid; lo = mid + 1; } else hi = mid - 1;
  }
  return ans;
}

async function itemPage() {
  const id = document.body.dataset.item;
  const params = new URLSearchParams(location.search);
  const startAt = params.has("t") ? Number(params.get("t")) : null;
  const hitQuery = params.get("q") || "";
  let item;
  try {
    item = normItem(await api(`/v1/items/${id}`));
  } catch (e) {
    // no such item (or no access): say so instead of an empty player and transcript
    const missing = e.status === 404;
    $("#item-title").textContent = missing ? "No such item" : "This item cannot be shown";
    $("#item-facts").replaceChildren(missing ? `There is no item ${id} in the library. ` : `${e.message} `,
      el("a", { href: "/" }, "Back to the library"));
    for (const node of $$(".item-body")) node.hidden = true;
    document.title = `${missing ? "No such item" : "Item"} · vidpipe`;
    document.body.dataset.missing = missing ? "1" : "0";
    return;
  }
  document.title = `${item.title} · vidpipe`;
  $("#item-title").textContent = item.title;
  const facts = [hms(item.duration), item.language, item.width && item.height ? `${item.width}×${item.height}` : null,
    item.video_codec, item.audio_codec, item.status].filter(Boolean);
  $("#item-facts").textContent = facts.join(" · ");
  if (item.reason) $("#item-facts").append(el("span", { class: "reason" }, ` — ${item.reason}`));

  const box = $("#media-box");
  let player;
  if (item.kind === "video") {
    player = el("video", { controls: true, preload: "metadata", src: mediaUrl(id), poster: `${thumbUrl(id)}?width=960`, playsinline: true, "aria-label": `Video: ${item.title}` });
    box.replaceChildren(player);
    watchDecoding(player, item);
  } else {
    player = el("audio", { controls: true, preload: "metadata", src: mediaUrl(id), "aria-label": `Audio: ${item.title}` });
    box.replaceChildren(el("img", { class: "waveform", alt: "Waveform", src: thumbUrl(id), width: 640, height: 160, onerror: (ev) => ev.target.remove() }), player);
  }
  player.id = "player";
  if (item.kind !== "video") $("#scenes-panel").hidden = true; // audio has no scenes
  playerControls(player, id, item);

  const name = (item.raw.path || item.title || `item-${id}`).split(/[\\/]/).pop().replace(/\.[^.]+$/, "");
  const dl = $("#downloads");
  for (const f of item.raw.transcript ? ["srt", "vtt", "txt", "json"] : []) { // none without one
    dl.append(el("a", { href: `/v1/items/${id}/transcript?format=${f}`, download: `${name}.${f}` }, f.toUpperCase()));
  }
  dl.append(el("a", { href: mediaUrl(id), download: (item.raw.path || "").split(/[\\/]/).pop() || `${name}` }, "Media"));

  // summary, chapters, scenes (in the item body when the service has them)
  showSummary(item.raw.summary);
  showStale(id, player, item.raw);
  // chapters and scenes seek through seekTo (set below once the transcript is drawn)
  let seekTo = (t) => { player.currentTime = Math.max(0, t); };
  showChapters(item.raw.chapters, (t) => seekTo(t));
  showScenes(item.raw.scenes, (t) => seekTo(t), id);
  loadSimilar(id, item.raw);

  // transcript: the latest revision; "Edit transcript" stores a new one (the machine's kept)
  let tr = null;
  // the item says whether it has one: no request that must fail (a 404 in the console)
  if (item.raw.transcript !== null) {
    try { tr = await api(`/v1/items/${id}/transcript?format=json`); } catch (e) { /* shown below */ }
  }
  let segs = tr ? listOf(tr, "segments") : [];
  let speakers = Array.isArray(item.raw.speakers) ? item.raw.speakers : [];
  const pane = $("#transcript");
  let segEls = [], segStarts = [], wordEls = [], wordStarts = [];
  let curSeg = -1, curWord = null;
  let editing = false;
  /** Colour number (0..7) of a speaker as shown (its name, else its label), or -1. */
  const colourOf = (shown) => {
    const k = speakers.findIndex((s) => s.speaker === shown || s.label === shown);
    return k < 0 ? -1 : k % SPEAKER_COLOURS;
  };

  function draw() {
    curSeg = -1; curWord = null;
    if (!segs.length) {
      pane.replaceChildren(el("p", { class: "muted" }, tr ? "The transcript is empty." : "No transcript yet."));
    } else {
      pane.replaceChildren(...segs.map((s, i) => {
        const words = Array.isArray(s.words) ? s.words : [];
        const text = words.length && !editing
          ? words.flatMap((w, j) => {
            // the leading space stays outside the word, so its highlight hugs the letters
            const lead = w.word.match(/^\s*/)[0];
            // a button: Tab reaches each word, Enter or Space on it plays from there
            const span = el("button", { type: "button", class: "w", dataset: { s: w.start, e: w.end, j } }, w.word.slice(lead.length));
            return lead ? [lead, span] : [span];
          })
          : [editing ? s.text.trim() : s.text];
        const k = s.speaker ? colourOf(s.speaker) : -1;
        const txt = editing
          ? el("div", { class: "txt", lang: tr.language || null, contenteditable: "plaintext-only", spellcheck: "true",
            role: "textbox", "aria-label": `Line at ${hms(s.start, true)}`, dataset: { id: s.id } }, text)
          : el("span", { class: "txt", lang: tr.language || null }, text);
        const who = editing ? speakerPick(s) : s.speaker ? el("span", { class: "who" }, s.speaker) : null;
        return el("div", { class: `seg${k >= 0 ? ` spk-${k}` : ""}`, dataset: { i, s: s.start, e: s.end, id: s.id, speaker: s.speaker || "" } },
          el("button", { type: "button", class: "ts", "aria-label": `Play from ${hms(s.start, true)}` }, hms(s.start, true)),
          el("div", { class: "body" }, who, txt));
      }));
    }
    segEls = $$(".seg", pane);
    segStarts = segs.map((s) => s.start);
    wordEls = segEls.map((e) => $$(".w", e));
    wordStarts = wordEls.map((ws) => ws.map((w) => Number(w.dataset.s)));
    pane.classList.toggle("editing", editing);
    applyFilter();
  }

  /** Edit mode: the line's speaker, a select of the item's speakers (as shown), "No
   * speaker" and "New speaker…" (which shows a box for the new name). Read at save by
   * pickedSpeakers(). */
  const NEW_SPEAKER = "\u0000new";
  function speakerPick(s) {
    const at = hms(s.start, true);
    const names = speakers.map((x) => x.speaker);
    if (s.speaker && !names.includes(s.speaker)) names.push(s.speaker);
    const sel = el("select", { class: "spk-pick", "aria-label": `Speaker of the line at ${at}`, dataset: { id: s.id } },
      el("option", { value: "" }, "No speaker"),
      ...names.map((n) => el("option", { value: n }, n)),
      el("option", { value: NEW_SPEAKER }, "New speaker…"));
    sel.value = s.speaker || "";
    sel.dataset.was = sel.value; // the value before its last change (for Undo)
    const box = el("input", { type: "text", class: "spk-new", maxlength: 100, hidden: true,
      placeholder: "Name", "aria-label": `Name of the new speaker of the line at ${at}` });
    sel.addEventListener("change", () => {
      box.hidden = sel.value !== NEW_SPEAKER;
      if (!box.hidden) box.focus();
    });
    box.addEventListener("keydown", (ev) => { if (ev.key === "Enter") ev.preventDefault(); });
    return el("span", { class: "who-pick" }, sel, box);
  }
  /** Segment id -> the speaker chosen in edit mode (a name, or null for none); throws
   * when "New speaker…" has no name. */
  function pickedSpeakers() {
    const out = new Map();
    for (const sel of $$(".spk-pick", pane)) {
      let v = sel.value;
      if (v === NEW_SPEAKER) {
        v = sel.parentElement.querySelector(".spk-new").value.trim();
        if (!v) { sel.parentElement.querySelector(".spk-new").focus(); throw new Error("Type a name for the new speaker (or choose one)."); }
      }
      out.set(Number(sel.dataset.id), v || null);
    }
    return out;
  }

  /* speakers: a colour and a name each, renamed in place; the transcript filtered by one */
  const spkBox = $("#speakers"), spkList = $("#spk-list"), spkFilter = $("#spk-filter");
  function applyFilter() {
    const only = spkFilter.value;
    for (const e of segEls) e.hidden = Boolean(only) && e.dataset.speaker !== only;
  }
  function drawSpeakers() {
    spkBox.hidden = !speakers.length;
    if (!speakers.length) return;
    const chosen = spkFilter.value;
    spkFilter.replaceChildren(el("option", { value: "" }, "All speakers"),
      ...speakers.map((s) => el("option", { value: s.speaker }, s.speaker)));
    spkFilter.value = speakers.some((s) => s.speaker === chosen) ? chosen : "";
    spkList.replaceChildren(...speakers.map((s, k) => {
      const li = el("li", { class: `spk spk-${k % SPEAKER_COLOURS}`, dataset: { label: s.label } });
      const show = () => li.replaceChildren(
        el("span", { class: "sw", "aria-hidden": "true" }),
        el("button", { type: "button", class: "name", title: `Rename ${s.speaker}`, "aria-label": `Rename ${s.speaker}`,
          onclick: () => rename() }, s.speaker, el("span", { class: "pen", "aria-hidden": "true" }, " ✎")),
        s.seconds != null ? el("span", { class: "muted secs" }, hms(s.seconds, true)) : null);
      const rename = () => {
        const input = el("input", { type: "text", value: s.name || "", placeholder: s.label, maxlength: 100,
          "aria-label": `New name for ${s.speaker}`, class: "rename" });
        let done = false;
        const finish = async (save) => {
          if (done) return;
          done = true;
          const value = input.value.trim();
          if (!save || value === (s.name || "")) { show(); return; }
          try {
            const out = await api(`/v1/items/${id}/speakers`, { method: "PATCH", json: { [s.label]: value || null } });
            speakers = listOf(out, "speakers");
            await reloadTranscript();
            drawSpeakers();
            flash(value ? `${s.label} is now “${value}”.` : `${s.label} has no name now.`);
          } catch (e) { flash(e.message, true); show(); }
        };
        input.addEventListener("keydown", (ev) => {
          if (ev.key === "Enter") { ev.preventDefault(); finish(true); }
          else if (ev.key === "Escape") { ev.preventDefault(); finish(false); }
        });
        input.addEventListener("blur", () => finish(true));
        li.replaceChildren(el("span", { class: "sw", "aria-hidden": "true" }), input);
        input.focus();
        input.select();
      };
      show();
      return li;
    }));
  }
  spkFilter.addEventListener("change", () => { applyFilter(); sync(true); });

  async function reloadTranscript() {
    tr = await api(`/v1/items/${id}/transcript?format=json`);
    segs = listOf(tr, "segments");
    draw();
    reloadCaptions(player, id);
  }

  /* editing: segments editable in place, save (a new revision), undo, find and replace */
  const editBtn = $("#edit"), saveBtn = $("#save"), undoBtn = $("#undo"), cancelBtn = $("#cancel-edit");
  const undoStack = []; // texts (segment id -> text) before each change of this session
  let saved = new Map(segs.map((s) => [s.id, s.text.trim()])); // the latest revision's texts
  const texts = () => new Map(editing
    ? $$(".txt[contenteditable]", pane).map((t) => [Number(t.dataset.id), t.textContent.trim()])
    : segs.map((s) => [s.id, s.text.trim()]));
  const same = (a, b) => a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);
  function showEditState() {
    $("#edit-tools").hidden = !editing;
    editBtn.hidden = editing || !segs.length;
    undoBtn.disabled = !undoStack.length;
    saveBtn.disabled = !editing;
    $("#follow").disabled = editing;
  }
  function setEditing(on) {
    editing = on;
    draw();
    showEditState();
    if (on) { const first = $(".txt[contenteditable]", pane); if (first) first.focus(); }
  }
  function applyTexts(map) {
    if (!editing) setEditing(true);
    for (const t of $$(".txt[contenteditable]", pane)) {
      const v = map.get(Number(t.dataset.id));
      if (v !== undefined) t.textContent = v;
    }
    // an undo step of a speaker change also carries the selects' values before it
    for (const sel of map.speakers ? $$(".spk-pick", pane) : []) {
      const v = map.speakers.get(Number(sel.dataset.id));
      if (v === undefined) continue;
      sel.value = v;
      sel.dataset.was = v;
      sel.parentElement.querySelector(".spk-new").hidden = v !== NEW_SPEAKER;
    }
  }
  pane.addEventListener("change", (ev) => {
    if (!ev.target.matches(".spk-pick")) return;
    const snap = texts();
    snap.speakers = new Map($$(".spk-pick", pane).map((sel) =>
      [Number(sel.dataset.id), sel === ev.target ? sel.dataset.was : sel.value]));
    ev.target.dataset.was = ev.target.value;
    undoStack.push(snap);
    showEditState();
  });
  let before = null;
  pane.addEventListener("focusin", (ev) => { if (ev.target.matches(".txt[contenteditable]")) before = texts(); });
  pane.addEventListener("focusout", (ev) => {
    if (!ev.target.matches(".txt[contenteditable]") || !before) return;
    if (!same(before, texts())) { undoStack.push(before); showEditState(); }
    before = null;
  });
  pane.addEventListener("keydown", (ev) => {
    // Enter in a line ends the edit of that line (a segment is one line)
    if (ev.target.matches(".txt[contenteditable]") && ev.key === "Enter") { ev.preventDefault(); ev.target.blur(); }
  });
  editBtn.addEventListener("click", () => setEditing(true));
  cancelBtn.addEventListener("click", () => {
    const now = texts();
    if (!same(now, saved)) undoStack.push(now);
    setEditing(false);
    flash("Edits not saved (Undo brings them back).");
  });
  undoBtn.addEventListener("click", () => {
    const prev = undoStack.pop();
    if (prev) applyTexts(prev);
    showEditState();
    flash(prev ? "Undone: save to keep it." : "");
  });
  saveBtn.addEventListener("click", async () => {
    if (document.activeElement && pane.contains(document.activeElement)) document.activeElement.blur();
    const now = texts();
    let picked;
    try { picked = pickedSpeakers(); } catch (e) { flash(e.message, true); return; }
    const was = new Map(segs.map((s) => [s.id, s.speaker || null]));
    const changed = [];
    for (const [k, v] of now) {
      const edit = { id: k };
      if (saved.get(k) !== v) edit.text = v;
      if (picked.has(k) && picked.get(k) !== was.get(k)) edit.speaker = picked.get(k);
      if (Object.keys(edit).length > 1) changed.push(edit);
    }
    if (!changed.length) { setEditing(false); flash("Nothing changed."); return; }
    saveBtn.disabled = true;
    try {
      const out = await api(`/v1/items/${id}/transcript`, { method: "PATCH", json: { segments: changed } });
      tr = out.transcript;
      segs = listOf(tr, "segments");
      if (changed.some((c) => "speaker" in c)) {
        try { speakers = listOf(await api(`/v1/items/${id}/speakers`), "speakers"); } catch (e) { /* kept as they were */ }
        drawSpeakers();
      }
      showStale(id, player);
      saved = new Map(segs.map((s) => [s.id, s.text.trim()]));
      if (out.removed && out.removed.length) undoStack.length = 0; // ids moved: old texts no longer fit
      setEditing(false);
      reloadCaptions(player, id);
      showRevision(out.revision);
      flash(`Saved as revision ${out.revision} (${out.changed.length} line${out.changed.length === 1 ? "" : "s"} changed).`);
    } catch (e) {
      saveBtn.disabled = false;
      flash(e.message, true);
    }
  });
  $("#replace-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const find = $("#find").value, repl = $("#replace").value;
    if (!find) return;
    const prev = texts();
    if (!editing) setEditing(true);
    let n = 0, lines = 0;
    for (const t of $$(".txt[contenteditable]", pane)) {
      const parts = t.textContent.split(find);
      if (parts.length > 1) { n += parts.length - 1; lines++; t.textContent = parts.join(repl); }
    }
    if (n) { undoStack.push(prev); showEditState(); }
    flash(n ? `Replaced ${n} time${n === 1 ? "" : "s"} in ${lines} line${lines === 1 ? "" : "s"}: save to keep it.` : `“${find}” is not in the transcript.`);
  });
  function showRevision(number) {
    const note = $("#tr-rev");
    if (!number || number < 2) { note.hidden = true; return; }
    note.hidden = false;
    note.replaceChildren(`Corrected by hand (revision ${number}). The machine's version: `,
      el("a", { href: `/v1/items/${id}/transcript?format=srt&revision=original`, download: `${name}.original.srt` }, "SRT"), " · ",
      el("a", { href: `/v1/items/${id}/transcript?format=json&revision=original`, download: `${name}.original.json` }, "JSON"));
  }
  if (tr) {
    api(`/v1/items/${id}/transcript/revisions`).then((b) => {
      const revs = listOf(b, "revisions");
      if (revs.length) showRevision(revs[revs.length - 1].number);
    }).catch(() => { /* an older service: no revisions */ });
  }
  drawSpeakers();
  draw();
  showEditState();

  const seek = (t) => {
    player.currentTime = Math.max(0, t);
    sync(true);
  };
  seekTo = seek;
  pane.addEventListener("click", (ev) => {
    const w = ev.target.closest(".w"), s = ev.target.closest(".seg");
    if (editing && !ev.target.closest(".ts")) return; // clicks place the caret while editing
    if (w) seek(Number(w.dataset.s));
    else if (s) seek(Number(s.dataset.s));
  });

  /** Scroll the transcript pane (only the pane, never the page) so that ``node`` is
   * inside its visible box, a third of the way down. Positions are measured against the
   * pane itself (bounding boxes), whatever the node's offsetParent. */
  function keepInView(node) {
    if (!$("#follow").checked || editing || node.hidden) return;
    const p = pane.getBoundingClientRect(), n = node.getBoundingClientRect();
    const top = n.top - p.top - pane.clientTop + pane.scrollTop, bottom = top + n.height;
    const vTop = pane.scrollTop, vBottom = vTop + pane.clientHeight;
    if (top < vTop || bottom > vBottom) {
      const want = Math.max(0, Math.min(top - pane.clientHeight / 3, pane.scrollHeight - pane.clientHeight));
      pane.scrollTo({ top: want, behavior: "instant" });
    }
  }
  function sync(force = false) {
    const t = player.currentTime;
    const i = lastStartAtOrBefore(segStarts, t);
    if (i !== curSeg || force) {
      if (curSeg >= 0 && segEls[curSeg]) segEls[curSeg].classList.remove("current");
      curSeg = i;
      if (i >= 0 && segEls[i]) {
        segEls[i].classList.add("current");
        keepInView(segEls[i]);
      }
    }
    let w = null;
    if (i >= 0 && wordEls[i] && wordEls[i].length) {
      const j = lastStartAtOrBefore(wordStarts[i], t);
      if (j >= 0 && t < Number(wordEls[i][j].dataset.e) + 0.05) w = wordEls[i][j];
    }
    if (w !== curWord) {
      if (curWord) curWord.classList.remove("current");
      if (w) w.classList.add("current");
      curWord = w;
    }
    pane.dataset.current = String(curSeg);
  }
  let raf = 0;
  const loop = () => { sync(); raf = player.paused ? 0 : requestAnimationFrame(loop); };
  player.addEventListener("play", () => { if (!raf) raf = requestAnimationFrame(loop); });
  player.addEventListener("timeupdate", () => sync());
  player.addEventListener("seeked", () => sync(true));
  player.addEventListener("pause", () => sync());

  // a search hit (or a topic's moment): start at its time. The service gives a hit's
  // time as the word where the query is said (Chinese too: across single-character
  // words); an older link at a segment's start is moved to the first word there that
  // the query's first term begins (spaced scripts only).
  if (startAt !== null && isFinite(startAt)) {
    let target = startAt;
    const terms = hitQuery.toLowerCase().split(/\s+/).filter(Boolean);
    const i = lastStartAtOrBefore(segStarts, startAt);
    if (terms.length && i >= 0 && Math.abs(segStarts[i] - startAt) < 0.005) {
      const norm = (x) => x.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, "");
      const first = norm(terms[0]);
      const hit = wordEls[i].find((w) => first && norm(w.textContent) === first);
      if (hit) target = Number(hit.dataset.s);
    }
    const go = () => seek(target);
    if (player.readyState >= 1) go(); else player.addEventListener("loadedmetadata", go, { once: true });
  }

  $("#back5").addEventListener("click", () => seek(player.currentTime - 5));

  // keyboard: space play/pause, left/right five seconds, < > speed, c captions
  document.addEventListener("keydown", (ev) => {
    const tag = (ev.target.tagName || "").toLowerCase();
    if (["input", "textarea", "select"].includes(tag) || ev.target.isContentEditable) return;
    if (ev.target === player || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    if (ev.key === "Enter" && ev.target.matches(".w")) return; // the word's own click seeks
    if (ev.key === " " || ev.code === "Space") {
      ev.preventDefault();
      if (player.paused) player.play(); else player.pause();
    } else if (ev.key === "<" || ev.key === ">") {
      ev.preventDefault();
      stepSpeed(player, ev.key === ">" ? 1 : -1);
    } else if (ev.key === "c" || ev.key === "C") {
      const cc = $("#captions");
      if (!cc.disabled) { cc.checked = !cc.checked; cc.dispatchEvent(new Event("change")); }
    } else if (ev.key === "ArrowLeft") {
      ev.preventDefault();
      seek(player.currentTime - 5);
    } else if (ev.key === "ArrowRight") {
      ev.preventDefault();
      seek(Math.min(player.duration || Infinity, player.currentTime + 5));
    }
  });
}

/** How many speaker colours the style sheet has (.spk-0 ... .spk-7). */
const SPEAKER_COLOURS = 8;

/** Load the captions <track> again (after an edit or a rename: the current revision). */
function reloadCaptions(player, id) {
  const old = player.querySelector("track");
  if (!old) return;
  const track = old.cloneNode();
  track.src = `/v1/items/${id}/transcript?format=vtt&v=${Date.now()}`;
  track.addEventListener("load", () => $("#captions").dispatchEvent(new Event("change")));
  old.replaceWith(track);
  $("#captions").dispatchEvent(new Event("change"));
}

/** Playback speeds offered (the menu and the < > keys). */
const SPEEDS = [0.5, 0.75, 1, 1.25, 1.5, 1.75, 2];

function stepSpeed(player, dir) {
  const i = SPEEDS.findIndex((s) => Math.abs(s - player.playbackRate) < 1e-6);
  const next = SPEEDS[Math.max(0, Math.min(SPEEDS.length - 1, (i < 0 ? SPEEDS.indexOf(1) : i) + dir))];
  player.playbackRate = next;
  const menu = $("#speed");
  if (menu) menu.value = String(next); // at once: "ratechange" comes a task later
}

/** Speed menu, captions toggle (a <track> of the item's WebVTT transcript) and the
 * five-seconds-back button of the player. */
function playerControls(player, id, item) {
  const speed = $("#speed");
  speed.replaceChildren(...SPEEDS.map((s) => el("option", { value: s, selected: s === 1 }, `${s}×`)));
  speed.addEventListener("change", () => { player.playbackRate = Number(speed.value); });
  player.addEventListener("ratechange", () => { speed.value = String(player.playbackRate); });
  const cc = $("#captions");
  const hasTranscript = Boolean(item.raw.transcript);
  if (item.kind !== "video" || !hasTranscript) {
    cc.disabled = true;
    cc.closest("label").hidden = true;
    return;
  }
  const track = el("track", {
    kind: "captions", src: `/v1/items/${id}/transcript?format=vtt`, default: true,
    srclang: item.language || "und", label: item.language ? `Transcript (${item.language})` : "Transcript",
  });
  player.append(track);
  const show = () => { if (player.textTracks[0]) player.textTracks[0].mode = cc.checked ? "showing" : "hidden"; };
  cc.addEventListener("change", show);
  track.addEventListener("load", show);
  show();
}

/** Codecs the item's probe names, as the MIME types a browser is asked about. */
const CODEC_TYPES = {
  h264: 'video/mp4; codecs="avc1.42E01E"',
  hevc: 'video/mp4; codecs="hvc1.1.6.L93.B0"',
  av1: 'video/mp4; codecs="av01.0.05M.08"',
  vp8: 'video/webm; codecs="vp8"',
  vp9: 'video/webm; codecs="vp9"',
  theora: 'video/ogg; codecs="theora"',
  mpeg4: 'video/mp4; codecs="mp4v.20.9"',
  mpeg2video: 'video/mpeg',
  mpeg1video: 'video/mpeg',
};

/** Tell the reader when the browser cannot show the video's pictures: the codec of the
 * item's probe is refused by canPlayType, or the loaded video has no picture size
 * (videoWidth 0: the sound plays over a frozen poster). */
function watchDecoding(player, item) {
  const codec = (item.video_codec || "").toLowerCase();
  const say = () => {
    if ($("#media-box .cannot-play")) return;
    const name = { mpeg4: "MPEG-4 Part 2", hevc: "H.265/HEVC", mpeg2video: "MPEG-2", mpeg1video: "MPEG-1" }[codec] || codec || "its";
    player.classList.add("undecodable");
    const state = el("span", { class: "proxy-state" }, "Making a copy this browser can play…");
    $("#media-box").append(el("p", { class: "cannot-play", role: "alert" },
      `This browser cannot show the pictures of this video (${name} video): only the sound plays. `, state,
      " Download it (Media, below) to play it now in a desktop player such as VLC or mpv."));
    makeProxy(player, item, state);
  };
  const type = CODEC_TYPES[codec];
  if (type && player.canPlayType(type) === "" && !player.dataset.proxy) say();
  player.addEventListener("loadedmetadata", () => { if (player.videoWidth === 0 && !player.dataset.proxy) say(); });
}

let proxyWatch = null;

/** Ask for the item's playable copy (a proxy job, POST /v1/items/{id}/proxy), follow
 * it, then play the copy in place (same time, its poster) and say so. */
function makeProxy(player, item, state) {
  if (proxyWatch) return proxyWatch;
  proxyWatch = (async () => {
    try {
      let job = await api(`/v1/items/${item.id}/proxy`, { method: "POST" });
      while (!FINAL.has(job.status)) {
        const pct = Math.round((job.progress || 0) * 100);
        const stateText = job.status === "running" ? `Making a copy this browser can play: ${pct}%…`
          : "A copy this browser can play is waiting for a worker…";
        for (const s of $$(".proxy-state")) s.textContent = stateText;
        await new Promise((r) => setTimeout(r, 1000));
        job = await api(`/v1/jobs/${job.id}`);
      }
      if (job.status !== "succeeded") {
        for (const s of $$(".proxy-state")) s.textContent = `No playable copy: ${jobError(job) || job.status}.`;
        return;
      }
      const t = player.currentTime, wasPlaying = !player.paused;
      player.poster = `/v1/items/${item.id}/proxy/poster`;
      player.src = `/v1/items/${item.id}/proxy`;
      player.dataset.proxy = "1";
      player.addEventListener("loadedmetadata", () => {
        if (t) player.currentTime = t;
        if (wasPlaying) player.play().catch(() => {});
      }, { once: true });
      player.classList.remove("undecodable");
      for (const p of $$(".proxy-state")) p.textContent = "Loading the copy made for this browser…";
      player.addEventListener("loadeddata", () => {
        for (const p of $$("#media-box .cannot-play")) p.remove();
        $("#media-box").append(el("p", { class: "proxy-note muted", role: "status" },
          "Playing a copy made for this browser (H.264); Media, below, is the original."));
      }, { once: true });
    } catch (e) {
      for (const s of $$(".proxy-state")) s.textContent = e.message;
    }
  })();
  return proxyWatch;
}

function showSummary(summary) {
  if (!summary) return;
  const s = typeof summary === "string" ? { overall: summary } : summary;
  const parts = [el("p", {}, s.overall || "")];
  if (Array.isArray(s.keywords) && s.keywords.length) parts.push(el("p", { class: "muted" }, "Keywords: " + s.keywords.join(", ")));
  $("#summary").replaceChildren(...parts);
}

/** The summary and chapters computed from an older transcript revision (edited since):
 * a note saying so above the summary, with "Recompute" (summarize and chapters jobs for
 * the item, followed until they end, then both shown again). ``raw`` is the item (asked
 * again when not given). */
async function showStale(id, player, raw) {
  try { raw = raw || await api(`/v1/items/${id}`); } catch (e) { return; }
  const old = [["summary", raw.summary_state, "summarize"], ["chapters", raw.chapters_state, "chapters"]]
    .filter(([, st]) => st && st.stale);
  let note = $("#stale");
  if (!old.length) { if (note) note.remove(); return; }
  if (!note) { note = el("div", { id: "stale", class: "stale" }); $("#summary").before(note); }
  const what = old.map(([w]) => w).join(" and ");
  const st = old[0][1];
  const btn = el("button", { type: "button", id: "recompute", class: "secondary" }, "Recompute");
  const status = el("span", { class: "muted", role: "status" }, "");
  const which = st.revision == null ? "(the item was transcribed again since). "
    : `(revision ${st.revision}; it is at revision ${st.latest_revision} now). `;
  note.replaceChildren(el("p", {}, `The ${what} ${old.length > 1 ? "are" : "is"} based on an older transcript `, which),
    el("p", {}, btn, " ", status));
  btn.addEventListener("click", async () => {
    btn.disabled = true;
    try {
      const jobs = await Promise.all(old.map(([, , kind]) => api("/v1/jobs", { json: { kind, input: { media_id: Number(id) } } })));
      for (let job of jobs) {
        while (!FINAL.has(job.status)) {
          status.textContent = `${job.kind}: ${job.status}…`;
          await new Promise((r) => setTimeout(r, 1000));
          job = await api(`/v1/jobs/${job.id}`);
        }
        if (job.status !== "succeeded") throw new Error(`Not recomputed: ${jobError(job) || job.status}`);
      }
      const fresh = await api(`/v1/items/${id}`);
      showSummary(fresh.summary);
      showChapters(fresh.chapters, (t) => { player.currentTime = Math.max(0, t); });
      await showStale(id, player, fresh);
      flash(`The ${what} ${old.length > 1 ? "are" : "is"} recomputed from the current transcript.`);
    } catch (e) { status.textContent = e.message; btn.disabled = false; }
  });
}

function showChapters(chapters, seek) {
  const list = $("#chapters");
  if (!Array.isArray(chapters) || !chapters.length) { list.replaceChildren(el("li", { class: "muted" }, "No chapters yet.")); return; }
  list.replaceChildren(...chapters.map((c) => el("li", {},
    el("button", { type: "button", onclick: () => seek(c.start) },
      el("span", { class: "mono" }, hms(c.start, true)), c.title))));
}

function showScenes(scenes, seek, id) {
  const list = $("#scenes");
  if (!Array.isArray(scenes) || !scenes.length) return;
  list.replaceChildren(...scenes.map((s, i) => el("li", { class: "scene" },
    s.keyframe ? el("img", {
      loading: "lazy", alt: `Keyframe of scene ${i + 1}`, width: 320, height: 180,
      src: `/v1/items/${id}/scenes/${s.index ?? i}/keyframe`, onerror: (ev) => ev.target.remove(),
    }) : null,
    el("button", { type: "button", onclick: () => seek(s.start) }, `${hms(s.start, true)} – ${hms(s.end, true)}`),
    s.ocr_text && s.ocr_text.length ? el("p", {}, el("span", { class: "muted" }, "On screen: "), s.ocr_text.join(" · ")) : null,
    s.description ? el("p", {}, s.description) : null,
    s.speech ? el("p", { class: "muted" }, s.speech) : null)));
}

/** Items that sound alike. Asked only when the item has an audio embedding (the item's
 * ``embedded``); otherwise the section says how to get one, with no failing request. */
async function loadSimilar(id, raw) {
  const list = $("#similar");
  const none = (text) => list.replaceChildren(el("li", { class: "muted" }, text));
  if (raw && raw.embedded === false) {
    // "Compute now": an embed job for this item, followed until it ends
    const btn = el("button", { type: "button", id: "sim-compute" }, "Compute now");
    const note = el("span", { class: "muted", role: "status" }, "");
    list.replaceChildren(el("li", { class: "muted" }, "Items that sound alike are listed once this item has an audio embedding. "),
      el("li", {}, btn, " ", note));
    btn.addEventListener("click", async () => {
      btn.disabled = true;
      try {
        let job = await api("/v1/jobs", { json: { kind: "embed", input: { media_id: Number(id) } } });
        while (!FINAL.has(job.status)) {
          note.textContent = `${job.status}${job.status === "running" ? ` ${Math.round((job.progress || 0) * 100)}%` : ""}…`;
          await new Promise((r) => setTimeout(r, 1000));
          job = await api(`/v1/jobs/${job.id}`);
        }
        if (job.status !== "succeeded") { note.textContent = `Not computed: ${jobError(job) || job.status}`; btn.disabled = false; return; }
        await loadSimilar(id, { ...raw, embedded: true });
      } catch (e) { note.textContent = e.message; btn.disabled = false; }
    });
    return;
  }
  let body;
  try { body = await api(`/v1/items/${id}/similar`); } catch (e) {
    none(e.status === 404 || e.status === 409 || e.status === 503 ? "No similar items yet." : e.message);
    return;
  }
  const items = listOf(body, "items", "similar", "neighbours", "neighbors");
  if (!items.length) { none("No similar items yet."); return; }
  $("#similar").replaceChildren(...items.map((raw) => {
    const it = normItem(raw);
    const score = raw.score ?? raw.similarity;
    return el("li", {}, el("a", { href: itemUrl(it.id) }, it.title),
      score !== undefined ? el("span", { class: "muted" }, ` ${Number(score).toFixed(2)}`) : null);
  }));
}

/* ------------------------------------------------------------------ search page */

/** The snippet's [marked] words as <mark> elements (text nodes only: no HTML injection). */
function marked(snippet) {
  const out = [];
  const re = /\[([^\]]*)\]/g;
  let pos = 0, m;
  while ((m = re.exec(snippet))) {
    if (m.index > pos) out.push(snippet.slice(pos, m.index));
    out.push(el("mark", {}, m[1]));
    pos = re.lastIndex;
  }
  if (pos < snippet.length) out.push(snippet.slice(pos));
  return out;
}

/** Search results grouped by item: the item's picture and name, then its hits (time,
 * speaker, the words found), each opening the player at the hit. */
async function searchPage() {
  const q = new URLSearchParams(location.search).get("q") || "";
  const list = $("#hits");
  if (!q.trim()) { $("#s-count").textContent = "Type words or a phrase in the box above."; return; }
  let body;
  try { body = await api(`/v1/search?q=${encodeURIComponent(q)}&limit=100`); } catch (e) { flash(e.message, true); return; }
  const hits = listOf(body, "hits");
  const groups = new Map();
  for (const h of hits) {
    const id = h.media_id ?? h.item_id ?? h.id;
    if (!groups.has(id)) groups.set(id, []);
    groups.get(id).push(h);
  }
  $("#s-count").textContent = `${hits.length} hit${hits.length === 1 ? "" : "s"} in ${groups.size} item${groups.size === 1 ? "" : "s"} for “${q}”`;
  list.replaceChildren(...[...groups].map(([id, hs]) => {
    const first = hs[0];
    const title = first.title || first.name || (first.path || "").split(/[\\/]/).pop() || `item ${id}`;
    return el("li", { class: "hit-item", dataset: { id } },
      el("img", { class: "hit-thumb", src: `${thumbUrl(id)}?width=240`, alt: "", width: 120, height: 68, loading: "lazy", onerror: (ev) => ev.target.remove() }),
      el("div", { class: "hit-body" },
        el("h3", { class: "hit-title" }, el("a", { href: itemUrl(id) }, title),
          el("span", { class: "muted" }, ` · ${hs.length} hit${hs.length === 1 ? "" : "s"}`)),
        el("ol", { class: "hit-list" }, ...hs.map((h) => el("li", { class: "hit" },
          el("a", { href: `${itemUrl(id, h.word_start ?? h.start)}&q=${encodeURIComponent(q)}`, class: "hit-link" }, marked(h.snippet || h.text || "")),
          el("div", { class: "where" }, el("span", { class: "sr" }, `${title} · `), hms(h.word_start ?? h.start, true),
            h.speaker ? el("span", { class: "hit-speaker" }, ` · ${h.speaker}`) : null))))));
  }));
}

/* ------------------------------------------------------------------ jobs */

const FINAL = new Set(["succeeded", "failed", "canceled"]);
const STATUSES = ["waiting", "queued", "running", "succeeded", "failed", "canceled"];

function jobError(job) {
  const e = job.error;
  if (!e) return null;
  if (typeof e === "string") return e;
  return e.hint ? `${e.message} (${e.hint})` : e.message || e.reason || e.error_class;
}

function elapsed(job, now = Date.now()) {
  if (!job.started_at) return null;
  const a = Date.parse(job.started_at);
  const b = job.finished_at ? Date.parse(job.finished_at) : now;
  return Math.max(0, (b - a) / 1000);
}

/** A job's row: kind, status, step, a progress bar, elapsed time, error, cancel/retry. */
function jobRow(job, kinds) {
  const pct = Math.round(Math.max(0, Math.min(1, job.progress || 0)) * 100);
  const chain = (job.depends_on || []).map((d) => el("a", { href: `#job-${d}`, class: "mono" }, `${kinds.get(d) || "job"} ${d.slice(0, 8)}`));
  const cancel = el("button", { type: "button", class: "danger", "data-action": "cancel", disabled: FINAL.has(job.status) }, "Cancel");
  const retry = el("button", { type: "button", "data-action": "retry", disabled: !["failed", "canceled"].includes(job.status) }, "Retry");
  const err = jobError(job);
  const t = elapsed(job);
  return el("li", { class: `job ${job.status}`, id: `job-${job.id}`, dataset: { id: job.id, status: job.status, kind: job.kind } },
    el("div", { class: "what" },
      el("span", { class: "kind" }, job.kind),
      el("span", { class: `badge ${job.status}` }, job.status),
      el("span", { class: "id" }, job.id.slice(0, 8)),
      job.step ? el("span", { class: "step" }, job.step) : null,
      el("span", { class: "elapsed mono" }, t !== null ? hms(t, true) : ""),
      chain.length ? el("span", { class: "chain" }, "after ", chain.flatMap((a, i) => (i ? [", ", a] : [a]))) : null),
    el("div", { class: "actions" }, cancel, retry),
    el("div", { class: "bar", role: "progressbar", "aria-label": `${job.kind} progress`, "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": pct },
      el("span", { style: `width:${pct}%` })),
    err ? el("p", { class: "err" }, err) : null);
}

/** Live jobs: one list, updated by server-sent events of the jobs that are not final. */
class JobBoard {
  constructor(list, { status = "", ids = null, onChange = null, maxStreams = 4 } = {}) {
    this.list = list;
    this.status = status;
    this.ids = ids; // only these jobs (the new-work form), or all
    this.jobs = new Map();
    this.kinds = new Map();
    this.streams = new Map();
    this.onChange = onChange;
    this.maxStreams = maxStreams; // browsers allow ~6 HTTP/1.1 connections per host
    this.cursor = null;
    list.addEventListener("click", (ev) => this.action(ev));
    this.ticker = setInterval(() => this.tick(), 1000);
  }

  async load(more = false) {
    let jobs;
    if (this.ids) {
      jobs = await Promise.all(this.ids.map((id) => api(`/v1/jobs/${id}`).catch(() => null)));
      jobs = jobs.filter(Boolean);
    } else {
      const q = new URLSearchParams({ limit: "100" });
      if (this.status) q.set("status", this.status);
      if (more && this.cursor) q.set("cursor", this.cursor);
      const body = await api(`/v1/jobs?${q}`);
      jobs = listOf(body, "jobs");
      this.cursor = body.cursor ?? body.next_cursor ?? null;
      if (!more) this.jobs.clear();
    }
    for (const j of jobs) this.put(j, false);
    this.render();
    this.follow();
  }

  put(job, render = true) {
    if (!job || !job.id) return;
    const old = this.jobs.get(job.id) || {};
    const merged = { ...old, ...job };
    this.jobs.set(job.id, merged);
    this.kinds.set(job.id, merged.kind);
    if (render) this.renderOne(merged);
  }

  sorted() {
    const all = [...this.jobs.values()];
    if (this.ids) return this.ids.map((id) => this.jobs.get(id)).filter(Boolean);
    return all.sort((a, b) => (b.created_at || "").localeCompare(a.created_at || "") || b.id.localeCompare(a.id));
  }

  render() {
    const jobs = this.sorted().filter((j) => !this.status || j.status === this.status);
    this.list.replaceChildren(...(jobs.length ? jobs.map((j) => jobRow(j, this.kinds)) : [el("li", { class: "muted" }, "No jobs.")]));
    if (this.onChange) this.onChange(this);
  }

  renderOne(job) {
    const old = document.getElementById(`job-${job.id}`);
    if (old && old.parentNode === this.list) old.replaceWith(jobRow(job, this.kinds));
    else this.render();
    if (this.onChange) this.onChange(this);
  }

  tick() {
    for (const j of this.jobs.values()) {
      if (j.status !== "running") continue;
      const node = document.querySelector(`#job-${CSS.escape(j.id)} .elapsed`);
      const t = elapsed(j);
      if (node && t !== null) node.textContent = hms(t, true);
    }
  }

  /** Open event streams for unfinished jobs (running first), at most maxStreams. */
  follow() {
    const order = { running: 0, queued: 1, waiting: 2 };
    const open = this.sorted().filter((j) => !FINAL.has(j.status)).sort((a, b) => order[a.status] - order[b.status]);
    for (const j of open) {
      if (this.streams.size >= this.maxStreams) break;
      if (this.streams.has(j.id)) continue;
      const es = listen(`/v1/jobs/${j.id}/events`, (type, data) => this.event(j.id, type, data), () => this.ended(j.id));
      this.streams.set(j.id, es);
    }
    const live = $("#j-live");
    if (live) live.textContent = this.streams.size ? `live: following ${this.streams.size} job${this.streams.size === 1 ? "" : "s"}` : "";
  }

  event(id, type, data) {
    if (data && typeof data === "object") {
      const job = data.job && typeof data.job === "object" ? data.job : data;
      this.put({ ...job, id: job.id || id });
      if (FINAL.has(this.jobs.get(id)?.status)) this.ended(id);
    }
  }

  async ended(id) {
    const es = this.streams.get(id);
    if (!es) return;
    es.close();
    this.streams.delete(id);
    // one read of the list when a job ends: its dependents may have been queued
    try { await this.load(); } catch (e) { flash(e.message, true); }
  }

  async action(ev) {
    const b = ev.target.closest("button[data-action]");
    if (!b) return;
    const id = b.closest(".job").dataset.id;
    b.disabled = true;
    try {
      const job = await api(`/v1/jobs/${id}/${b.dataset.action}`, { method: "POST" });
      if (job && job.id) this.put(job);
      await this.load();
    } catch (e) {
      flash(e.message, true);
      b.disabled = false;
    }
  }
}

/** Counts per status: those of the jobs loaded when every job is loaded (exact, and at
 * once on a live change), else the server's (every job, GET /v1/queue). */
function showCounts(board, server = null) {
  let counts = board.cursor ? server : null;
  if (!counts) {
    counts = Object.fromEntries(STATUSES.map((s) => [s, 0]));
    for (const j of board.jobs.values()) counts[j.status] = (counts[j.status] || 0) + 1;
  }
  $("#counts").replaceChildren(...STATUSES.map((s) => el("li", { dataset: { status: s } },
    el("span", { class: "n" }, String(counts[s] || 0)), el("span", { class: `s badge ${s}` }, s))));
}

/** The queue's state (paused or not, counts from the server) and the pause button. */
function queueControls(board) {
  const btn = $("#q-pause"), note = $("#q-state");
  let paused = false, timer = 0, known = false;
  const show = (q) => {
    known = true;
    paused = q.paused;
    btn.hidden = false;
    btn.textContent = paused ? "Resume queue" : "Pause queue";
    btn.classList.toggle("primary", paused);
    note.textContent = paused
      ? `Paused since ${when(q.paused_since)}: workers take no new jobs (running ones go on).`
      : "";
    note.classList.toggle("paused", paused);
    if (board) showCounts(board, q.counts);
  };
  const refresh = async () => {
    try { show(await api("/v1/queue")); } catch (_) { if (!known && board) showCounts(board); }
  };
  btn.addEventListener("click", async () => {
    btn.disabled = true;
    try { show(await api(`/v1/queue/${paused ? "resume" : "pause"}`, { method: "POST" })); }
    catch (e) { flash(e.message, true); }
    btn.disabled = false;
  });
  // live jobs change the counts: ask again, at most once a second
  const soon = () => {
    if (board && !board.cursor) showCounts(board);
    if (!timer) timer = setTimeout(() => { timer = 0; refresh(); }, 1000);
  };
  setInterval(refresh, 10000);
  refresh();
  return soon;
}

/** Group states of GET /v1/queue/groups, in the order the counts show them. */
const GROUP_STATES = ["running", "queued", "failed", "succeeded"];

/** A time of day (today) or a date and time, for created/finished. */
function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" })
    : d.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

/** One group (an input and its chain of steps): file name, state, the steps as a compact
 * strip, created/finished, the error in one line; expands to each step. */
function groupRow(g, open) {
  const strip = el("ol", { class: "strip", "aria-label": `Steps of ${g.name}` }, ...g.jobs.map((j) => {
    const pct = Math.round(Math.max(0, Math.min(1, j.progress || 0)) * 100);
    const shown = j.blocked ? "not run" : j.status;
    return el("li", { class: `stp ${j.blocked ? "blocked" : j.status}`, title: `${j.kind}: ${shown}${j.error ? ` (${j.error})` : ""}`, dataset: { kind: j.kind, status: j.status } },
      el("span", { class: "k" }, j.kind),
      el("span", { class: "sr" }, ` ${shown}`),
      j.status === "running" ? el("span", { class: "pct" }, ` ${pct}%`) : null,
      el("span", { class: "fill", style: `width:${j.status === "succeeded" ? 100 : pct}%`, "aria-hidden": "true" }));
  }));
  const times = [`created ${when(g.created_at)}`, g.finished_at ? `finished ${when(g.finished_at)}` : null].filter(Boolean).join(" · ");
  const toggle = el("button", { type: "button", class: "more", "aria-expanded": open ? "true" : "false", "aria-label": `Steps of ${g.name}` }, open ? "Hide steps" : "Steps");
  const details = el("ol", { class: "steps-detail", hidden: !open }, ...g.jobs.map((j) => {
    const t = j.started_at ? ((j.finished_at ? Date.parse(j.finished_at) : Date.now()) - Date.parse(j.started_at)) / 1000 : null;
    return el("li", { dataset: { id: j.id, status: j.status } },
      el("span", { class: "kind" }, j.kind), " ",
      el("span", { class: `badge ${j.blocked ? "canceled" : j.status}` }, j.blocked ? "not run: an earlier step failed" : j.status),
      j.step && j.status === "running" ? el("span", { class: "muted" }, ` ${j.step}`) : null,
      t !== null ? el("span", { class: "muted mono" }, ` ${hms(t, true)}`) : null,
      j.attempts > 1 ? el("span", { class: "muted" }, ` · ${j.attempts} attempts`) : null,
      j.error ? el("p", { class: "err" }, j.error) : null);
  }));
  toggle.addEventListener("click", () => {
    const on = details.hidden;
    details.hidden = !on;
    toggle.setAttribute("aria-expanded", on ? "true" : "false");
    toggle.textContent = on ? "Hide steps" : "Steps";
  });
  const name = g.media_id ? el("a", { href: itemUrl(g.media_id) }, g.name) : g.name;
  return el("li", { class: `group ${g.state}`, dataset: { key: g.key, state: g.state } },
    el("div", { class: "g-head" },
      el("span", { class: "g-name" }, name),
      el("span", { class: `badge ${g.state}` }, g.state),
      strip,
      el("span", { class: "g-times muted" }, times),
      toggle),
    g.error ? el("p", { class: "err" }, g.error) : null,
    details);
}

/** The jobs page by input: one row per source or upload (GET /v1/queue/groups), asked
 * again every two seconds; counts per state from the server; bulk actions. */
async function groupsPage() {
  const list = $("#groups"), sel = $("#j-status"), more = $("#j-more");
  list.hidden = false;
  $("#jobs").hidden = true;
  $("#v-groups").setAttribute("aria-current", "page");
  sel.replaceChildren(el("option", { value: "" }, "all"), ...GROUP_STATES.map((s) => el("option", { value: s }, s)));
  sel.value = new URLSearchParams(location.search).get("state") || "";
  $("#counts").setAttribute("aria-label", "Inputs per state (all inputs)");
  $("#counts").classList.add("four");
  let limit = 50, busy = false;
  const open = new Set();
  const load = async () => {
    if (busy) return;
    busy = true;
    try {
      const q = new URLSearchParams({ limit: String(limit) });
      if (sel.value) q.set("state", sel.value);
      const body = await api(`/v1/queue/groups?${q}`);
      for (const li of $$(".group", list)) {
        if ($(".more", li).getAttribute("aria-expanded") === "true") open.add(li.dataset.key);
        else open.delete(li.dataset.key);
      }
      const groups = body.groups || [];
      list.replaceChildren(...(groups.length ? groups.map((g) => groupRow(g, open.has(g.key)))
        : [el("li", { class: "muted" }, sel.value ? `No ${sel.value} inputs.` : "No jobs yet: add work on the New page.")]));
      $("#counts").replaceChildren(...GROUP_STATES.map((s) => el("li", { dataset: { state: s } },
        el("span", { class: "n" }, String(body.counts[s] || 0)), el("span", { class: `s badge ${s}` }, s))));
      more.hidden = body.total <= groups.length;
      $("#g-retry").hidden = !(body.counts.failed > 0);
      $("#g-clear").hidden = !(body.counts.succeeded + body.counts.failed > 0);
      $("#j-live").textContent = `${body.total} input${body.total === 1 ? "" : "s"} · updated ${when(new Date().toISOString())}`;
      list.dataset.loaded = q.toString();
    } catch (e) { flash(e.message, true); }
    busy = false;
  };
  sel.addEventListener("change", () => {
    history.replaceState(null, "", sel.value ? `?state=${sel.value}` : location.pathname);
    load();
  });
  more.textContent = "More inputs";
  more.addEventListener("click", () => { limit += 50; load(); });
  $("#g-retry").addEventListener("click", async () => {
    try {
      const out = await api("/v1/queue/retry-failed", { method: "POST" });
      flash(`${out.retried.length} failed step${out.retried.length === 1 ? "" : "s"} queued again; the steps after them wait.`);
    } catch (e) { flash(e.message, true); }
    load();
  });
  $("#g-clear").addEventListener("click", async () => {
    try { await api("/v1/queue/clear-finished", { method: "POST" }); flash("Finished inputs cleared from the list (nothing deleted)."); }
    catch (e) { flash(e.message, true); }
    load();
  });
  queueControls(null);
  await load();
  setInterval(() => { if (!document.hidden) load(); }, 2000);
}

async function jobsPage() {
  if (new URLSearchParams(location.search).get("view") !== "steps") return groupsPage();
  $("#v-steps").setAttribute("aria-current", "page");
  const sel = $("#j-status");
  let changed = () => {};
  const board = new JobBoard($("#jobs"), { onChange: () => changed() });
  changed = queueControls(board);
  sel.value = new URLSearchParams(location.search).get("status") || "";
  board.status = sel.value;
  sel.addEventListener("change", () => {
    board.status = sel.value;
    history.replaceState(null, "", sel.value ? `?status=${sel.value}` : location.pathname);
    board.render();
  });
  $("#j-more").addEventListener("click", () => board.load(true).catch((e) => flash(e.message, true)));
  try {
    await board.load();
    $("#j-more").hidden = !board.cursor;
  } catch (e) { flash(e.message, true); }
}

/* ------------------------------------------------------------------ new work */

/** Upload one file to /v1/files; its id goes into job inputs. */
async function upload(file) {
  const fd = new FormData();
  fd.append("file", file, file.name);
  return api("/v1/files", { method: "POST", body: fd });
}

/** Steps that take the job before them as their input (the stages' "dep:" inputs);
 * the others are given the file itself. */
const TAKES_PREVIOUS = { transcribe: ["audio"], summarize: ["transcribe"], chapters: ["transcribe"], describe: ["transcribe"] };

/** One chain of jobs for one input, steps in pipeline order, each depending on the one
 * before (as vidpipe submit makes them). The first job gets the input (a file id or a
 * URL: the service makes a download job for a URL, and the first job's input then reads
 * "job:<download id>"); the next ones get the file it resolved to (depending on that
 * download too), or only the job before them when they take its output. */
async function chain(input, steps) {
  const made = [];
  let prev = null, path = input.path;
  for (const kind of steps) {
    const body = { kind, params: {} };
    if (prev) body.depends_on = [prev.id];
    const usesPrevious = prev && (TAKES_PREVIOUS[kind] || []).includes(prev.kind);
    if (!usesPrevious) body.input = prev ? { path } : input;
    if (prev && !usesPrevious && path && path.startsWith("job:")) body.depends_on.push(path.slice(4));
    const job = await api("/v1/jobs", { json: body });
    if (!prev && job.input && job.input.path) path = job.input.path;
    made.push(job);
    prev = job;
  }
  return made;
}

/** Whether a line of the links box is a web link (http or https with a host). */
function isLink(text) {
  try {
    const u = new URL(text);
    return (u.protocol === "http:" || u.protocol === "https:") && Boolean(u.hostname);
  } catch (_) { return false; }
}

/** Files dropped on the form join those chosen (a DataTransfer keeps the input's list);
 * the chosen files are listed with their sizes. */
function dropFiles(form, input, list) {
  const show = () => list.replaceChildren(...Array.from(input.files || []).map((f) =>
    el("li", {}, f.name, el("span", { class: "muted" }, ` ${(f.size / 1e6).toFixed(1)} MB`))));
  const zone = $("#w-drop");
  const over = (ev) => {
    if (!ev.dataTransfer || !Array.from(ev.dataTransfer.types || []).includes("Files")) return;
    ev.preventDefault();
    zone.classList.add("over");
  };
  form.addEventListener("dragenter", over);
  form.addEventListener("dragover", over);
  form.addEventListener("dragleave", (ev) => { if (!form.contains(ev.relatedTarget)) zone.classList.remove("over"); });
  form.addEventListener("drop", (ev) => {
    if (!ev.dataTransfer || !ev.dataTransfer.files.length) return;
    ev.preventDefault();
    zone.classList.remove("over");
    const dt = new DataTransfer();
    const seen = new Set();
    for (const f of [...Array.from(input.files || []), ...Array.from(ev.dataTransfer.files)]) {
      const k = `${f.name}:${f.size}`;
      if (!seen.has(k)) { seen.add(k); dt.items.add(f); }
    }
    input.files = dt.files;
    show();
  });
  input.addEventListener("change", show);
}

function newPage() {
  const form = $("#work-form");
  const made = $("#w-made");
  let board = null;
  dropFiles(form, form.elements.files, $("#w-chosen"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const steps = $$("input[name=steps]:checked", form).map((c) => c.value);
    const urls = form.elements.urls.value.split(/\r?\n/).map((s) => s.trim()).filter(Boolean);
    const files = Array.from(form.elements.files.files || []);
    const status = $("#w-status");
    if (!steps.length) { status.textContent = "Choose at least one step."; return; }
    if (!urls.length && !files.length) { status.textContent = "Choose files or paste links, one per line."; return; }
    $("#w-submit").disabled = true;
    const ids = board ? [...board.ids] : [];
    let failed = 0;
    for (const f of files) {
      status.textContent = `uploading ${f.name}…`;
      try {
        const up = await upload(f);
        const jobs = await chain({ path: up.id }, steps);
        ids.push(...jobs.map((j) => j.id));
      } catch (e) { failed++; made.append(el("li", { class: "error" }, `${f.name}: ${e.message}`)); }
    }
    for (const u of urls) {
      if (!isLink(u)) {
        failed++;
        made.append(el("li", { class: "error" }, `${u}: not a link (a link starts with http:// or https://; to add files, choose them above)`));
        continue;
      }
      try {
        const jobs = await chain({ path: u }, steps);
        ids.push(...jobs.map((j) => j.id));
      } catch (e) { failed++; made.append(el("li", { class: "error" }, `${u}: ${e.message}`)); }
    }
    status.textContent = `${ids.length} job${ids.length === 1 ? "" : "s"} started${failed ? `, ${failed} input${failed === 1 ? "" : "s"} refused` : ""}. They are also on the Jobs page.`;
    $("#w-submit").disabled = false;
    if (!board) {
      const list = el("ol", { class: "jobs", id: "w-jobs", "aria-label": "Jobs started here" });
      form.after(list);
      board = new JobBoard(list, { ids });
    }
    board.ids = ids;
    await board.load();
  });

  const nform = $("#narrate-form");
  nform.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const status = $("#n-status");
    const text = nform.elements.text.value.trim();
    const doc = nform.elements.doc.files[0];
    if (!text && !doc) { status.textContent = "Paste a text or choose a document."; return; }
    const [width, height] = nform.elements.size.value.split("x").map(Number);
    $("#n-submit").disabled = true;
    try {
      let input = { text };
      if (!text) {
        status.textContent = `uploading ${doc.name}…`;
        input = { path: (await upload(doc)).id };
      }
      const voice = nform.elements.voice.value || null;
      const speak = await api("/v1/jobs", { json: { kind: "speak", params: voice ? { voice } : {}, input } });
      const images = await api("/v1/jobs", { json: { kind: "images", params: { generator: nform.elements.images.value, width, height }, depends_on: [speak.id] } });
      const render = await api("/v1/jobs", { json: { kind: "render", params: { width, height }, depends_on: [speak.id, images.id] } });
      status.textContent = "Rendering: speech, then pictures, then the video.";
      const list = el("ol", { class: "jobs" });
      $("#n-progress").replaceChildren(list);
      const board = new JobBoard(list, {
        ids: [speak.id, images.id, render.id],
        onChange: (b) => {
          const r = b.jobs.get(render.id);
          if (r && r.status === "succeeded" && !$("#n-result video")) {
            const art = (r.artifacts || []).map((a) => (typeof a === "string" ? { name: a.split("/").pop() } : a))
              .find((a) => /\.(mp4|m4v|mov)$/i.test(a.name || "")) || { name: "video.mp4" };
            const name = art.name.split("/").pop();
            const src = art.url || `/v1/jobs/${render.id}/artifacts/${encodeURIComponent(art.name)}`;
            $("#n-result").replaceChildren(el("video", { controls: true, src, "aria-label": "The rendered video" }),
              el("p", {}, el("a", { href: src, download: name }, `Download ${name}`)));
            status.textContent = "Done.";
          } else if (r && r.status === "failed") {
            status.textContent = `The render failed: ${jobError(r) || "see the Jobs page"}`;
          }
        },
      });
      await board.load();
    } catch (e) {
      status.textContent = e.message;
    } finally {
      $("#n-submit").disabled = false;
    }
  });
}

/* ------------------------------------------------------------------ start */

/** The latest topics (GET /v1/topics): name, keywords, items; each item links to the
 * moment it first says a keyword. */
async function topicsPage() {
  const list = $("#topics");
  let body;
  try { body = await api("/v1/topics"); } catch (e) { list.replaceChildren(el("li", { class: "error" }, e.message)); return; }
  const topics = listOf(body, "topics");
  $("#t-count").textContent = topics.length ? `${topics.length} topic${topics.length === 1 ? "" : "s"}` : "";
  if (!topics.length) {
    list.replaceChildren(el("li", { class: "muted" }, "No topics yet. They are found across the library by ",
      el("code", {}, "vidpipe topics"), " once several items have transcripts."));
    return;
  }
  list.replaceChildren(...topics.map((t) => el("li", { class: "topic", dataset: { id: t.id } },
    el("h3", {}, t.name, el("span", { class: "muted" }, ` · ${t.items.length} item${t.items.length === 1 ? "" : "s"}`)),
    t.keywords.length ? el("p", { class: "kw" }, ...t.keywords.map((k) => el("span", { class: "badge" }, k))) : null,
    el("ul", { class: "topic-items" }, ...t.items.map((it) => el("li", {},
      el("a", { href: itemUrl(it.media_id) }, it.name),
      it.moment ? [" · ", el("a", { class: "moment", href: `${itemUrl(it.media_id, it.moment.start)}&q=${encodeURIComponent(it.moment.keyword)}` },
        `“${it.moment.keyword}” at ${hms(it.moment.start, true)}`)] : null))))));
}

const PAGES = { library: libraryPage, item: itemPage, search: searchPage, jobs: jobsPage, new: newPage, topics: topicsPage };
document.addEventListener("DOMContentLoaded", () => {
  const page = PAGES[document.body.dataset.page];
  if (page) Promise.resolve(page()).catch((e) => flash(e.message, true));
});

// Chromium keeps the text of form controls (a text box's value, a button's label: the
// transcript's words are buttons) shaped in the fonts it had when they were first drawn:
// once a web font arrives (the bundled CJK font, fetched for a page with Chinese), the
// page is laid out again in another font and back, so "协会" is not left as empty boxes.
// The font takes a moment to be used after it loaded: a few tries over 2 s, then
// body[data-fonts=settled].
if (document.fonts && document.fonts.addEventListener) {
  const nudge = () => {
    document.body.style.fontFamily = "serif";
    void document.body.offsetWidth;
    document.body.style.fontFamily = "";
  };
  let timers = [];
  document.fonts.addEventListener("loadingdone", () => {
    timers.forEach(clearTimeout);
    delete document.body.dataset.fonts;
    timers = [50, 300, 1000, 2000].map((ms) => setTimeout(nudge, ms));
    timers.push(setTimeout(() => { document.body.dataset.fonts = "settled"; }, 2050));
  });
}
