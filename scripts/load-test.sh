#!/usr/bin/env bash
# Load and abuse test of `gr serve` on loopback (issue #6 item 5; docs/serving.md).
#
#   scripts/load-test.sh --checkpoint FILE [--data DIR] [--gr PATH] [--port 18080]
#                        [--duration 20] [--concurrency "1 64"] [--abuse 100000] [--threads N]
#                        [--only load|abuse] [--max-wait-ms MS] [--serve-args "--max-batch 32 ..."]
#                        [--rate R]
#   scripts/load-test.sh --synthetic-items 1000000 --synthetic-config configs/ml-1m/hstu-large.yaml
#                        --concurrency 16 --only load          # the 1M-item corpus case
#
# 1. Starts `gr serve` (release binary; --gr overrides) on 127.0.0.1 and waits for /healthz;
#    --max-wait-ms and --serve-args (split on spaces) are passed on to `gr serve`.
# 2. Load: wrk posting /v1/recommend with 200-event histories (random ids in 1...max_item_id,
#    increasing timestamps, k 10) at each --concurrency (default 1 and 64); prints req/s, p50,
#    p90, p99, non-2xx, the server's CPU time per request (/proc/PID/stat: robust on a shared
#    machine, where wall times stretch) and the load average (`uptime`) at the end of the row.
#    By default every connection sends its next request as soon as its answer arrives (a closed
#    loop: the server's saturation throughput). With --rate R the requests are offered at R per
#    second in total, Poisson arrivals (exponential gaps; each wrk thread draws its share of the
#    schedule and a free connection sends at the next arrival time), at most `concurrency` in
#    flight: the latency at a given load. Latency is measured from the send; the row also prints
#    how many sends were late (no free connection at the arrival time, > 5 ms) and the largest
#    lag, so a schedule the server could not keep up with shows (wrk asks delay() before every
#    request, each connection's first included; docs/serving.md "Load and abuse tests").
#    Without --rate or --concurrency (and with a checkpoint), a last row runs issue #6's target:
#    concurrency 64 at 500 requests/s offered (p99 ≤ 50 ms).
# 3. Abuse: --abuse requests (default 100,000; wrk runs until the server's counters reach it, so a
#    round may overshoot by a few), every 10th malformed (wrong types, huge arrays,
#    negative/unknown ids, NaN timestamps, truncated JSON, k 0, unknown fields, an over-limit
#    body); checks no 5xx, every malformed one answered 4xx, the server still up, and its RSS
#    (/proc/PID/status VmRSS) after all requests within 10% of the RSS after the first 10%.
# 4. Sends SIGTERM and checks the server drains and exits 0.
# Needs wrk (Debian: apt-get install -y wrk) and curl. Exit status 0 when every check passes.
set -euo pipefail

GR=""; CHECKPOINT=""; DATA=""; PORT=18080; DURATION=20; ABUSE=100000; THREADS=""; ONLY=""
CONCURRENCY="1 64"; SYN_ITEMS=""; SYN_CONFIG=""; MAX_WAIT=""; SERVE_ARGS=""; RATE=""; TARGET_ROW=1
while [ $# -gt 0 ]; do
  case "$1" in
    --gr) GR="$2"; shift 2 ;;
    --checkpoint) CHECKPOINT="$2"; shift 2 ;;
    --data) DATA="$2"; shift 2 ;;
    --port) PORT="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --abuse) ABUSE="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --only) ONLY="$2"; shift 2 ;;
    --concurrency) CONCURRENCY="$2"; TARGET_ROW=0; shift 2 ;;
    --synthetic-items) SYN_ITEMS="$2"; shift 2 ;;
    --synthetic-config) SYN_CONFIG="$2"; shift 2 ;;
    --max-wait-ms) MAX_WAIT="$2"; shift 2 ;;
    --serve-args) SERVE_ARGS="$2"; shift 2 ;;
    --rate) RATE="$2"; TARGET_ROW=0; shift 2 ;;
    -h|--help) sed -n 2,33p "$0"; exit 0 ;;
    *) echo "load-test.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$CHECKPOINT" ] || [ -n "$SYN_ITEMS" ] || { echo "load-test.sh: --checkpoint or --synthetic-items is required" >&2; exit 2; }
