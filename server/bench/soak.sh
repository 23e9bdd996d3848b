#!/usr/bin/env bash
# Soak benchmark (issue "The server under abuse and faults"): MINUTES of mixed load on loopback
# against the release server, reporting per minute the server's RSS, its open file descriptors
# and the p99 latency of each kind of request. RSS and descriptors must be flat after warm-up.
#
#   server/bench/soak.sh                 # 20 minutes
#   MINUTES=3 server/bench/soak.sh       # a quick look
#
# The load, from python3 threads (bounded in count and time; loopback only):
#   - 8 workers: GET bundle (with and without If-None-Match) and GET availability;
#   - 2 workers: event batches (impressions, accepts, goals) from many visitors;
#   - 1 worker: availability SSE streams, 12 at a time (under the per-address cap of 16), each
#     open for 1–10 s then closed;
#   - 1 worker: an availability change every 2 s, an upload of the document every minute.
set -euo pipefail

MINUTES=${MINUTES:-20}
TOKEN=soak-token
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d /tmp/engage-soak.XXXXXX)
SERVER_PID=""
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "==> building the release server"
(cd "$ROOT" && timeout 1800 cargo build --release -q -p engage-server)
BIN="$ROOT/target/release/engage-server"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$WORK/www"
ENGAGE_ADMIN_TOKEN=$TOKEN RUST_LOG=warn "$BIN" --listen "127.0.0.1:$PORT" --data "$WORK/data" \
    --www "$WORK/www" --rate-ip 0 --rate-visitor 0 > "$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done

timeout $(( MINUTES * 60 + 120 )) python3 - "$PORT" "$SERVER_PID" "$MINUTES" "$TOKEN" <<'EOF'
import http.client, json, random, socket, sys, threading, time, os

port, pid, minutes, token = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
end = time.time() + minutes * 60
lock = threading.Lock()
lat = {}          # kind -> [seconds] for the current minute
errors = {}       # kind -> count for the current minute

def doc(tag):
    campaigns = [{"id": f"c{i}", "name": f"Campaign {i} v{tag}", "priority": i % 5,
                  "engagements": [{"id": f"tab-{i}", "kind": "conversation", "format": "sticky",
                                   "skill": "sales", "entry_point": {"include": [{"url": {"pattern": f"https://acme.example/p/{i}/*"}}]},
                                   "creative": {"online": {"title": "Questions?"}, "offline": {"title": "Away"}}}]}
                 for i in range(40)]
    return json.dumps({"site": "acme", "timezone": "Europe/London",
                       "skills": [{"id": "sales", "max_wait_seconds": 120}], "campaigns": campaigns})

def request(conn, method, path, body=None, headers=None):
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    return r.status, r.getheader("etag"), data

def record(kind, seconds, ok):
    with lock:
        lat.setdefault(kind, []).append(seconds)
        if not ok:
            errors[kind] = errors.get(kind, 0) + 1

