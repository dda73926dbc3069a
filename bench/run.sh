#!/usr/bin/env bash
# bench/run.sh: toolhost's benchmarks in one command (see bench/README.md).
#
#   bash bench/run.sh
#
# Environment knobs (all optional):
#   DURATION=10       seconds per wrk run          RUNS=5          runs per startup/drop-in figure
#   SKIP_BUILD=1      use the binaries as they are SKIP_PEER=1     skip the FastMCP comparison
#   SKIP_STARTUP=1    SKIP_DROPIN=1                SKIP_INSTANCE=1 SKIP_PY=1 (no py-hello startup)
#   SKIP_SSH=1        skip the SSH exec and get_system_info benchmarks (they start private sshds)
#   OUT=FILE          also write the report here (default bench/last-run.txt)
#
# All load goes to 127.0.0.1. Every wait is bounded (wrk -d plus a `timeout` guard, startup and
# drop-in waits time out in bench/mcp_probe.py); every server started here is stopped on exit.
set -euo pipefail

bench_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$bench_dir")"
DURATION="${DURATION:-10}"
RUNS="${RUNS:-5}"
OUT="${OUT:-$bench_dir/last-run.txt}"
bin="$repo/target/release/toolhost"
lua="$bench_dir/wrk_mcp.lua"
probe="$bench_dir/mcp_probe.py"
peer_dir="$repo/../shared/peers/fastmcp"
venv="$bench_dir/.venv-fastmcp"
SECRET="bench-secret-0123456789abcdef-0123456789abcdef"   # same as mcp_probe.py

work="$(mktemp -d /tmp/toolhost-bench.XXXXXX)"
results="$work/results.jsonl"
: >"$results"
pids=()

cleanup() {
    local rc=$?
    for p in "${pids[@]}"; do
        kill -INT "$p" 2>/dev/null || true
    done
    for p in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
    done
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '\n=== %s\n' "$*" >&2; }
record() { printf '%s\n' "$1" >>"$results"; }   # one JSON object per line

# ------------------------------------------------------------------ prerequisites
if [[ "${SKIP_BUILD:-0}" != "1" ]]; then
    for f in dist/plugins/utility.wasm dist/fixtures/echo.wasm dist/fixtures/echo-v2.wasm dist/fixtures/py-hello.wasm; do
        if [[ ! -f "$repo/$f" ]]; then
            say "building plugins ($f missing)"
            bash "$repo/plugins/build.sh"
            break
        fi
    done
    say "cargo build --release -p toolhost (a no-op when up to date)"
    (cd "$repo" && cargo build --release -p toolhost)
fi
[[ -x "$bin" ]] || { echo "missing $bin" >&2; exit 1; }
if ! command -v wrk >/dev/null; then
    say "installing wrk (apt)"
    apt-get update -qq && apt-get install -y -qq wrk
fi

cpu="$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)"
ncpu="$(nproc)"
stamp="$(date -u +%Y-%m-%dT%H:%MZ)"
rev="$(cd "$repo" && git rev-parse --short HEAD 2>/dev/null || echo unknown)$(cd "$repo" && git diff --quiet HEAD -- host 2>/dev/null || echo +dirty)"
record "$(printf '{"kind":"env","date":"%s","cpu":"%s","nproc":%s,"rev":"%s","duration_s":%s,"runs":%s,"loadavg":"%s"}' \
    "$stamp" "$cpu" "$ncpu" "$rev" "$DURATION" "$RUNS" "$(cut -d' ' -f1-3 /proc/loadavg)")"

