// MACHETE's dashboard: one hand-written ES module, no build step. Every page works without
// it (plain forms, server-rendered tables); this adds live data (Server-Sent Events, never
// polling), relative times, a live log with a bounded window, and an upload progress bar.

const LOG_WINDOW = 2000;        // lines a live log keeps in the page
const LOG_HARD_CAP = 2 * LOG_WINDOW;

// -- <relative-time datetime="UNIX seconds">: "3 min ago", the absolute time as its title --
const units = [[86400, "d"], [3600, "h"], [60, "min"], [1, "s"]];
function ago(seconds) {
  if (seconds < 5) return "just now";
  for (const [size, name] of units) {
    if (seconds >= size) return `${Math.floor(seconds / size)} ${name} ago`;
  }
  return "just now";
}
class RelativeTime extends HTMLElement {
  connectedCallback() {
    if (!this.title) this.title = this.textContent.trim();
    this.update();
    this.timer = setInterval(() => this.update(), 30000);
  }
  disconnectedCallback() { clearInterval(this.timer); }
  update() {
    const at = Number(this.getAttribute("datetime"));
    if (at) this.textContent = ago(Date.now() / 1000 - at);
  }
}
customElements.define("relative-time", RelativeTime);

// -- one EventSource per URL, shared by the components of a page ---------------------------
const sources = new Map();
function stream(url) {
  if (!sources.has(url)) sources.set(url, new EventSource(url));
  return sources.get(url);
}

// -- <live-region src events>: reloads its fragment when an event says something changed --
class LiveRegion extends HTMLElement {
  connectedCallback() {
    this.setAttribute("aria-live", "polite");
    const events = stream(this.getAttribute("events"));
    events.addEventListener("event", () => this.soon());
    // Back from the background: catch up at once (the stream resumed by itself).
    document.addEventListener("visibilitychange", () => { if (!document.hidden) this.soon(); });
  }
  soon() {
    clearTimeout(this.pending);
    this.pending = setTimeout(() => this.refresh(), 250);
  }
  async refresh() {
    if (document.hidden) return;
    const response = await fetch(this.getAttribute("src"), {credentials: "same-origin"});
    if (!response.ok) return;
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    this.replaceChildren(...doc.body.childNodes);
    decorate(this);
    applyFilters();
  }
}
customElements.define("live-region", LiveRegion);

// -- <live-events src after>: new events on top of the table -------------------------------
class LiveEvents extends HTMLElement {
  connectedCallback() {
    const url = new URL(this.getAttribute("src"), location.href);
    url.searchParams.set("after", this.getAttribute("after") || "0");
    const body = this.querySelector("tbody");
    stream(url.pathname + url.search).addEventListener("event", (e) => {
      const ev = JSON.parse(e.data);
      const row = document.createElement("tr");
      const when = document.createElement("relative-time");
      when.setAttribute("datetime", ev.at);
      when.textContent = new Date(ev.at * 1000).toISOString();
      const cells = [when, ev.kind, ev.tool || "", `${ev.actor.kind}:${ev.actor.name}`,
        Object.entries(ev.data || {}).map(([k, v]) => `${k}=${v}`).join(" ")];
      for (const value of cells) {
        const td = document.createElement("td");
        td.append(value);
        row.append(td);
      }
      body.prepend(row);
      while (body.rows.length > 500) body.deleteRow(-1);
    });
  }
}
customElements.define("live-events", LiveEvents);