[ -z "$RATE" ] || { [[ "$RATE" =~ ^[0-9]+(\.[0-9]+)?$ ]] && awk -v r="$RATE" 'BEGIN { exit !(r > 0) }'; } || { echo "load-test.sh: --rate must be a positive number of requests per second, got '$RATE'" >&2; exit 2; }
command -v wrk >/dev/null || { echo "load-test.sh: wrk not found (apt-get install -y wrk)" >&2; exit 2; }
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
[ -n "$GR" ] || GR="$ROOT/.build/release/gr"
[ -x "$GR" ] || { echo "load-test.sh: $GR not found (swift build -c release --product gr)" >&2; exit 2; }

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then kill "$SERVER_PID"; wait "$SERVER_PID" || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
URL="http://127.0.0.1:$PORT"
FAIL=0

args=(serve --host 127.0.0.1 --port "$PORT")
[ -n "$CHECKPOINT" ] && args+=(--checkpoint "$CHECKPOINT")
[ -n "$SYN_ITEMS" ] && args+=(--synthetic-items "$SYN_ITEMS" --synthetic-config "$SYN_CONFIG")
[ -n "$DATA" ] && args+=(--data "$DATA")
[ -n "$THREADS" ] && args+=(--threads "$THREADS")
[ -n "$MAX_WAIT" ] && args+=(--max-wait-ms "$MAX_WAIT")
# shellcheck disable=SC2206  # word splitting is the point: "--max-batch 32 --queue 256"
[ -n "$SERVE_ARGS" ] && args+=($SERVE_ARGS)
"$GR" "${args[@]}" > "$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 3000); do
  curl -sf "$URL/healthz" > "$WORK/health.json" 2>/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log"; echo "load-test.sh: server died" >&2; exit 1; }
  sleep 0.1
done
MAX_ITEM=$(sed -E 's/.*"max_item_id":([0-9]+).*/\1/' "$WORK/health.json")
echo "server: pid $SERVER_PID, $(head -1 "$WORK/server.log")"
echo "health: $(cat "$WORK/health.json")"
echo "machine: $(nproc) cores, $(uptime | sed 's/.*load/load/')"

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status"; }
# The server's CPU time so far (user + system, clock ticks): a load-independent cost per request.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }

# Shared Lua: 256 request bodies of 200 events, rotated; per-thread status counters.
cat > "$WORK/common.lua" <<'LUA'
local max_item = tonumber(os.getenv("GR_MAX_ITEM"))
function history_body(seed, n)
  math.randomseed(seed)
  local h, t, ts = {}, {}, 978300000
  for j = 1, n do h[j] = math.random(1, max_item); ts = ts + math.random(1, 600); t[j] = ts end
  return '{"history":[' .. table.concat(h, ",") .. '],"timestamps":[' .. table.concat(t, ",") .. '],"k":10}'