# ------------------------------------------------------------------ helpers
# start_toolhost DIR PLUGIN...: starts a server with its own data/cache dirs under DIR;
# sets URL, TOKEN, CONFIG.
start_toolhost() {
    local dir="$1"; shift
    mkdir -p "$dir/plugins" "$dir/data" "$dir/cache"
    cp "$@" "$dir/plugins/"
    CONFIG="$dir/toolhost.toml"
    cat >"$CONFIG" <<EOF
listen = "127.0.0.1:0"
data_dir = "$dir/data"
plugins_dir = "$dir/plugins"
cache_dir = "$dir/cache"
[auth]
hs256_secret = "$SECRET"
EOF
    RUST_LOG=warn "$bin" serve --config "$CONFIG" >"$dir/stdout" 2>"$dir/stderr" &
    pids+=($!)
    SERVER_PID=$!
    URL=""
    for _ in $(seq 300); do   # 30 s for the banner
        URL="$(sed -n 's/.* listening on \(http:[^ ]*\).*/\1/p' "$dir/stdout" | head -1)"
        [[ -n "$URL" ]] && break
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$dir/stderr" >&2; exit 1; }
        sleep 0.1
    done
    [[ -n "$URL" ]] || { echo "toolhost did not start" >&2; exit 1; }
    for _ in $(seq 1800); do   # 180 s for the first scan (cold compiles)
        [[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/readyz")" == 200 ]] && break
        sleep 0.1
    done
    [[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/readyz")" == 200 ]] || { echo "toolhost not ready" >&2; exit 1; }
    TOKEN="$("$bin" token --sub bench --scope read --config "$CONFIG")"
}

stop_pid() {
    kill -INT "$1" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
}

# wrk_run SERVER LABEL MODE THREADS CONNS URL [SESSIONS]  -> appends a result line
wrk_run() {
    local server="$1" label="$2" mode="$3" t="$4" c="$5" url="$6" sessions="${7:-}" out
    out="$(MCP_MODE="$mode" MCP_TOKEN="${WRK_TOKEN:-}" MCP_SESSIONS="$sessions" MCP_THREADS="$t" \
        MCP_LABEL="$label" timeout $((DURATION + 30)) \
        wrk -t"$t" -c"$c" -d"${DURATION}s" --timeout 5s -s "$lua" "$url" 2>&1)" || true
    local line
    line="$(sed -n 's/^WRK_JSON //p' <<<"$out" | tail -1)"
    if [[ -z "$line" ]]; then
        echo "wrk produced no result for $server $label:" >&2
        echo "$out" >&2
        return 0
    fi
    grep '^WRK_FIRST_ERROR' <<<"$out" >&2 || true
    echo "  $server $label: $line" >&2
    record "{\"kind\":\"wrk\",\"server\":\"$server\",\"conns\":$c,\"load1\":$(cut -d' ' -f1 /proc/loadavg),${line#\{}"
}

warmup() {   # 2 s, not recorded
    local mode="$1" url="$2" sessions="${3:-}"
    MCP_MODE="$mode" MCP_TOKEN="${WRK_TOKEN:-}" MCP_SESSIONS="$sessions" MCP_THREADS=1 \
        timeout 30 wrk -t1 -c4 -d2s --timeout 5s -s "$lua" "$url" >/dev/null 2>&1 || true
}

sessions_csv() {   # N sessions on $URL/mcp
    local n="$1" ids=()
    for _ in $(seq "$n"); do ids+=("$(timeout 20 python3 "$probe" session --url "$URL/mcp" --token "$TOKEN")"); done
    (IFS=,; echo "${ids[*]}")
}

# ------------------------------------------------------------------ a. throughput
say "a. toolhost tools/call echo throughput (${DURATION}s per run)"
start_toolhost "$work/load" "$repo/dist/plugins/utility.wasm" "$repo/dist/fixtures/echo.wasm"
load_pid=$SERVER_PID
mcp="$URL/mcp"
WRK_TOKEN="$TOKEN"
warmup modern "$mcp"
for tc in "1 1" "1 16" "2 16"; do
    set -- $tc
    wrk_run toolhost "-t$1 -c$2" modern "$1" "$2" "$mcp"
done
for tc in "1 1" "1 16" "2 16"; do
    set -- $tc
    s="$(sessions_csv "$1")"
    [[ "$tc" == "1 1" ]] && warmup legacy "$mcp" "$s"
    wrk_run toolhost "-t$1 -c$2" legacy "$1" "$2" "$mcp" "$s"
done
# Diagnostic: the same -t1 -c16 legacy load spread over 16 sessions instead of one.
s="$(sessions_csv 16)"
wrk_run toolhost "-t1 -c16 (16 sessions)" legacy 1 16 "$mcp" "$s"
stop_pid "$load_pid"
WRK_TOKEN=""

# ------------------------------------------------------------------ b. FastMCP peer
if [[ "${SKIP_PEER:-0}" == "1" ]]; then
    say "b. FastMCP peer skipped (SKIP_PEER=1)"