def admin(method, path, body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    t = time.perf_counter()
    s, _, d = request(c, method, path, body, {"authorization": f"Bearer {token}", "content-type": "application/json"})
    c.close()
    return s, time.perf_counter() - t, d

s, _, d = admin("PUT", "/admin/v1/sites/acme/campaigns", doc(0))
assert s == 201, d
admin("PUT", "/admin/v1/sites/acme/availability/sales", json.dumps({"agents_online": 2, "agents_with_capacity": 1, "expected_wait_seconds": 30}))

def getter():
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    etag = None
    while time.time() < end:
        path, kind = random.choice([("/v1/sites/acme/bundle", "bundle"), ("/v1/sites/acme/availability", "availability")])
        headers = {"if-none-match": etag} if (kind == "bundle" and etag and random.random() < 0.5) else {}
        t = time.perf_counter()
        try:
            s, e, _ = request(c, "GET", path, headers=headers)
            if kind == "bundle" and s == 200:
                etag = e
            record(kind, time.perf_counter() - t, s in (200, 304))
        except Exception:
            record(kind, time.perf_counter() - t, False)
            c.close(); c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

def events():
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    n = 0
    while time.time() < end:
        n += 1
        v = f"soak-{random.randrange(100000)}"
        now = int(time.time() * 1000)
        evs = [{"type": "impression", "at": now, "visit": 1, "campaign": "c1", "engagement": "tab-1", "zone": "right", "state": "online"}]
        if n % 10 == 0:
            evs.append({"type": "accept", "at": now + 1, "visit": 1, "campaign": "c1", "engagement": "tab-1", "zone": "right", "state": "online"})
        if n % 7 == 0:
            evs.append({"type": "goal", "at": now + 2, "visit": 1, "name": "purchase", "value": 10})
        t = time.perf_counter()
        try:
            s, _, _ = request(c, "POST", "/v1/sites/acme/events", json.dumps({"visitor": v, "attributes": {"cart": {"total": 5}}, "events": evs}), {"content-type": "text/plain"})
            record("events", time.perf_counter() - t, s == 202)
        except Exception:
            record("events", time.perf_counter() - t, False)
            c.close(); c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        time.sleep(0.01)

def one_stream():
    t = time.perf_counter()
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=15)
        s.sendall(b"GET /v1/sites/acme/availability/stream HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
        head = s.recv(4096)
        record("stream_open", time.perf_counter() - t, head.startswith(b"HTTP/1.1 200"))
        stop = time.time() + random.uniform(1, 10)
        s.settimeout(1)
        while time.time() < stop:
            try:
                if not s.recv(4096):
                    break
            except socket.timeout:
                pass
        s.close()
    except Exception:
        record("stream_open", time.perf_counter() - t, False)

def streams():
    live = []
    while time.time() < end:
        live = [th for th in live if th.is_alive()]
        while len(live) < 12:
            th = threading.Thread(target=one_stream, daemon=True); th.start(); live.append(th)
        time.sleep(0.2)

def changes():
    tag, last_upload = 0, time.time()
    while time.time() < end:
        online = random.randrange(0, 5)
        s, dt, _ = admin("PUT", "/admin/v1/sites/acme/availability/sales",
                         json.dumps({"agents_online": online, "agents_with_capacity": random.randrange(0, online + 1), "expected_wait_seconds": random.randrange(0, 300)}))
        record("availability_put", dt, s == 200)
        if time.time() - last_upload >= 60:
            tag += 1; last_upload = time.time()
            s, dt, _ = admin("PUT", "/admin/v1/sites/acme/campaigns", doc(tag))
            record("upload", dt, s == 201)
        time.sleep(2)

def rss_mib():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0

def fds():
    return len(os.listdir(f"/proc/{pid}/fd"))

workers = [threading.Thread(target=getter, daemon=True) for _ in range(8)]
workers += [threading.Thread(target=events, daemon=True) for _ in range(2)]
workers += [threading.Thread(target=streams, daemon=True), threading.Thread(target=changes, daemon=True)]
for w in workers:
    w.start()

kinds = ["bundle", "availability", "events", "stream_open", "availability_put", "upload"]
print("minute  RSS MiB   fds  " + "  ".join(f"{k} p99 ms (n, err)" for k in kinds))
for minute in range(1, minutes + 1):
    time.sleep(max(0, end - (minutes - minute) * 60 - time.time()))
    with lock:
        cur, err = dict(lat), dict(errors)
        lat.clear(); errors.clear()
    cols = []
    for k in kinds:
        xs = sorted(cur.get(k, []))
        p99 = xs[int(len(xs) * 0.99) - 1] * 1000 if xs else float("nan")
        cols.append(f"{p99:8.2f} ({len(xs)}, {err.get(k, 0)})")
    print(f"{minute:6d}  {rss_mib():7.1f}  {fds():4d}  " + "  ".join(cols), flush=True)
EOF
