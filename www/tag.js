/*! engage tag loader: queues engage(...) calls, loads the wasm runtime, hands the queue over.
 Never throws into the page; on any failure one console.warn and the page is left alone. */
(function (w) {
  var cur = w.engage, s = document.currentScript, src = s && s.src, q, warned, busy;
  if (cur && cur.v) return; // a second copy of the tag: the first one runs the show
  q = (cur && cur.q) || [];
  function warn(e) {
    if (!warned) {
      warned = 1;
      try { console.warn("engage: runtime not started:", e); } catch (x) {}
    }
  }
  function stub() {
    if (q.length < 200) q.push(arguments);
    go();
  }
  stub.q = q;
  stub.v = 1;
  w.engage = stub;
  function go() {
    var o, i, server, base, m, wasm, pre;
    for (i = 0; i < q.length && !o; i++) if (q[i][0] == "init" && q[i][1]) o = q[i][1];
    if (busy || !o) return;
    busy = 1;
    try {
      server = String(o.server || (src ? new URL(src).origin : location.origin)).replace(/\/+$/, "");
      base = server + "/pkg/";
      m = /*__ENGAGE_MANIFEST__*/null;
      // All at once: glue, wasm, bundle, availability (the runtime takes the last two over)
      if (/^[a-z0-9_-]{1,64}$/.test(o.site)) pre = { "/bundle": get("/bundle"), "/availability": get("/availability") };
      if (m) (wasm = fetch(base + m.wasm)).catch(function () {});
      (m ? Promise.resolve(m) : fetch(base + "manifest.json").then(function (r) {
        if (!r.ok) throw r.status;
        return r.json();
      })).then(function (m) {
        return import(base + m.js).then(function (g) {
          return g.default({ module_or_path: wasm || base + m.wasm }).then(function () {
            var live = function (c, a) {
              try { g.command(String(c), a); } catch (e) { warn(e); }
            };
            live.v = 1;
            live.q = [];
            w.engage = live;
            if (!g.start({ site: o.site, server: server, debug: !!o.debug, pre: pre }, q)) warn("bad init");
          });
        });
      }).catch(warn);
    } catch (e) {
      warn(e);
    }
    function get(path) {
      return fetch(server + "/v1/sites/" + o.site + path).then(function (r) {
        // The bundle's bytes for the runtime's cache, as they came (see host.js `get`).
        var copy = path == "/bundle" && r.status == 200 && r.clone();
        return r.text().then(function (body) {
          return { status: r.status, etag: r.headers.get("etag"), body: body, copy: copy };
        });
      }).catch(function () {
        return null;
      });
    }
  }
  go();
})(window);