elif [[ ! -f "$peer_dir/fastmcp_server.py" ]]; then
    say "b. FastMCP peer skipped: $peer_dir/fastmcp_server.py not found (../shared is absent)"
    record '{"kind":"note","text":"FastMCP peer skipped: ../shared absent"}'
else
    say "b. FastMCP 4.1.2 peer, same wrk settings, modern mode"
    if ! "$venv/bin/python" -c 'import fastmcp, sys; sys.exit(fastmcp.__version__ != "4.1.2")' 2>/dev/null; then
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check 'fastmcp==4.1.2'
    fi
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    "$venv/bin/python" "$peer_dir/fastmcp_server.py" --port "$port" --stateless \
        >"$work/fastmcp.log" 2>&1 &
    pids+=($!)
    peer_pid=$!
    for _ in $(seq 300); do   # 30 s
        curl -s -o /dev/null "http://127.0.0.1:$port/mcp" && break
        sleep 0.1
    done
    warmup modern "http://127.0.0.1:$port/mcp"
    for tc in "1 1" "1 16" "2 16"; do
        set -- $tc
        wrk_run fastmcp "-t$1 -c$2" modern "$1" "$2" "http://127.0.0.1:$port/mcp"
    done
    stop_pid "$peer_pid"
fi

# ------------------------------------------------------------------ c. startup
if [[ "${SKIP_STARTUP:-0}" != "1" ]]; then
    base="$repo/dist/plugins/utility.wasm,$repo/dist/fixtures/echo.wasm"
    sets=("$base")
    [[ "${SKIP_PY:-0}" != "1" ]] && sets+=("$base,$repo/dist/fixtures/py-hello.wasm")
    for set in "${sets[@]}"; do
        for kind in cold warm; do
            say "c. startup to /readyz 200, $kind, plugins: $(tr ',' '\n' <<<"$set" | xargs -n1 basename | paste -sd+)"
            python3 "$probe" startup --bin "$bin" --plugins "$set" --runs "$RUNS" --kind "$kind" \
                >"$work/probe.out" &
            pids+=($!); wait $! || true
            line="$(tail -1 "$work/probe.out")"
            [[ "$line" == \{* ]] && record "{\"kind\":\"startup\",${line#\{}"
        done
    done
fi

# ------------------------------------------------------------------ d. drop-in
if [[ "${SKIP_DROPIN:-0}" != "1" ]]; then
    for kind in cold cached; do
        say "d. drop-in echo-v2.wasm -> notifications/tools/list_changed, $kind"
        python3 "$probe" dropin --bin "$bin" --echo-v2 "$repo/dist/fixtures/echo-v2.wasm" \
            --base "$repo/dist/plugins/utility.wasm" --runs "$RUNS" --kind "$kind" >"$work/probe.out" &
        pids+=($!); wait $! || true
        line="$(tail -1 "$work/probe.out")"
        [[ "$line" == \{* ]] && record "{\"kind\":\"dropin\",${line#\{}"
    done
fi

# ------------------------------------------------------------------ e. per-call instance
if [[ "${SKIP_INSTANCE:-0}" != "1" ]]; then
    say "e. cargo bench -p toolhost-runtime --bench instance"
    (cd "$repo" && timeout 1800 cargo bench -p toolhost-runtime --bench instance) >"$work/instance.out" 2>&1 || true
    grep -E 'per-call|compile' "$work/instance.out" >&2 || tail -20 "$work/instance.out" >&2
    inst="$(grep -m1 'per-call invoke' "$work/instance.out" || true)"
    [[ -z "$inst" ]] && inst="FAILED: $(grep -m2 -E '^error' "$work/instance.out" | paste -sd' ' -)"
    comp="$(grep -m1 'component compile' "$work/instance.out" || true)"
    record "$(python3 -c 'import json,sys; print(json.dumps({"kind":"instance","line":sys.argv[1],"compile":sys.argv[2]}))' "$inst" "$comp")"
fi

# ------------------------------------------------------------------ f/g. SSH
block() {   # block TITLE FILE: what the benchmark in FILE printed (cargo's own lines left out)
    python3 -c 'import json,re,sys; t,f=sys.argv[1:]; print(json.dumps({"kind":"block","title":t,
"lines":[l.rstrip() for l in open(f) if l.strip() and not re.match(r"\s*(Compiling|Finished|Running|Blocking)\b",l)]
[-40:]}))' "$1" "$2"
}
if [[ "${SKIP_SSH:-0}" != "1" ]]; then
    say "f. cargo bench -p toolhost-ssh --bench exec"
    (cd "$repo" && timeout 1800 cargo bench -p toolhost-ssh --bench exec) >"$work/ssh.out" 2>&1 || true
    grep -vE '^\s*(Compiling|Finished|Running)' "$work/ssh.out" | tail -30 >&2
    record "$(block 'f. cargo bench -p toolhost-ssh --bench exec' "$work/ssh.out")"
    say "g. cargo bench -p toolhost-e2e --bench system_info"
    (cd "$repo" && E2E_SERVER_LOG=warn timeout 1800 cargo bench -p toolhost-e2e --bench system_info) \
        >"$work/sysinfo.out" 2>&1 || true
    tail -4 "$work/sysinfo.out" >&2
    record "$(block 'g. cargo bench -p toolhost-e2e --bench system_info' "$work/sysinfo.out")"
