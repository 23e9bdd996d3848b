#!/usr/bin/env bash
# Load benchmark of engage-server's hot GETs (SPEC §8: ≥ 20,000 req/s, p99 < 10 ms on 2 cores).
#
# Builds the release server, starts it on a free loopback port with a temporary data directory
# and a generated campaign document, then drives GET bundle and GET availability with wrk, and
# the same bundle bytes served as a static file by nginx as the reference. Finally opens 1,000
# SSE availability streams and reports the server's RSS before and after, and how long one
# availability change takes to reach all of them.
#
#   server/bench/load.sh                 # 10 s per run, 2 wrk threads, 64 connections
#   DURATION=5 CONNECTIONS=128 SSE_CLIENTS=2000 server/bench/load.sh
#   BACKEND=postgres server/bench/load.sh  # the same on PostgreSQL (a cluster started in the
#                                          # temp folder; needs the postgresql package)
#
# Needs wrk, nginx, curl and python3 (Debian: apt-get install wrk nginx-light curl python3; the
# script installs wrk and nginx itself when missing and run as root). Only loopback addresses
# are used; every step is bounded by a timeout.
set -euo pipefail

DURATION=${DURATION:-10}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
SSE_CLIENTS=${SSE_CLIENTS:-1000}
CAMPAIGNS=${CAMPAIGNS:-40}
TOKEN=bench-token

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d /tmp/engage-bench.XXXXXX)
chmod 755 "$WORK"
SERVER_PID=""
NGINX_PID=""
BACKEND=${BACKEND:-sqlite}
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
PG_DATA=""

cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
    [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null || true
    [ -n "$PG_DATA" ] && as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# PostgreSQL refuses to run as root: as root, its commands run as the postgres user.
as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

need() {
    if ! command -v "$1" >/dev/null 2>&1; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            echo "==> installing $2"
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
        else
            echo "load.sh: $1 is missing (Debian package $2)" >&2
            exit 1
        fi
    fi
}
need wrk wrk
need nginx nginx-light
need curl curl
need python3 python3

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

echo "==> building the release server"
(cd "$ROOT" && timeout 1800 cargo build --release -q -p engage-server)
BIN="$ROOT/target/release/engage-server"

# Enough descriptors for the SSE clients (inherited by the server and the client).
ulimit -n "$(( SSE_CLIENTS * 2 + 1024 ))" 2>/dev/null || ulimit -n "$(ulimit -Hn)"

echo "==> generating a document with $CAMPAIGNS campaigns"
python3 - "$CAMPAIGNS" > "$WORK/doc.json" <<'EOF'
import json, sys
n = int(sys.argv[1])
campaigns = []
for i in range(n):
    campaigns.append({
        "id": f"campaign-{i}", "name": f"Campaign {i}", "priority": i % 7,
        "timeframe": {"weekly": [{"days": ["mon", "tue", "wed", "thu", "fri"], "from": "08:00", "to": "20:00"}]},
        "audience": {"cart.total": {"$gte": i}, "country": {"$in": ["GB", "IE", "FR"]}},
        "engagements": [
            {"id": f"tab-{i}", "kind": "conversation", "format": "sticky", "zone": "right" if i % 2 else "left",
             "skill": "sales", "refresh_seconds": 120,
             "entry_point": {"include": [{"url": {"pattern": f"https://acme.example/shop/{i}/*"}}],
                             "exclude": [{"url": {"contains": "/checkout"}}]},
             "behavior": {"time_on_page": 10, "pages_viewed": 2},
             "creative": {"online": {"title": "Questions?", "message": "Our team is <b>online</b>", "cta": "Chat now"},
                          "busy": {"title": "We're busy", "message": "Expect a short wait", "cta": "Chat anyway"},
                          "offline": {"title": "We're away", "message": "Leave us a message", "cta": "Leave a message"}}},
            {"id": f"banner-{i}", "kind": "content", "format": "banner", "zone": {"embedded": f"promo-{i}"},
             "creative": {"content": {"title": "Offer", "message": "Save <i>10%</i> today", "cta": "See",
                                      "url": "https://acme.example/offer"}}},
        ],
    })
doc = {"site": "acme", "timezone": "Europe/London",
       "business_hours": [{"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "17:30"}],
       "skills": [{"id": "sales", "max_wait_seconds": 120}], "campaigns": campaigns}
print(json.dumps(doc))
EOF

DATABASE=()
if [ "$BACKEND" = postgres ]; then
    [ -n "$PG_BIN" ] || { echo "load.sh: no PostgreSQL under /usr/lib/postgresql" >&2; exit 1; }
    PG_PORT=$(free_port)
    PG_DATA="$WORK/pg"
    mkdir -p "$PG_DATA" && [ "$(id -u)" = 0 ] && chown postgres:postgres "$PG_DATA"
    echo "==> starting PostgreSQL on 127.0.0.1:$PG_PORT"
    as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -o "-p $PG_PORT -k $PG_DATA -c listen_addresses=127.0.0.1" \
        -l "$PG_DATA/log" -w start >/dev/null
    DATABASE=(--database "postgres://postgres@127.0.0.1:$PG_PORT/postgres")
fi

SERVER_PORT=$(free_port)
NGINX_PORT=$(free_port)
echo "==> starting engage-server on 127.0.0.1:$SERVER_PORT ($BACKEND)"
ENGAGE_ADMIN_TOKEN=$TOKEN RUST_LOG=warn "$BIN" --listen "127.0.0.1:$SERVER_PORT" --data "$WORK/data" \
    "${DATABASE[@]}" --sse-per-address "$(( SSE_CLIENTS + 16 ))" --www "$WORK/www" > "$WORK/server.log" 2>&1 &
SERVER_PID=$!
BASE="http://127.0.0.1:$SERVER_PORT"
for _ in $(seq 100); do
    curl -fsS "$BASE/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fsS "$BASE/healthz" >/dev/null

curl -fsS -m 60 -X PUT -H "Authorization: Bearer $TOKEN" --data-binary @"$WORK/doc.json" \
    "$BASE/admin/v1/sites/acme/campaigns" >/dev/null
curl -fsS -m 10 -X PUT -H "Authorization: Bearer $TOKEN" \
    -d '{"agents_online":3,"agents_with_capacity":1,"expected_wait_seconds":40}' \
    "$BASE/admin/v1/sites/acme/availability/sales" >/dev/null

mkdir -p "$WORK/static"
curl -fsS -m 10 "$BASE/v1/sites/acme/bundle" -o "$WORK/static/bundle.json"
curl -fsS -m 10 "$BASE/v1/sites/acme/availability" -o "$WORK/static/availability.json"
chmod -R a+rX "$WORK/static"
BUNDLE_BYTES=$(stat -c %s "$WORK/static/bundle.json")
AVAIL_BYTES=$(stat -c %s "$WORK/static/availability.json")

echo "==> starting nginx on 127.0.0.1:$NGINX_PORT (reference)"
mkdir -p "$WORK/nginx/logs"
cat > "$WORK/nginx/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 2;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    types { application/json json; }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $WORK/static;
        etag on;
    }
}
EOF
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/logs/error.log" &
NGINX_PID=$!
for _ in $(seq 50); do
    curl -fsS "http://127.0.0.1:$NGINX_PORT/bundle.json" >/dev/null 2>&1 && break
    sleep 0.1
done
cmp <(curl -fsS "http://127.0.0.1:$NGINX_PORT/bundle.json") "$WORK/static/bundle.json"

# run NAME URL → prints one line, records req/s p50 p99 in RESULT_*.
run() {
    local name=$1 url=$2 out
    shift 2
    out=$(timeout $(( DURATION + 30 )) wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$@" "$url")
    RESULT_RPS=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    RESULT_P50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    RESULT_P99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    local errors
    errors=$(grep -E "Non-2xx|Socket errors" <<<"$out" || true)
    printf '%-34s %12s req/s   p50 %9s   p99 %9s\n' "$name" "$RESULT_RPS" "$RESULT_P50" "$RESULT_P99"
    [ -z "$errors" ] || echo "    $errors"
}

echo
echo "==> wrk: $THREADS threads, $CONNECTIONS connections, ${DURATION}s each (bundle $BUNDLE_BYTES bytes, availability $AVAIL_BYTES bytes)"
run "engage-server GET bundle" "$BASE/v1/sites/acme/bundle"
S_RPS=$RESULT_RPS
run "nginx static bundle.json" "http://127.0.0.1:$NGINX_PORT/bundle.json"
N_RPS=$RESULT_RPS
run "engage-server GET availability" "$BASE/v1/sites/acme/availability"
SA_RPS=$RESULT_RPS
run "nginx static availability.json" "http://127.0.0.1:$NGINX_PORT/availability.json"
NA_RPS=$RESULT_RPS
# What browsers get: the precompressed brotli body (no nginx counterpart: it would compress on
# every request).
run "engage-server GET bundle (br)" "$BASE/v1/sites/acme/bundle" -H "Accept-Encoding: gzip, deflate, br"
python3 -c "import sys; s,n,sa,na=map(float,sys.argv[1:]); print(f'ratio engage/nginx: bundle {s/n:.2f}, availability {sa/na:.2f}')" \
    "$S_RPS" "$N_RPS" "$SA_RPS" "$NA_RPS"

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status"; }

echo
echo "==> $SSE_CLIENTS SSE clients on /v1/sites/acme/availability/stream"
RSS_BEFORE=$(rss_kb)
timeout 120 python3 - "$SERVER_PORT" "$SSE_CLIENTS" "$TOKEN" "$SERVER_PID" <<'EOF'
import asyncio, sys, time, urllib.request

port, n, token, pid = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]

def rss_kb():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])