// -- <live-log src after first earlier label live>: follows a log, keeps a window ----------
class LiveLog extends HTMLElement {
  connectedCallback() {
    this.log = this.querySelector(".log");
    if (!this.log) {
      this.log = document.createElement("div");
      this.log.className = "log";
      this.log.setAttribute("role", "log");
      this.log.setAttribute("aria-label", this.getAttribute("label") || "Log");
      this.log.tabIndex = 0;
      this.append(this.log);
    }
    this.first = Number(this.getAttribute("first") || 0);
    // What came with the page and what arrived since (the browser tests read both).
    this.dataset.initial = String(this.log.querySelectorAll(".line").length);
    this.received = 0;
    this.paused = false;
    this.held = [];
    this.addControls();
    this.trim();
    const url = new URL(this.getAttribute("src"), location.href);
    if (this.hasAttribute("after")) url.searchParams.set("after", this.getAttribute("after"));
    if (this.hasAttribute("live") || !this.hasAttribute("after")) this.follow(url);
    if (this.hasAttribute("live")) this.log.focus();
  }
  addControls() {
    const bar = document.createElement("div");
    bar.className = "log-controls";
    this.pause = button("Pause", () => this.toggle());
    const search = document.createElement("input");
    search.type = "search";
    search.placeholder = "Filter lines";
    search.setAttribute("aria-label", "Filter the log's lines");
    search.addEventListener("input", () => { this.filter = search.value; this.applyFilter(); });
    bar.append(this.pause, search);
    if (this.hasAttribute("earlier")) {
      this.more = button("Load earlier lines", () => this.loadEarlier());
      this.more.hidden = this.first <= 0;
      bar.append(this.more);
    }
    this.prepend(bar);
  }
  follow(url) {
    this.source = new EventSource(url.pathname + url.search);
    this.source.addEventListener("lines", (e) => {
      const batch = JSON.parse(e.data);
      this.received += batch.lines.length;
      this.dataset.received = String(this.received);
      this.receive(batch.lines, batch.ends || []);
    });
    this.source.addEventListener("state", (e) => announce("machete:state", JSON.parse(e.data)));
    this.source.addEventListener("end", (e) => {
      this.source.close();
      this.dataset.ended = "true";
      announce("machete:end", JSON.parse(e.data));
    });
  }
  receive(lines, ends) {
    if (this.paused) {
      lines.forEach((text, i) => this.held.push([text, ends[i]]));
      if (this.held.length > LOG_WINDOW) {
        const dropped = this.held.splice(0, this.held.length - LOG_WINDOW);
        this.gap = true;
        this.gapEnd = dropped[dropped.length - 1][1];
      }
      return;
    }
    const stick = this.log.scrollTop + this.log.clientHeight >= this.log.scrollHeight - 4;
    if (lines.length > LOG_WINDOW) {
      // More than the window in one batch: only its end is ever shown.
      const skip = lines.length - LOG_WINDOW;
      if (ends[skip - 1] !== undefined) this.dropAll(Number(ends[skip - 1]));
      lines = lines.slice(skip);
      ends = ends.slice(skip);
    }
    const frag = document.createDocumentFragment();
    lines.forEach((text, i) => {
      const div = this.line(text);
      if (ends[i] !== undefined) div.dataset.end = ends[i];
      frag.append(div);
    });
    this.log.append(frag);
    this.trim();
    if (stick) this.log.scrollTop = this.log.scrollHeight;
  }
  line(text) {
    const div = document.createElement("div");
    div.className = "line";
    div.textContent = text;
    if (this.filter && !text.includes(this.filter)) div.hidden = true;
    return div;
  }
  trim() {
    const limit = this.browsing ? LOG_HARD_CAP : LOG_WINDOW;
    const lines = this.log.querySelectorAll(".line");
    const excess = lines.length - limit;
    if (excess <= 0) return;
    for (let i = 0; i < excess; i++) lines[i].remove();
    const last = lines[excess - 1].dataset.end;
    if (last !== undefined) this.first = Number(last);
    if (this.more) this.more.hidden = false;
  }
  dropAll(first) {
    // Everything shown is older than what comes next: the window starts after ``first``.
    for (const div of this.log.querySelectorAll(".line")) div.remove();
    this.first = first;
    if (this.more) this.more.hidden = false;
  }
  toggle() {
    this.paused = !this.paused;
    this.pause.textContent = this.paused ? "Resume" : "Pause";
    if (!this.paused && this.gap) {
      // More came while paused than the window holds: start the window after the gap
      // (the skipped lines stay one "Load earlier lines" away where the log has offsets).
      if (this.gapEnd !== undefined) this.dropAll(Number(this.gapEnd));
      this.gap = false;
    }
    if (!this.paused && this.held.length) {
      const held = this.held;
      this.held = [];
      this.receive(held.map((h) => h[0]), held.map((h) => h[1]));
    }
  }
  async loadEarlier() {
    this.browsing = true;
    const url = new URL(this.getAttribute("earlier"), location.href);
    url.searchParams.set("before", String(this.first));
    url.searchParams.set("count", "500");
    const response = await fetch(url, {credentials: "same-origin"});
    if (!response.ok) return;
    const {lines, start} = await response.json();
    const frag = document.createDocumentFragment();
    for (const {text, end} of lines) {
      const div = this.line(text);
      div.dataset.end = end;
      frag.append(div);
    }
    this.log.querySelector(".log-more")?.remove();
    this.log.prepend(frag);
    this.first = start;
    this.more.hidden = this.first <= 0;
    // Keep the window bounded from the other end while reading history.
    while (this.log.querySelectorAll(".line").length > LOG_HARD_CAP) this.log.lastChild.remove();
  }
  applyFilter() {
    for (const div of this.log.querySelectorAll(".line")) {
      div.hidden = Boolean(this.filter) && !div.textContent.includes(this.filter);
    }
  }
  disconnectedCallback() { this.source?.close(); }
}
customElements.define("live-log", LiveLog);