fi

# ------------------------------------------------------------------ report
python3 - "$results" <<'EOF' | tee "$OUT"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
env = next(r for r in rows if r["kind"] == "env")
print(f"toolhost benchmarks  {env['date']}  rev {env['rev']}")
print(f"CPU: {env['cpu']}   nproc: {env['nproc']}   wrk duration: {env['duration_s']} s   runs per median: {env['runs']}")
print(f"load average at start: {env['loadavg']}  (load1 column: 1-min load after each wrk run, which includes wrk itself;")
print("   anything well above ~2 means other processes shared the CPU)")
print()
print("a/b. tools/call echo (wrk, loopback; wrk shares the 2 cores with the server)")
print(f"  {'server':9} {'mode':7} {'wrk':24} {'calls/s':>9} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>7} {'load1':>6}")
for r in rows:
    if r["kind"] == "wrk":
        print(f"  {r['server']:9} {r['mode']:7} {r['label']:24} {r['rps']:9.0f} {r['p50_ms']:8.2f} "
              f"{r['p90_ms']:8.2f} {r['p99_ms']:8.2f} {r['max_ms']:8.1f} {r['errors']:7d} {r['load1']:6.2f}")
for r in rows:
    if r["kind"] == "note":
        print("  " + r["text"])
st = [r for r in rows if r["kind"] == "startup"]
if st:
    print()
    print("c. startup: spawn -> first /readyz 200 (banner = spawn -> 'listening' line; scan = server-reported")
    print("   plugin scan). cold = empty cache dir and new data dir; warm = same cache and data dir again")
    print(f"  {'plugins':36} {'kind':5} {'median ms':>10} {'min':>8} {'max':>8} {'banner':>8} {'scan':>8}  samples")
    for r in st:
        print(f"  {'+'.join(r['plugins']):36} {r['what']:5} {r['median_ms']:10.1f} {r['min_ms']:8.1f} {r['max_ms']:8.1f} "
              f"{r['banner_median_ms']:8.1f} {str(r['scan_median_ms']):>8}  {r['samples_ms']}")
dr = [r for r in rows if r["kind"] == "dropin"]
if dr:
    print()
    print("d. drop-in: rename of echo-v2.wasm into plugins/ -> notifications/tools/list_changed on a")
    print("   2025-11-25 session's GET SSE stream (python http.client)")
    print(f"  {'kind':7} {'median ms':>10} {'min':>8} {'max':>8}  samples")
    for r in dr:
        print(f"  {r['what']:7} {r['median_ms']:10.1f} {r['min_ms']:8.1f} {r['max_ms']:8.1f}  {r['samples_ms']}")
for r in rows:
    if r["kind"] == "instance":
        print()
        print("e. cargo bench -p toolhost-runtime --bench instance")
        print("  " + (r["line"] or "(no result)"))
        if r["compile"]:
            print("  " + r["compile"])
for r in rows:
    if r["kind"] == "block":
        print()
        print(r["title"])
        for line in r["lines"]:
            print("  " + line)
EOF