async def client(ready, changed, stop):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(f"GET /v1/sites/acme/availability/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode())
    await w.drain()
    buf = b""
    seen = 0
    while True:
        chunk = await r.read(4096)
        if not chunk:
            break
        buf += chunk
        count = buf.count(b"data: ")
        if count > seen:
            if seen == 0:
                ready.append(1)
            if count >= 2 and b'"agents_online":9' in buf:
                changed.append(time.monotonic())
                break
            seen = count
    await stop.wait()
    w.close()

async def main():
    ready, changed = [], []
    stop = asyncio.Event()
    tasks = [asyncio.create_task(client(ready, changed, stop)) for _ in range(n)]
    t0 = time.monotonic()
    while len(ready) < n and time.monotonic() - t0 < 60:
        await asyncio.sleep(0.05)
    print(f"{len(ready)} streams open after {time.monotonic() - t0:.2f} s")
    await asyncio.sleep(1)
    print(f"server RSS with {len(ready)} open streams: {rss_kb() / 1024:.1f} MiB")
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/admin/v1/sites/acme/availability/sales",
        data=b'{"agents_online":9,"agents_with_capacity":2,"expected_wait_seconds":10}',
        method="PUT", headers={"Authorization": f"Bearer {token}"})
    t1 = time.monotonic()
    await asyncio.get_running_loop().run_in_executor(None, lambda: urllib.request.urlopen(req, timeout=10).read())
    while len(changed) < len(ready) and time.monotonic() - t1 < 30:
        await asyncio.sleep(0.01)
    print(f"one availability change reached {len(changed)} streams in {(max(changed) - t1) * 1000 if changed else float('nan'):.0f} ms")
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)

asyncio.run(main())
EOF
RSS_AFTER=$(rss_kb)
echo "server RSS: $(( RSS_BEFORE / 1024 )) MiB before the streams, $(( RSS_AFTER / 1024 )) MiB after they closed"