end
threads = {}
function setup(thread) table.insert(threads, thread); thread:set("thread_index", #threads) end
LUA

cat > "$WORK/load.lua" <<'LUA'
dofile(os.getenv("GR_LUA_DIR") .. "/common.lua")
local bodies = {}
for i = 1, 256 do bodies[i] = history_body(i, 200) end
local n = 0
local headers = { ["Content-Type"] = "application/json" }
function request()
  n = n + 1
  return wrk.format("POST", "/v1/recommend", headers, bodies[n % #bodies + 1])
end
-- --rate: this thread's share of a Poisson schedule (GR_RATE_PER_THREAD requests per second).
-- wrk asks delay() before each send; the send takes the next arrival time of the schedule.
local rate = tonumber(os.getenv("GR_RATE_PER_THREAD") or "")
late, max_lag_ms = 0, 0
if rate then
  local ffi = require("ffi")
  ffi.cdef[[ typedef struct { long tv_sec; long tv_nsec; } gr_timespec; int clock_gettime(int, gr_timespec *); ]]
  local ts = ffi.new("gr_timespec")
  local function now_ms() ffi.C.clock_gettime(1, ts); return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6 end
  local next_ms
  function init(args) math.randomseed(7919 * (thread_index or 1)) end
  function delay()
    local now = now_ms()
    if not next_ms then next_ms = now end
    next_ms = next_ms - math.log(1 - math.random()) * 1000 / rate
    local wait = next_ms - now
    if wait < -5 then late = late + 1; if -wait > max_lag_ms then max_lag_ms = -wait end end
    return wait > 0 and math.floor(wait + 0.5) or 0
  end
end
function done(summary, latency, requests)
  local e = summary.errors
  local lates, lag = 0, 0
  for _, thread in ipairs(threads) do
    lates = lates + thread:get("late"); lag = math.max(lag, thread:get("max_lag_ms"))
  end
  io.write(string.format("RESULT requests=%d req_per_s=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f non2xx=%d socket_errors=%d",
    summary.requests, summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(90) / 1000, latency:percentile(99) / 1000, e.status, e.connect + e.read + e.write + e.timeout))
  if rate then io.write(string.format(" offered_per_s=%.1f late_sends=%d max_lag_ms=%.1f", rate * #threads, lates, lag)) end
  io.write("\n")
end
LUA

export GR_MAX_ITEM="$MAX_ITEM" GR_LUA_DIR="$WORK"

# One load row: $1 = connections, $2 = offered requests/s (empty: closed loop).
load_row() {
  local c=$1 rate=$2 t=$(( $1 < 2 ? 1 : 2 ))
  if [ -n "$rate" ]; then
    export GR_RATE_PER_THREAD; GR_RATE_PER_THREAD=$(awk -v r="$rate" -v t="$t" 'BEGIN { print r / t }')
    echo "== load: POST /v1/recommend, 200-event histories, k 10, concurrency $c, ${DURATION}s, offered $rate req/s (Poisson)"
  else
    unset GR_RATE_PER_THREAD
    echo "== load: POST /v1/recommend, 200-event histories, k 10, concurrency $c, ${DURATION}s"
  fi
  local cpu0 cpu1 n
  cpu0=$(cpu_ticks)
  wrk -t"$t" -c"$c" -d"${DURATION}s" --timeout 10s --latency -s "$WORK/load.lua" "$URL" > "$WORK/wrk-$c.txt" 2>&1 || true
  cpu1=$(cpu_ticks)
  grep RESULT "$WORK/wrk-$c.txt" || { cat "$WORK/wrk-$c.txt"; FAIL=1; }
  n=$(sed -nE 's/^RESULT requests=([0-9]+).*/\1/p' "$WORK/wrk-$c.txt")
  if [ -n "$n" ] && [ "$n" -gt 0 ]; then
    awk -v t=$(( cpu1 - cpu0 )) -v n="$n" -v hz="$(getconf CLK_TCK)" \
      'BEGIN { printf "server CPU: %.3f ms per request (user + system)\n", t * 1000 / hz / n }'
  fi
  echo "after concurrency $c: $(uptime | sed 's/.*load/load/')"
}

if [ "$ONLY" != "abuse" ]; then
  for c in $CONCURRENCY; do load_row "$c" "$RATE"; done
  if [ "$TARGET_ROW" = 1 ] && [ -n "$CHECKPOINT" ]; then
    echo "(issue #6's target row: 64 connections, 500 requests/s offered, p99 ≤ 50 ms)"
    load_row 64 500
  fi
  curl -s "$URL/metrics" | grep -E '^gr_serve_(batch_size_(sum|count)|engine_calls_total)' || true
fi

if [ "$ONLY" != "load" ]; then
  # Each wrk thread stops after its share of requests; every 10th request is malformed, cycling
  # through the bodies below. Valid requests expect 200, malformed ones 4xx; wrk cannot pair a
  # response with its request, so the check is on the totals.
  cat > "$WORK/abuse.lua" <<'LUA'
dofile(os.getenv("GR_LUA_DIR") .. "/common.lua")
local valid = {}
for i = 1, 64 do valid[i] = history_body(1000 + i, 200) end
local max_item = tonumber(os.getenv("GR_MAX_ITEM"))
local big = {}
for i = 1, 20000 do big[i] = "1" end
local huge = string.rep("7,", 600000)
local bad = {
  'not json at all',
  '{"history": [1, 2, 3',
  '{"history": "1,2,3", "k": 10}',
  '{"history": [1, -5, 3], "k": 10}',
  '{"history": [1, ' .. (max_item + 1) .. '], "k": 10}',
  '{"history": [1, 2], "timestamps": [1, NaN], "k": 10}',
  '{"history": [1, 2], "timestamps": [1, 1e300], "k": 10}',
  '{"history": [1, 2], "timestamps": [1], "k": 10}',
  '{"history": [1, 2], "k": 0}',
  '{"history": [1, 2], "k": "ten"}',
  '{"history": [], "k": 10}',
  '{"history": [1, 2.5], "k": 10}',
  '{"history": [1], "k": 10, "surprise": true}',
  '{"history": [' .. table.concat(big, ",") .. '], "k": 10}',
  '[1, 2, 3]',
  '{"history": [' .. huge .. '1], "k": 10}',
}
-- Plain globals: wrk's thread:get copies numbers between Lua states, not tables.
n, sent_bad, s2, s4, s5, other = 0, 0, 0, 0, 0, 0
local headers = { ["Content-Type"] = "application/json" }
function request()
  n = n + 1
  if n % 10 == 0 then
    sent_bad = sent_bad + 1
    return wrk.format("POST", "/v1/recommend", headers, bad[(n / 10) % #bad + 1])
  end
  return wrk.format("POST", "/v1/recommend", headers, valid[n % #valid + 1])
end
function response(status, headers, body)
  if status >= 200 and status < 300 then s2 = s2 + 1
  elseif status >= 400 and status < 500 then s4 = s4 + 1
  elseif status >= 500 then s5 = s5 + 1
  else other = other + 1 end
end
function done(summary, latency, requests)
  local t = { s2 = 0, s4 = 0, s5 = 0, other = 0, bad = 0 }
  for _, thread in ipairs(threads) do
    t.s2 = t.s2 + thread:get("s2"); t.s4 = t.s4 + thread:get("s4"); t.s5 = t.s5 + thread:get("s5")
    t.other = t.other + thread:get("other")
    t.bad = t.bad + thread:get("sent_bad")
  end
  local e = summary.errors
  io.write(string.format("ABUSE answered=%d 2xx=%d 4xx=%d 5xx=%d other=%d malformed_sent=%d socket_errors=%d req_per_s=%.1f\n",
    t.s2 + t.s4 + t.s5 + t.other, t.s2, t.s4, t.s5, t.other, t.bad, e.connect + e.read + e.write + e.timeout,
    summary.requests / (summary.duration / 1e6)))
end
LUA
  answered() {  # requests answered on /v1/recommend so far, from the server's own counters
    curl -s "$URL/metrics" | awk '/^gr_serve_requests_total\{route="\/v1\/recommend"/ {n += $2} END {print n + 0}'
  }
  abuse_round() {  # $1 = requests in this round: wrk runs until the server has answered them, then SIGINT
    local target=$(( $(answered) + $1 ))
    wrk -t4 -c16 -d3600s --timeout 10s -s "$WORK/abuse.lua" "$URL" > "$WORK/abuse-wrk.txt" 2>&1 &
    local wrk_pid=$!
    while [ "$(answered)" -lt "$target" ]; do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.2
    done
    kill -INT "$wrk_pid"; wait "$wrk_pid" || true
    grep ABUSE "$WORK/abuse-wrk.txt" || { cat "$WORK/abuse-wrk.txt" >&2; echo "ABUSE missing"; }
  }
  check_round() {  # $1 = the ABUSE line
    local line="$1" s5 s4 bad
    s5=$(echo "$line" | sed -E 's/.* 5xx=([0-9]+).*/\1/')
    s4=$(echo "$line" | sed -E 's/.* 4xx=([0-9]+).*/\1/')
    bad=$(echo "$line" | sed -E 's/.*malformed_sent=([0-9]+).*/\1/')
    [ "$s5" -eq 0 ] || { echo "FAIL: $s5 answers were 5xx"; FAIL=1; }
    # Each wrk connection may stop with one request unanswered: allow 16 of slack.
    [ "$s4" -ge $(( bad - 16 )) ] && [ "$s4" -le "$bad" ] || { echo "FAIL: $s4 4xx answers for $bad malformed requests"; FAIL=1; }
  }
  first=$(( ABUSE / 10 ))
  echo "== abuse: $ABUSE requests, every 10th malformed (wrk -t4 -c16)"
  line=$(abuse_round "$first"); echo "first $first: $line"; check_round "$line"
  rss_first=$(rss_kb)
  line=$(abuse_round $(( ABUSE - first ))); echo "next $(( ABUSE - first )): $line"; check_round "$line"
  rss_last=$(rss_kb)
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "FAIL: server died"; FAIL=1; }
  curl -sf "$URL/healthz" > /dev/null || { echo "FAIL: /healthz after abuse"; FAIL=1; }
  growth=$(awk -v a="$rss_first" -v b="$rss_last" 'BEGIN { printf "%.1f", (b - a) * 100 / a }')
  echo "RSS after first $first: ${rss_first} kB; after all $ABUSE: ${rss_last} kB (${growth}%)"
  awk -v a="$rss_first" -v b="$rss_last" 'BEGIN { exit !(b <= a * 1.10 && b >= a * 0.90) }' \
    || { echo "FAIL: RSS moved more than 10%"; FAIL=1; }
  curl -s "$URL/metrics" | grep -E '^gr_serve_(requests_total|queue_rejections_total)' || true
fi

echo "== drain: SIGTERM"
kill -TERM "$SERVER_PID"
rc=0; wait "$SERVER_PID" || rc=$?
SERVER_PID=""
tail -2 "$WORK/server.log"
[ "$rc" -eq 0 ] || { echo "FAIL: server exited $rc after SIGTERM"; FAIL=1; }
[ "$FAIL" -eq 0 ] && echo "load-test: all checks passed" || echo "load-test: FAILED"
exit "$FAIL"
