// engage host: the page side of the runtime. It gathers the engine's inputs (page views, SPA
// navigation, time, scroll, exit intent, activity, attributes, availability, clicks), keeps
// storage, fetches, renders and reports. Every decision is the wasm engine's, reached through
// `engine(op, a, b)` (see runtime-wasm/src/api.rs): this file holds no targeting rule.
//
// Storage keys (prefix `engage:`): `vid` the visitor id; `<site>:visit` the engine's stored
// visit; `<site>:bundle` `<etag>\n<bundle JSON>` (only where there is no Cache API: there the
// bundle is in the `engage` cache under its URL); `<site>:avail` `<ms>\n<availability JSON>`;
// `<site>:events` unsent events (JSON array); `debug` `1` while the debug panel is on.
// Anything unreadable is removed and rebuilt, never fatal.
//
// Time on page counts in hidden tabs too (wall clock, as the engine defines it); what waits for
// the visitor is the display: a wake-up that fires while the tab is hidden is decided when the
// tab is visible again, so the impression happens in front of the visitor.

import { Ui, debugPanel } from "./ui.js";

const OPEN = 0, BUNDLE = 1, APPLY = 2, PEEK = 3, STATE = 4, INFO = 5, AVAIL = 6, MERGE = 7,
  SHOWN = 8, CREATIVE = 9, PART = 10;

const FLUSH_MS = 5e3; // event requests are at least this far apart
const FIRST_FLUSH_MS = 1e3; // wait for the first events of a page before sending
const MAX_BACKOFF_MS = 3e5;
const AVAIL_WAIT_MS = 2500; // the first decision waits this long for availability
const AVAIL_FRESH_MS = 6e4; // a stored snapshot younger than this serves the first decision
const NAV_SETTLE_MS = 120; // routers set the title late
const ACTIVITY_MS = 1e3; // activity is reported at most this often
const MAX_TIMER_MS = 2e9;
const MAX_ATTRIBUTES_JSON = 32768;
const SLICE = 100; // a large bundle reaches the engine this many campaigns per task
const MAX_QUEUE = 500, MAX_BATCH = 100, MAX_BATCH_BYTES = 6e4; // a beacon carries ≤ 64 KiB

let rt = null; // the page's runtime
let hooked = false;

/** Starts the page's runtime; `undefined` without a valid site or when one already runs. */
export function boot(engine, opts, queue) {
  opts = opts || {};
  const site = String(opts.site || "");
  if (rt || !/^[a-z0-9_-]{1,64}$/.test(site)) return undefined;
  const r = (rt = new Runtime(engine, site, opts));
  for (const args of Array.from(queue || [])) {
    const a = Array.from(args);
    if (typeof a[0] == "string") r.run(() => r.command(a[0], a[1]));
  }
  r.run(() => r.boot());
  return r.handle;
}

/** The running runtime's handle, or `undefined`. */
/** A JSON-like value flattened for the wasm (`runtime-wasm/src/json.rs` reads it back in one
 * pass): every string and key concatenated, and one number array of tags (0 null, 1 false,
 * 2 true, 3 number, 4 string, 5 array, 6 object), numbers and lengths. Nesting past 64 is null. */
export function tape(v) {
  const n = [], s = [];
  const text = (x) => n.push(x.length) && s.push(x);
  const walk = (v, d) => {
    const t = typeof v;
    if (t == "boolean") n.push(v ? 2 : 1);
    else if (t == "number") n.push(3, v);
    else if (t == "string") n.push(4) && text(v);
    else if (d > 63 || !v || t != "object") n.push(0);
    else if (Array.isArray(v)) {
      n.push(5, v.length);
      for (const x of v) walk(x, d + 1);
    } else {
      const k = Object.keys(v);
      n.push(6, k.length);
      for (const x of k) text(x), walk(v[x], d + 1);
    }
  };
  walk(v, 0);
  return [s.join(""), new Float64Array(n)];
}

export function current() {
  return rt ? rt.handle : undefined;
}

/** A User Timing mark (`engage:<what>`): start-up steps show in the browser's performance
 * tools and in `cargo xtask bench-browser`. */
const mark = (what) => {
  try {
    performance.mark("engage:" + what);
  } catch (e) {}
};
const str = (v) => (typeof v == "string" ? v : null);
const nonEmpty = (s) => ((s = String(s || "").trim()) ? Array.from(s).slice(0, 2000).join("") : null);
const isHttp = (u) => /^\s*https?:\/\//i.test(u);
const parse = (t) => {
  try {
    return JSON.parse(t);
  } catch (e) {
    return null;
  }
};
const isObj = (v) => !!v && typeof v == "object" && !Array.isArray(v);
const each = (a, f) => (Array.isArray(a) ? a.map((x) => (isObj(x) ? f(x) : x)) : a);
/** Tasks of their own, soon (see `Runtime.soon`). */
const ch = new MessageChannel(), later = [];
ch.port1.onmessage = () => later.shift()();
/** What the engine reads of a bundle: which creatives exist, not what they say (the renderer
 * reads them from the bundle itself). They are a third of a bundle's text. */