// -- <operation-state>: steps, status and the failure's reason as they change --------------
class OperationState extends HTMLElement {
  connectedCallback() {
    document.addEventListener("machete:state", (e) => this.show(e.detail));
    document.addEventListener("machete:end", (e) => this.finish(e.detail));
  }
  show(state) {
    const badge = document.getElementById("op-status");
    badge.textContent = state.status;
    badge.className = `badge status-${state.status}`;
    const list = document.getElementById("steps");
    list.replaceChildren(...state.steps.map((s) => {
      const li = document.createElement("li");
      li.className = `step step-${s.status}`;
      li.append(span("step-name", s.name), " ", span("step-status", s.status));
      if (s.seconds !== null) li.append(" ", span("step-time", `${s.seconds.toFixed(1)} s`));
      if (s.detail && s.status !== "done") li.append(" ", span("step-detail", s.detail));
      return li;
    }));
    if (state.done) document.getElementById("cancel-form")?.remove();
  }
  async finish(state) {
    this.show(state);
    if (state.status !== "failed") return;
    // The failure's section is drawn by the server (the release's last lines): take it.
    const response = await fetch(location.href, {credentials: "same-origin"});
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = doc.getElementById("failure");
    if (fresh) document.getElementById("failure").replaceWith(fresh);
  }
}
customElements.define("operation-state", OperationState);

// -- helpers and page-wide enhancements -----------------------------------------------------
function button(text, onclick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  b.addEventListener("click", onclick);
  return b;
}
function span(cls, text) {
  const s = document.createElement("span");
  s.className = cls;
  s.textContent = text;
  return s;
}
function announce(name, detail) { document.dispatchEvent(new CustomEvent(name, {detail})); }

// A tool's colour from its manifest, set through the CSSOM (the policy forbids inline styles).
function decorate(root) {
  for (const el of root.querySelectorAll("[data-color]")) {
    const color = el.dataset.color;
    if (/^#[0-9a-fA-F]{3,8}$/.test(color)) el.style.setProperty("--tool-color", color);
  }
}

// Search by name as one types (the form still filters on the server without a script).
function applyFilters() {
  for (const input of document.querySelectorAll("input[data-filter]")) {
    const q = input.value.trim().toLowerCase();
    const region = document.querySelector(input.dataset.filter);
    for (const card of region?.querySelectorAll("[data-name]") || []) {
      card.hidden = Boolean(q) && !card.dataset.name.includes(q);
    }
  }
}
for (const input of document.querySelectorAll("input[data-filter]")) {
  input.addEventListener("input", applyFilters);
}

// An upload shows its progress; the answer (the operation's page, or the form with its
// errors) replaces the page as a plain submit would.
for (const form of document.querySelectorAll("form[data-upload-progress]")) {
  form.addEventListener("submit", (event) => {
    const file = form.querySelector("input[type=file]");
    if (!file?.files?.length) return;
    event.preventDefault();
    const bar = document.getElementById(form.dataset.uploadProgress);
    bar.hidden = false;
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) bar.value = Math.round((100 * e.loaded) / e.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status < 300 && xhr.responseURL) { location.assign(xhr.responseURL); return; }
      const doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
      document.querySelector("main").replaceWith(doc.querySelector("main"));
    });
    xhr.send(new FormData(form));
  });
}

decorate(document);
