#!/usr/bin/env bash
# bench/profile.sh: where does a tools/call's time go? (diagnosis helper, not part of run.sh)
#
#   bash bench/profile.sh [modern|legacy] [THREADS] [CONNS]
#
# Starts toolhost (utility + echo) on a loopback port, loads it with wrk for DURATION seconds
# (default 10) and reports the CPU the server and wrk each used per call (from /proc/PID/stat),
# then, if `perf` works, records the server for PERF_SECS (default 5) under the same load and
# prints the top symbols. Needs target/release/toolhost (release profile keeps line tables).
set -euo pipefail
bench_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$bench_dir")"
bin="$repo/target/release/toolhost"
mode="${1:-modern}" t="${2:-1}" c="${3:-16}"
DURATION="${DURATION:-10}" PERF_SECS="${PERF_SECS:-5}"
SECRET="bench-secret-0123456789abcdef-0123456789abcdef"
work="$(mktemp -d /tmp/toolhost-prof.XXXXXX)"
pid=""
cleanup() {
    [[ -n "$pid" ]] && { kill -INT "$pid" 2>/dev/null || true; sleep 0.5; kill -KILL "$pid" 2>/dev/null || true; }
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$work/plugins"
cp "$repo/dist/plugins/utility.wasm" "$repo/dist/fixtures/echo.wasm" "$work/plugins/"
cat >"$work/t.toml" <<EOF
listen = "127.0.0.1:0"
data_dir = "$work/data"
plugins_dir = "$work/plugins"
cache_dir = "$work/cache"
[auth]
hs256_secret = "$SECRET"
EOF
RUST_LOG=warn "$bin" serve --config "$work/t.toml" >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 300); do grep -q 'listening on' "$work/out" 2>/dev/null && break; sleep 0.1; done
url="$(sed -n 's/.* listening on \(http:[^ ]*\).*/\1/p' "$work/out" | head -1)"
for _ in $(seq 1800); do [[ "$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz")" == 200 ]] && break; sleep 0.1; done
token="$("$bin" token --sub bench --scope read --config "$work/t.toml")"
sessions=""
if [[ "$mode" == legacy ]]; then
    ids=()
    for _ in $(seq "$t"); do ids+=("$(timeout 20 python3 "$bench_dir/mcp_probe.py" session --url "$url/mcp" --token "$token")"); done
    sessions="$(IFS=,; echo "${ids[*]}")"
fi
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }   # utime+stime in clock ticks
hz="$(getconf CLK_TCK)"

load() {   # load SECONDS
    MCP_MODE="$mode" MCP_TOKEN="$token" MCP_SESSIONS="$sessions" MCP_THREADS="$t" \
        timeout $(($1 + 30)) wrk -t"$t" -c"$c" -d"$1s" --timeout 5s -s "$bench_dir/wrk_mcp.lua" "$url/mcp"
}

load 2 >/dev/null   # warm-up
s0="$(ticks "$pid")"; all0="$(awk '/^cpu /{print $2+$3+$4+$5+$6+$7+$8}' /proc/stat)"
out="$(load "$DURATION")"
s1="$(ticks "$pid")"; all1="$(awk '/^cpu /{print $2+$3+$4+$5+$6+$7+$8}' /proc/stat)"
echo "$out" | grep WRK_JSON
python3 - "$out" "$s0" "$s1" "$all0" "$all1" "$hz" "$DURATION" <<'EOF'
import json, re, sys
out, s0, s1, a0, a1, hz, dur = sys.argv[1:]
j = json.loads(re.search(r"WRK_JSON (\{.*\})", out).group(1))
srv = (int(s1) - int(s0)) / int(hz)
busy_all = (int(a1) - int(a0)) / int(hz)
n = j["requests"]
print(f"server CPU: {srv:.2f} s over {dur} s = {srv/float(dur):.2f} cores; {srv/n*1e6:.1f} us CPU per call")
print(f"whole machine (all processes) busy+idle ticks: {busy_all:.1f} s of {2*float(dur):.0f} core-seconds "
      f"(idle included; see /proc/stat)")
EOF

if command -v perf >/dev/null && perf record -o /dev/null -- true >/dev/null 2>&1; then
    echo "--- perf record -g on the server for ${PERF_SECS}s under the same load"
    load $((PERF_SECS + 2)) >/dev/null &
    lp=$!
    sleep 1
    perf record -F 999 -g -p "$pid" -o "$work/perf.data" -- sleep "$PERF_SECS" >/dev/null 2>&1 || true
    wait "$lp" || true
    perf report -i "$work/perf.data" --no-children --sort dso --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | head -15
    echo "--- top symbols (self)"
    perf report -i "$work/perf.data" --no-children --sort sym --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -40
else
    echo "perf not usable here (perf_event_paranoid or missing); skipped"
fi