const skeleton = (b) => ({ ...b, campaigns: each(b.campaigns, (c) => ({ ...c, engagements: each(c.engagements, (e) => {
  const c = e.creative, o = isObj(c) ? {} : c;
  if (o != c) for (const k in c) o[k] = isObj(c[k]) ? {} : c[k];
  return { ...e, creative: o };
}) })) });

/** `localStorage` where the page may use it, memory otherwise. */
function storage(given) {
  let s = given;
  try {
    s = s || window.localStorage;
    s.getItem("engage:");
  } catch (e) {
    s = null;
  }
  const mem = new Map();
  return {
    get: (k) => {
      try {
        return s ? s.getItem(k) : mem.has(k) ? mem.get(k) : null;
      } catch (e) {
        return null;
      }
    },
    set: (k, v) => {
      try {
        s ? s.setItem(k, v) : mem.set(k, v);
        return true;
      } catch (e) {
        return false;
      }
    },
    remove: (k) => {
      try {
        s ? s.removeItem(k) : mem.delete(k);
      } catch (e) {}
    },
  };
}

/** Device class from the user agent (iPadOS reports itself as a Mac with touch). */
function device() {
  const ua = navigator.userAgent || "", has = (x) => ua.includes(x);
  if (has("iPad") || (has("Macintosh") && navigator.maxTouchPoints > 1) || has("Tablet") ||
    (has("Android") && !has("Mobile"))) return "tablet";
  return has("Mobi") || has("iPhone") || has("Android") ? "mobile" : "desktop";
}

/** How far down the page the bottom of the viewport is, 0–100. */
function scrollPercent() {
  const total = document.documentElement.scrollHeight;
  return total > 0 ? Math.max(0, Math.min(100, Math.floor(((scrollY + innerHeight) / total) * 100))) : 0;
}

/** 128 random bits as 32 hex digits (every browser that runs wasm has `crypto`). */
const randomId = () =>
  Array.from(crypto.getRandomValues(new Uint8Array(16)), (x) => (x < 16 ? "0" : "") + x.toString(16)).join("");

/** Reads `name` from the page URL and removes it with `history.replaceState`. */
function takeParam(name) {
  try {
    const u = new URL(location.href), v = u.searchParams.get(name);
    if (v == null) return null;
    u.searchParams.delete(name);
    history.replaceState(history.state, "", u.href);
    return v;
  } catch (e) {
    return null;
  }
}

/** Wraps `history.pushState`/`replaceState` once per page so SPA navigation is seen. */
function hookHistory() {
  if (hooked) return;
  hooked = true;
  for (const name of ["pushState", "replaceState"]) {
    const orig = history[name];
    if (typeof orig != "function") continue;
    history[name] = function () {
      const r = orig.apply(this, arguments);
      if (rt) rt.run(() => rt.nav());
      return r;
    };
  }
}

class Runtime {
  constructor(engine, site, opts) {
    // In debug mode the engine's inputs are also kept, with their instants, for the debug panel's
    // "Replay in the simulator" (other visitors' storage never gets a history of their pages).
    this.E = (op, a, b) => {
      const r = engine(op, a, b);
      const i = this.debugOn && (op == APPLY ? !b.tick && b : op == AVAIL ? { availability: a } : op == MERGE && { attributes: a });
      if (i) this.note(i, op == APPLY);
      return r;
    };
    this.site = site;
    this.o = opts;
    this.server = isHttp(opts.server || "") ? String(opts.server).replace(/\/+$/, "") : "";
    this.prefix = opts.prefix || "engage:";
    this.network = opts.network !== false;
    this.flushMs = opts.flushMs || FLUSH_MS;
    this.store = storage(opts.storage);
    // The bundle (megabytes on a large site) is kept in the Cache API where the page has one:
    // written off the main thread, unlike a synchronous localStorage.setItem. With storage
    // given in the options (tests, embedders), that storage holds everything.
    this.cache = !opts.storage && self.caches ? caches.open("engage").catch(() => null) : null;
    this.q = [];
    this.timers = {};
    this.offs = [];
    this.early = { attrs: [], pages: [], goals: [] };
    this.byId = {};
    this.zoneIds = [];
    this.events = [];
    this.inFlight = 0;
    this.lastSend = 0;
    this.sendBackoff = 0;
    this.bundleBackoff = 0;
    this.pagesHere = 0;
    this.scrollSent = 0;
    this.last = null;
    this.ui = new Ui((m) => this.run(() => this.clicked(m)));
    const run = (f) => (...a) => this.run(() => f(...a));
    this.handle = {
      command: run((n, a) => this.command(String(n), a)),
      stop: () => this.stop(),
      flush: run((unloading) => (unloading ? this.flushUnload() : this.flush())),
      events: () => this.events.slice(),
      debugText: () => (this.debug ? this.debug.text() : null),
      hasPanel: () => this.ui.hasPanel(),
      outcome: () => this.last,
      input: run((i) => this.input(i)),
      info: () => this.E(INFO),
      shown: () => ((this.E(SHOWN) || {}).shown || []).map((s) => s.engagement),
      started: () => !!this.started,
      ui: this.ui,
      // The wasm module's `engine(op, a, b)` (runtime-wasm/src/api.rs), for benchmarks and
      // debugging: an APPLY made here decides without rendering or saving.
      engine: this.E,
    };
  }

  /** Runs `f` now, or right after the step in progress: nothing re-enters the runtime (an
   * `engage:*` listener calling `engage(...)` is handled after the current step). */
  run(f) {
    this.q.push(f);
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.q.length) {
        const g = this.q.shift();
        if (this.stopped) continue;
        try {
          g();
        } catch (e) {
          if (!this.warned) console.warn("engage:", (this.warned = e));
        }
      }
    } finally {
      this.busy = false;
    }
  }

  now() {
    return Date.now() + (this.o.clockOffset || 0);
  }
  key(what) {
    return this.prefix + this.site + ":" + what;
  }
  api(path) {
    return this.server + "/v1/sites/" + this.site + path;
  }
  /** One named timer: setting it again replaces it; `ms == null` clears it. */
  timer(name, ms, f, every) {
    const t = this.timers[name];
    if (t) (t.every ? clearInterval : clearTimeout)(t.id);
    delete this.timers[name];
    if (ms == null) return;
    const cb = () => this.run(() => {
      if (!every) delete this.timers[name];
      f();
    });
    this.timers[name] = { id: (every ? setInterval : setTimeout)(cb, Math.max(0, Math.min(ms, MAX_TIMER_MS))), every };
  }
  /** A capturing listener (passive unless it may need to prevent the default). */
  on(target, type, f) {
    const h = (ev) => this.run(() => f(ev));
    target.addEventListener(type, h, { capture: true, passive: type != "keydown" });
    this.offs.push(() => target.removeEventListener(type, h, true));
  }

  // ----- start-up -----

  boot() {
    if (this.booted) return;
    if (document.readyState == "loading" && !this.waitingDom) {
      // Embedded zones may not be parsed yet: start once the document is.
      this.waitingDom = true;
      this.on(document, "DOMContentLoaded", () => this.boot());
      return;
    }
    this.booted = true;
    const st = this.store, vk = this.prefix + "vid";
    let vid = st.get(vk);
    if (!/^[A-Za-z0-9_-]{8,64}$/.test(vid || "")) st.set(vk, (vid = randomId()));
    this.vid = vid;
    this.device = device();
    const profile = { id: vid, device: this.device, language: navigator.language || null };
    if (!this.E(OPEN, profile, st.get(this.key("visit")))) st.remove(this.key("visit"));

    const dk = this.prefix + "debug";
    let p = null;
    try {
      p = new URL(location.href).searchParams.get("engage_debug");
    } catch (e) {}
    if (p == "0" || p == "false") st.remove(dk), st.remove(this.key("journal"));
    else if (p != null) st.set(dk, "1");
    if (this.o.debug || st.get(dk) == "1") this.setDebug(true, false);
    const open = takeParam("engage_open");
    this.openId = open && open.length <= 64 ? open : null;
    this.listen();

    const q = parse(st.get(this.key("events")));
    this.events = (Array.isArray(q) ? q : []).filter((e) => isObj(e) && typeof e.type == "string")
      .map((e) => JSON.stringify(e)).slice(-MAX_QUEUE);
    if (this.events.length) this.scheduleFlush();

    if (this.o.bundle) {
      const b = this.o.bundle;
      this.setBundle(typeof b == "string" ? parse(b) : b, typeof b == "string" ? b : "");
    } else {
      this.loadCachedBundle();
      if (this.network) {
        this.fetchBundle();
        // First visit: ask for availability alongside the bundle, not after it.
        if (!this.bundle && !this.o.availability) this.fetchAvail();
      }
    }
    this.maybeBegin();
  }

  loadCachedBundle() {
    const k = this.key("bundle");
    if (this.cache) {
      this.store.remove(k); // an older runtime's copy
      // Whichever comes first starts the visit: this or the network's answer.
      this.cache
        .then((c) => c && c.match(this.api("/bundle")))
        .then((r) => r && r.text().then((t) => this.run(() => {
          if (!this.bundle && !this.loading) this.loadBundle(parse(t), t, () => {
            this.etag = r.headers.get("etag") || null;
            this.maybeBegin();
          });
        })))
        .catch(() => {});
      return;
    }
    const t = this.store.get(k), i = t ? t.indexOf("\n") : -1;
    const body = i >= 0 ? t.slice(i + 1) : "";
    if (i >= 0 && this.setBundle(parse(body), body)) this.etag = t.slice(0, i) || null;
    else if (t != null) this.store.remove(k);
  }

  /** Hands a parsed bundle to the engine; false when it is not a bundle of this site in the
   * format the engine reads. */
  setBundle(b, text, parts) {
    this.loading = null;
    if (!isObj(b) || b.site !== this.site) return false;
    // Flags: 1 decisions have started, 2 the campaigns are the parts handed over (`parts` is 2).
    const r = this.E(BUNDLE, parts ? { ...b, campaigns: null } : skeleton(b), this.started | parts);
    if (!r) return false;
    mark("bundle-loaded");
    this.bundle = b;
    this.bundleText = text;
    this.zoneIds = r.zones;
    this.needsLive = r.live;
    this.byId = {};
    for (const c of b.campaigns || []) for (const e of c.engagements || []) this.byId[e.id] = { c, e };
    return true;
  }

  /** `setBundle` for a fetched or cached bundle: its campaigns reach the engine `SLICE` at a
   * time, one slice per task, so a large bundle never holds the page's main thread for long
   * (issue #17); a newer load supersedes one in progress. `ok()` or `fail()` once it is in, or
   * is not. */
  loadBundle(b, text, ok, fail) {
    const me = (this.loading = {}), cs = isObj(b) && b.site === this.site && b.campaigns;
    const end = (done) => (done ? ok() : fail && fail());
    if (!Array.isArray(cs)) return end(this.setBundle(b, text));
    const sk = skeleton({ campaigns: cs }).campaigns;
    let i = 0;
    const step = () => {
      if (this.loading != me) return;
      if (!this.E(PART, sk.slice(i, (i += SLICE)), i == SLICE)) return end((this.loading = null));
      i < sk.length ? this.soon(step) : end(this.setBundle(b, text, 2));
    };
    step();
  }

  /** `f` in a task of its own, soon: a message (`setTimeout` clamps nested calls to 4 ms). */
  soon(f) {
    later.push(() => this.run(f));
    ch.port2.postMessage(0);
  }

  /** The first decision, once the bundle (and availability, where it matters) is here. */
  maybeBegin() {
    if (this.started || !this.booted || this.waitingAvail || !this.bundle) return;
    if (!this.haveAvail) {
      // An offsite link's `engage_open` accepts at once: its state must be the real one.
      const needed = this.needsLive || this.openId;
      const cached = needed && !this.o.availability && this.cachedAvail();
      if (this.o.availability) {
        this.E(AVAIL, this.o.availability);
        this.o.availability = null;
      } else if (cached) {
        this.E(AVAIL, cached);
        this.fetchAvail();
      } else if (needed && this.network) {
        this.waitingAvail = true;
        if (!this.availLoading) this.fetchAvail();
        this.timer("avail", AVAIL_WAIT_MS, () => {
          this.waitingAvail = false;
          this.haveAvail = true;
          this.maybeBegin();
        });
        return;
      }
      this.haveAvail = true;
    }
    this.begin();
  }

  begin() {
    this.started = true;
    this.o.pre = null;
    const early = this.early;
    // Pushed before the first page: part of it, not decisions of their own.
    for (const a of early.attrs) this.E(MERGE, a);
    if (!early.pages.length) this.pageView(this.readPage(nonEmpty(document.referrer)), true);
    else {
      this.sitePages = true;
      let ref = nonEmpty(document.referrer);
      for (const pv of early.pages) {
        pv.referrer = ref;
        ref = null;
        this.pageView(pv, false);
      }
    }
    if (this.openId) this.apply({ accept: this.openId });
    this.openId = null;
    for (const g of early.goals) this.apply({ goal: g });
    this.observe();
    mark("first-decision");
  }

  // ----- the site's calls -----

  command(name, arg) {
    const e = this.early;
    if (name == "page") {
      let url = location.href;
      try {
        if (str(arg && arg.url)) url = new URL(arg.url, location.href).href;
      } catch (x) {}
      const pv = { url, title: str(arg && arg.title) || nonEmpty(document.title), section: str(arg && arg.section) };
      this.explicitPage(pv);
    } else if (name == "attributes") {
      const j = JSON.stringify(arg);
      const a = j && j.length <= MAX_ATTRIBUTES_JSON ? parse(j) : null;
      if (!isObj(a)) return;
      if (this.started) this.input({ attributes: a });
      else e.attrs.push(a);
    } else if (name == "goal") {
      const n = str(arg && arg.name);
      if (!n) return;
      const g = { name: Array.from(n).slice(0, 100).join("") };
      if (typeof arg.value == "number" && isFinite(arg.value)) g.value = arg.value;
      if (this.started) this.input({ goal: g });
      else if (e.goals.length < 50) e.goals.push(g);
    } else if (name == "debug") this.setDebug(!!arg, true);
  }

  // ----- decisions -----

  input(i) {
    if (this.started) this.apply(i);
  }

  /** One engine step, then everything that follows from its outcome. */
  apply(input) {
    if (!this.bundle) return;
    if (this.debug) input.trace = true;
    const out = this.E(APPLY, this.now(), input);
    if (!out) return;
    this.last = out;
    this.store.set(this.key("visit"), this.E(STATE));
    this.render(out.shown);
    if (this.debug) this.debug.show(this.heading(), out.trace || []);
    this.report(out.events);
    this.scheduleWake(out.next_wake);
    this.refresh = out.refresh;
    this.updateLive();
  }

  render(shown) {
    const items = [];
    for (const s of shown) {
      const f = this.byId[s.engagement];
      const cr = f && s.creative && f.e.creative && f.e.creative[s.creative];
      if (cr) items.push({ campaign: f.c, engagement: f.e, zone: s.zone, state: s.state, creative: cr });
    }
    this.ui.render(items);
  }

  clicked(m) {
    if (m.accept) this.input({ accept: m.accept });
    else if (m.decline) this.input({ decline: m.decline });
    else if (m.closePanel) this.ui.closePanel();
  }

  tick() {
    const stale = this.bundle && this.bundle.valid_until - this.now() < 3e5;
    if (stale) this.fetchBundle();
    this.input({ tick: 1 });
  }

  /** The one timer for the engine's next wake-up (a little late rather than early: the
   * engine compares `now >= due`). */
  scheduleWake(at) {
    this.timer("wake", at == null ? null : at - this.now() + 15, () => {
      if (document.hidden) this.wakeMissed = true;
      else this.tick();
    });
  }

  // ----- page views -----

  readPage(referrer) {
    return { url: location.href, title: nonEmpty(document.title), referrer };
  }

  pageView(pv, auto) {
    this.pageUrl = pv.url;
    this.pageAuto = auto;
    this.scrollSent = 0;
    this.exitSent = false;
    this.elements = this.present();
    pv.elements = this.elements.slice();
    const first = this.pagesHere++ == 0;
    this.apply({ page: pv });
    // A new page asks for fresh availability once (the first page already has it).
    if (!first && !this.live && this.needsLive) this.fetchAvail();
  }

  explicitPage(pv) {
    if (!this.started) {
      if (this.early.pages.length < 20) this.early.pages.push(pv);
      return;
    }
    const same = this.pageAuto && pv.url == this.pageUrl;
    this.sitePages = true;
    this.timer("nav");
    if (same) {
      // The page the runtime already counted: the site now takes over page views.
      this.pageAuto = false;
      return;
    }
    pv.referrer = this.pageUrl;
    this.pageView(pv, false);
  }

  nav() {
    if (!this.sitePages && this.started) this.timer("nav", NAV_SETTLE_MS, () => this.navigated());
  }

  /** A history change settled: a page view when the URL changed (hash-only changes count only
   * for hash routes, `#/…` or `#!…`, not for in-page anchors). */
  navigated() {
    if (this.sitePages || !this.started) return;
    const href = location.href, old = this.pageUrl || "";
    if (href == old) return;
    const [base, hash = ""] = href.split("#"), [oldBase, oldHash = ""] = old.split("#");
    const route = (h) => h[0] == "/" || h[0] == "!";
    if (base == oldBase && !route(hash) && !route(oldHash)) return;
    this.pageView(this.readPage(old), true);
  }

  present() {
    return this.zoneIds.filter((id) => document.getElementById(id));
  }

  // ----- listeners -----

  listen() {
    hookHistory();
    const nav = () => this.nav();
    this.on(window, "popstate", nav);
    this.on(window, "hashchange", nav);
    this.on(document, "visibilitychange", () => {
      if (document.hidden) this.flushUnload();
      else if (this.wakeMissed) {
        this.wakeMissed = false;
        this.tick();
      }
    });
    this.on(window, "pagehide", () => this.flushUnload());
    // Nothing floats over the field the visitor is typing in.
    this.on(document, "focusin", (ev) => this.ui.typing(ev.target.matches("input,select,textarea")));
    this.on(document, "focusout", () => this.ui.typing(false));
    // Activity, throttled here so a moving mouse costs one clock read per event.
    let lastAct = 0, lastScroll = 0;
    for (const t of ["pointerdown", "pointermove", "keydown", "wheel", "touchstart"]) {
      this.on(window, t, (ev) => {
        if (t == "keydown") {
          const id = this.ui.key(ev);
          if (id) this.input({ decline: id });
        }
        const now = Date.now();
        if (now - lastAct >= ACTIVITY_MS) {
          lastAct = now;
          this.input({ activity: 1 });
        }
      });
    }
    this.on(window, "resize", () => this.ui.place());
    this.on(window, "scroll", () => {
      this.ui.place();
      const now = Date.now();
      if (now - lastScroll < 200) return;
      lastScroll = now;
      const pct = scrollPercent(), sent = this.scrollSent;
      if (this.started && (pct >= sent + 5 || (pct == 100 && sent < 100))) {
        this.scrollSent = pct;
        this.input({ scroll: pct });
      }
    });
    if (this.device == "desktop") {
      this.on(document, "mouseout", (ev) => {
        if (!ev.relatedTarget && ev.clientY <= 0 && this.started && !this.exitSent) {
          this.exitSent = true;
          this.input({ exit: 1 });
        }
      });
    }
  }

  /** Watches the document for embedded zone elements coming and going. */
  observe() {
    if (!this.zoneIds.length || this.observer) return;
    this.observer = new MutationObserver(() => this.run(() => {
      if (!this.timers.zones) this.timer("zones", 200, () => this.elementsChanged());
    }));
    this.observer.observe(document.documentElement, { childList: true, subtree: true });
  }

  elementsChanged() {
    if (!this.started) return;
    const now = this.present();
    if (now.join("\n") != this.elements.join("\n")) {
      this.elements = now;
      this.input({ elements: now.slice() });
    } else {
      // Same ids, but the page may have replaced a zone element: re-mount into it.
      const out = this.E(SHOWN);
      if (out) this.render(out.shown);
    }
  }

  // ----- reporting -----

  /** Queues the outcome's events for the server and raises the `engage:*` DOM events. */
  report(events) {
    if (!events.length) return;
    // `engage:control` (an extension): this visitor is held out of a campaign's engagement.
    const names = { impression: "shown", accept: "accepted", decline: "declined", state: "state", control: "control" };
    for (const ev of events) {
      this.events.push(JSON.stringify(ev));
      const name = names[ev.type];
      if (!name) continue;
      const detail = {};
      for (const k of ["campaign", "engagement", "zone", "state"]) detail[k] = ev[k] == null ? null : ev[k];
      if (ev.type == "accept") this.accepted(ev, detail);
      window.dispatchEvent(new CustomEvent("engage:" + name, { detail }));
    }
    if (this.events.length > MAX_QUEUE) {
      const drop = this.events.length - MAX_QUEUE;
      this.events.splice(0, drop);
      this.inFlight = Math.max(0, this.inFlight - drop);
    }
    this.saveEvents();
    this.scheduleFlush();
  }

  /** `engage:accepted` extras, and the conversation window when the bundle names one. */
  accepted(ev, detail) {
    const f = this.byId[ev.engagement];
    if (!f) return;
    const e = f.e, info = this.E(INFO), language = e.language || info.language;
    detail.skill = e.skill || null;
    detail.language = language || null;
    detail.agent_note = e.agent_note || null;
    detail.attributes = info.attributes;
    const tpl = this.bundle.settings && this.bundle.settings.conversation_url;
    if (!tpl || e.kind != "conversation") return;
    const vars = { site: this.site, engagement: e.id, skill: e.skill || "", language: language || "" };
    let url = tpl;
    for (const k in vars) url = url.split("{" + k + "}").join(encodeURIComponent(vars[k]));
    if (!isHttp(url)) return;
    const key = this.E(CREATIVE, e.id, ev.state || "online");
    const title = (key && e.creative[key] && e.creative[key].title) || "Conversation";
    const popup = e.window_mode == "popup" ||
      (this.device == "mobile" && !document.querySelector("meta[name=viewport]"));
    if (popup) {
      try {
        const w = window.open(url, "engage-conversation", "popup,width=420,height=640");
        if (w) {
          w.opener = null;
          return;
        }
      } catch (x) {}
    }
    // Embedded, or the popup was blocked.
    this.ui.openPanel(url, title);
  }

  saveEvents() {
    this.store.set(this.key("events"), "[" + this.events.join(",") + "]");
  }

  /** How many events from `skip` go in one request (count and byte limits). */
  batch(skip) {
    let bytes = 0, n = 0;
    for (const e of this.events.slice(skip, skip + MAX_BATCH)) {
      bytes += e.length + 1;
      if (n > 0 && bytes > MAX_BATCH_BYTES) break;
      n++;
    }
    return n;
  }

  body(skip, n) {
    const evs = this.events.slice(skip, skip + n).join(",");
    // An accept starts a conversation on the server, handed off with the visitor's attributes.
    const attrs = evs.includes('"type":"accept"') ? ',"attributes":' + JSON.stringify(this.E(INFO).attributes || {}) : "";
    return '{"visitor":' + JSON.stringify(this.vid) + attrs + ',"events":[' + evs + "]}";
  }

  scheduleFlush() {
    if (!this.events.length || this.timers.flush || this.inFlight) return;
    const gap = Math.max(this.flushMs, this.sendBackoff);
    this.timer("flush", Math.max(this.lastSend + gap - Date.now(), Math.min(FIRST_FLUSH_MS, gap)), () => this.flush());
  }

  /** Sends the next batch; its answer (or failure) comes back to `sent`. */
  flush() {
    this.timer("flush");
    if (this.inFlight || !this.events.length) return;
    const n = this.batch(0), body = this.body(0, n), url = this.api("/events");
    this.inFlight = n;
    this.lastSend = Date.now();
    if (this.o.send) this.sent(this.o.send(url, body, false) ? 200 : 0);
    else if (this.network) {
      const done = (s) => this.run(() => this.sent(s));
      fetch(url, { method: "POST", body }).then((r) => done(r.status), () => done(0));
    } else this.inFlight = 0;
  }

  sent(status) {
    // Delivered, or refused for good (4xx but 408/429): either way not sent again.
    const done = (status >= 200 && status < 300) ||
      (status >= 400 && status < 500 && status != 408 && status != 429);
    if (done) this.events.splice(0, this.inFlight);
    this.inFlight = 0;
    this.saveEvents();
    this.sendBackoff = done ? 0 : Math.min(Math.max(this.sendBackoff * 2, this.flushMs * 2), MAX_BACKOFF_MS);
    this.scheduleFlush();
  }

  /** The page is going away (or hidden): everything not in flight goes out as beacons. */
  flushUnload() {
    if (this.booted) this.store.set(this.key("visit"), this.E(STATE));
    const url = this.api("/events");
    let skip = this.inFlight;
    for (let i = 0; i < 20; i++) {
      const n = this.batch(skip);
      if (!n) break;
      const body = this.body(skip, n);
      let ok = false;
      if (this.o.send) ok = this.o.send(url, body, true);
      else if (this.network) {
        try {
          ok = navigator.sendBeacon(url, body);
        } catch (e) {}
        if (!ok) fetch(url, { method: "POST", body, keepalive: true }).catch(() => {});
        ok = true;
      }
      if (ok) this.events.splice(skip, n);
      else skip += n;
    }
    this.saveEvents();
  }

  // ----- bundle -----

  /** `GET`, with `If-None-Match` when an ETag is known; `done({status, etag, body})` or
   * `done(null)` on a network failure. */
  get(path, etag, done) {
    const fin = (r) => this.run(() => done(r));
    // tag.js asked for this while the runtime loaded: take its answer (once, and only before
    // the first decision; later requests go out fresh).
    const pre = this.o.pre && this.o.pre[path];
    if (pre) {
      delete this.o.pre[path];
      return void pre.then(fin);
    }
    // A bundle is also kept as the response it came in (`copy`), for the Cache API: building
    // a new Response from the text re-encodes it on the main thread (≈ 50 ms at 10 MB).
    fetch(this.api(path), etag ? { headers: { "If-None-Match": etag } } : {})
      .then((r) => {
        const copy = this.cache && path == "/bundle" && r.status == 200 && r.clone();
        return r.text().then((body) => fin({ status: r.status, etag: r.headers.get("etag"), body, copy }));
      })
      .catch(() => fin(null));
  }

  fetchBundle() {
    if (this.bundleLoading || !this.network) return;
    this.bundleLoading = true;
    this.get("/bundle", this.etag, (r) => this.bundleFetched(r));
  }

  bundleFetched(r) {
    this.bundleLoading = false;
    // 304, or the same text again (tag.js's early request has no If-None-Match).
    if (r && this.bundle && (r.status == 304 || (r.status == 200 && r.body === this.bundleText))) {
      this.bundleBackoff = 0;
      return;
    }
    const changed = !this.bundle || !r || r.body !== this.bundleText;
    mark("bundle-received");
    const b = r && r.status == 200 && parse(r.body);
    mark("bundle-parsed");
    const retry = () => {
      // Server down, 5xx, garbage: keep what we have and try again later.
      this.bundleBackoff = Math.min(Math.max(this.bundleBackoff * 2, 2e3), MAX_BACKOFF_MS);
      this.timer("bundle", this.bundleBackoff, () => this.fetchBundle());
    };
    if (!b) return retry();
    this.loadBundle(b, r.body, () => {
      this.bundleBackoff = 0;
      this.etag = r.etag;
      if (!this.started) this.maybeBegin();
      else if (changed) {
        this.input({ tick: 1 });
        this.observe();
      }
      // The copy for the next page, after the decision and in a task of its own.
      this.soon(() => {
        const k = this.key("bundle");
        if (this.cache) {
          const res = r.copy || new Response(r.body, { headers: { etag: r.etag || "" } });
          this.cache.then((c) => c && c.put(this.api("/bundle"), res)).catch(() => {});
        } else if (!this.store.set(k, (r.etag || "") + "\n" + r.body)) this.store.remove(k);
        mark("bundle-cached");
      });
    }, retry);
  }

  // ----- availability -----

  fetchAvail() {
    if (!this.network) return;
    this.availLoading = true;
    this.get("/availability", null, (r) => {
      const a = r && r.status == 200 ? parse(r.body) : null;
      this.availFetched(isObj(a) ? a : null);
    });
  }

  availFetched(a) {
    this.availLoading = false;
    if (a) this.cacheAvail(a);
    if (this.started) {
      if (a) this.input({ availability: a });
      return;
    }
    // Before the first decision (possibly before the bundle): its starting point.
    if (a) {
      this.E(AVAIL, a);
      this.haveAvail = true;
    }
    if (this.waitingAvail) {
      this.waitingAvail = false;
      this.timer("avail");
      this.haveAvail = true;
    }
    this.maybeBegin();
  }

  cacheAvail(a) {
    this.store.set(this.key("avail"), Date.now() + "\n" + JSON.stringify(a));
  }

  cachedAvail() {
    const k = this.key("avail"), t = this.store.get(k);
    if (t == null) return null;
    const i = t.indexOf("\n"), at = +t.slice(0, i), a = i > 0 ? parse(t.slice(i + 1)) : null;
    if (!isObj(a) || !(at > 0)) {
      this.store.remove(k);
      return null;
    }
    const age = Date.now() - at;
    return age >= 0 && age < AVAIL_FRESH_MS ? a : null;
  }

  /** A live feed (SSE, polling when SSE fails) while a displayed engagement follows
   * availability; nothing otherwise. */
  updateLive() {
    if (this.refresh == null || !this.network) return this.closeLive();
    if (this.live) return;
    try {
      const src = new EventSource(this.api("/availability/stream"));
      src.onmessage = (m) => this.run(() => {
        const a = parse(m.data);
        if (!isObj(a)) return;
        this.cacheAvail(a);
        this.input({ availability: a });
      });
      // CLOSED: the browser gave up (HTTP error, wrong type); otherwise it reconnects.
      src.onerror = () => src.readyState == 2 && this.run(() => this.pollInstead());
      this.live = () => src.close();
    } catch (e) {
      this.pollInstead();
    }
  }

  pollInstead() {
    this.closeLive();
    if (this.refresh == null) return;
    this.timer("poll", Math.min(Math.max(this.refresh, 5), 3600) * 1e3, () => this.fetchAvail(), true);
    this.live = () => this.timer("poll");
  }

  closeLive() {
    if (this.live) this.live();
    this.live = null;
  }

  // ----- debug -----

  setDebug(on, remember) {
    const k = this.prefix + "debug";
    if (remember) on ? this.store.set(k, "1") : this.store.remove(k);
    this.debugOn = on;
    if (!on) {
      this.j = null;
      this.store.remove(this.key("journal"));
      if (this.debug) this.debug.close();
      this.debug = null;
      this.timer("debug");
      return;
    }
    if (this.debug || this.debugLoading) return;
    // The panel is a chunk of its own (js/debug.js), fetched now: the first time, it opens
    // once that request is answered.
    this.debugLoading = true;
    // The panel reads the replay's journal and visitor off this runtime (`j`, `vid`, `device`,
    // `server`, `site`, and `E(INFO)`).
    debugPanel(() => this.run(() => this.setDebug(false, true)), this).then(
      (p) => {
        this.debugLoading = false;
        // Switched off (or stopped) while it loaded.
        if (!this.debugOn || this.stopped) return p.close();
        this.debug = p;
        // Live as time passes: the engine's view is re-read every second.
        this.timer("debug", 1e3, () => this.debugRefresh(), true);
        this.run(() => this.debugRefresh());
      },
      () => (this.debugLoading = false),
    );
  }

  /** Keeps input `i` in this visit's journal (`<site>:journal`, the last 500). */
  note(i, applied) {
    const k = this.key("journal"), v = this.E(INFO).visit;
    let j = this.j || parse(this.store.get(k) || "");
    if (!isObj(j) || !Array.isArray(j.s)) j = { s: [] }; // none yet, or tampered: a new one
    // The first input of a new visit starts a new journal, with what came since the last
    // decision (the availability and attributes that visit's first decision had).
    if (applied) {
      if (j.v && j.v != v) j.s = j.s.slice(j.a || 0);
      j.v = v;
      j.a = j.s.length + 1;
    }
    j.s.push([this.now(), i]);
    if (j.s.length > 500) j.s.shift(), j.a--;
    this.store.set(k, JSON.stringify((this.j = j)));
  }

  debugRefresh() {
    if (!this.debug || !this.started) return;
    const out = this.E(PEEK, this.now());
    if (out) this.debug.show(this.heading(), out.trace || []);
  }

  heading() {
    const i = this.E(INFO);
    return "engage debug \u00b7 visit " + i.visit + " \u00b7 pages " + i.pages;
  }

  /** Removes everything the runtime added to the page and stops it. */
  stop() {
    if (this.stopped) return;
    this.stopped = true;
    for (const n in this.timers) this.timer(n);
    for (const off of this.offs) off();
    this.closeLive();
    if (this.observer) this.observer.disconnect();
    if (this.debug) this.debug.close();
    this.ui.teardown();
    if (rt == this) rt = null;
  }
}
