#!/usr/bin/env python3
"""bench/mcp_probe.py: the timing helpers bench/run.sh uses (python3 standard library only).

  session  --url URL --token T            open a 2025-11-25 session; print its Mcp-Session-Id
  startup  --bin B --plugins F,... --runs N --kind cold|warm
                                           time process spawn -> first /readyz 200, N runs
  dropin   --bin B --echo-v2 F --base F,... --runs N --kind cold|cached
                                           time rename of echo-v2.wasm into the plugins dir ->
                                           notifications/tools/list_changed on a session's GET stream

Every wait is bounded; every server this script starts is killed before it returns. Results are
printed as one JSON object on the last line of stdout.
"""
import argparse
import http.client
import json
import os
import queue
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

SECRET = "bench-secret-0123456789abcdef-0123456789abcdef"
READY_TIMEOUT = 180.0  # py-hello cold compiles take tens of seconds on 2 cores
EVENT_TIMEOUT = 60.0
LEGACY = "2025-11-25"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- server lifecycle

def write_config(root, plugins_dir, cache_dir, data_dir):
    cfg = os.path.join(root, "toolhost.toml")
    with open(cfg, "w") as f:
        f.write(
            'listen = "127.0.0.1:0"\n'
            f"data_dir = {json.dumps(data_dir)}\n"
            f"plugins_dir = {json.dumps(plugins_dir)}\n"
            f"cache_dir = {json.dumps(cache_dir)}\n"
            "[auth]\n"
            f"hs256_secret = {json.dumps(SECRET)}\n"
        )
    return cfg


class Server:
    """One `toolhost serve`; url is known once it printed its banner."""

    def __init__(self, binary, cfg, logfile):
        self.t0 = time.perf_counter()
        self.log = open(logfile, "ab")
        self.proc = subprocess.Popen(
            [binary, "serve", "--config", cfg],
            stdout=subprocess.PIPE, stderr=self.log,
            env=dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "info")),
        )
        self.url = None
        self.t_listen = None
        self._lines = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            self.log.write(raw)
            self._lines.put(line)
        self._lines.put(None)

    def wait_url(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        while self.url is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError("server did not print its URL in time")
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise RuntimeError(f"server exited ({self.proc.wait()}) before printing its URL")
            m = re.search(r" listening on (http://\S+)", line)
            if m:
                self.url = m.group(1)
                self.t_listen = time.perf_counter()
        return self.url

    def wait_ready(self, timeout=READY_TIMEOUT, interval=0.002):
        """Polls /readyz on one keep-alive connection; returns seconds since spawn."""
        self.wait_url()
        u = urllib.parse.urlsplit(self.url)
        deadline = time.monotonic() + timeout
        conn = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}")
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
                conn.request("GET", "/readyz")
                r = conn.getresponse()
                r.read()
                if r.status == 200:
                    t = time.perf_counter() - self.t0
                    conn.close()
                    return t
            except (OSError, http.client.HTTPException):
                conn = None
            time.sleep(interval)
        raise RuntimeError("server not ready in time")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.log.close()


def copy_plugins(files, dest):
    os.makedirs(dest, exist_ok=True)
    for f in files:
        shutil.copy(f, os.path.join(dest, os.path.basename(f)))


def scan_ms(logfile):
    """The server's own `plugin scan finished ... ms=N` figure from its log (last one)."""
    try:
        text = open(logfile, errors="replace").read()
    except OSError:
        return None
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    found = re.findall(r"plugin scan finished.*?ms=(\d+)", text)
    return int(found[-1]) if found else None


# ---------------------------------------------------------------- MCP over http.client

def post(url, token, body, sid=None, version=LEGACY):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    h = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "Authorization": f"Bearer {token}",
    }
    if sid:
        h["Mcp-Session-Id"] = sid
        h["MCP-Protocol-Version"] = version
    conn.request("POST", u.path, json.dumps(body), h)
    r = conn.getresponse()
    data = r.read().decode(errors="replace")
    conn.close()
    return r.status, r.getheader("Mcp-Session-Id"), data


def open_session(url, token):
    status, sid, data = post(url, token, {
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": LEGACY, "capabilities": {},
                   "clientInfo": {"name": "toolhost-bench", "version": "0"}},
    })
    if status != 200 or not sid:
        raise RuntimeError(f"initialize: HTTP {status}, session {sid!r}: {data[:300]}")
    status, _, data = post(url, token, {"jsonrpc": "2.0", "method": "notifications/initialized"}, sid)
    if status not in (200, 202):
        raise RuntimeError(f"notifications/initialized: HTTP {status}: {data[:300]}")
    return sid


class SseListener:
    """Holds a session's standalone GET stream open and timestamps every JSON-RPC method seen."""

    def __init__(self, url, token, sid):
        u = urllib.parse.urlsplit(url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=EVENT_TIMEOUT + 5)
        self.conn.request("GET", u.path, headers={
            "Accept": "text/event-stream",
            "Authorization": f"Bearer {token}",
            "Mcp-Session-Id": sid,
            "MCP-Protocol-Version": LEGACY,
        })
        self.resp = self.conn.getresponse()
        if self.resp.status != 200:
            raise RuntimeError(f"GET stream: HTTP {self.resp.status}: {self.resp.read()[:300]!r}")
        self.events = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            while True:
                line = self.resp.readline()
                if not line:
                    break
                t = time.perf_counter()
                line = line.decode(errors="replace").strip()
                if line.startswith("data:"):
                    try:
                        msg = json.loads(line[5:].strip())
                    except ValueError:
                        continue
                    if isinstance(msg, dict) and "method" in msg:
                        self.events.put((t, msg["method"]))
        except (OSError, http.client.HTTPException, ValueError):
            pass
        self.events.put((time.perf_counter(), None))

    def wait_for(self, method, timeout=EVENT_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"no {method} within {timeout}s")
            try:
                t, m = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if m is None:
                raise RuntimeError("GET stream closed")
            if m == method:
                return t

    def drain(self):
        while not self.events.empty():
            self.events.get_nowait()

    def close(self):
        try:
            self.conn.sock.shutdown(2)
        except OSError:
            pass
        self.conn.close()


def mint(binary, cfg):
    return subprocess.run([binary, "token", "--sub", "bench", "--scope", "read", "--config", cfg],
                          check=True, capture_output=True, text=True, timeout=30).stdout.strip()


def drop_in(src, plugins_dir, name):
    """Write a hidden temp file (ignored by the watcher), then rename: returns the rename time."""
    tmp = os.path.join(plugins_dir, f".{name}.tmp")
    shutil.copy(src, tmp)
    t = time.perf_counter()
    os.rename(tmp, os.path.join(plugins_dir, name))
    return t


# ---------------------------------------------------------------- commands

def summary(samples_ms, **extra):
    out = {"runs": len(samples_ms), "median_ms": round(statistics.median(samples_ms), 1),
           "min_ms": round(min(samples_ms), 1), "max_ms": round(max(samples_ms), 1),
           "samples_ms": [round(s, 1) for s in samples_ms]}
    out.update(extra)
    return out


def cmd_session(a):
    print(open_session(a.url, a.token))


def cmd_startup(a):
    files = [f for f in a.plugins.split(",") if f]
    root = tempfile.mkdtemp(prefix="toolhost-bench-start-")
    try:
        plugins = os.path.join(root, "plugins")
        copy_plugins(files, plugins)
        samples, listen, scans = [], [], []
        cache = os.path.join(root, "cache-warm")
        data = os.path.join(root, "data-warm")
        runs = a.runs + (1 if a.kind == "warm" else 0)  # warm: one unmeasured run fills the cache
        for i in range(runs):
            if a.kind == "cold":
                cache = os.path.join(root, f"cache-{i}")
                data = os.path.join(root, f"data-{i}")
            cfg = write_config(root, plugins, cache, data)
            logfile = os.path.join(root, f"server-{a.kind}-{i}.log")
            srv = Server(a.bin, cfg, logfile)
            try:
                t = srv.wait_ready()
                t_listen = srv.t_listen - srv.t0
            finally:
                srv.stop()
            if a.kind == "warm" and i == 0:
                continue
            samples.append(t * 1e3)
            listen.append(t_listen * 1e3)
            s = scan_ms(logfile)
            if s is not None:
                scans.append(s)
            log(f"  startup {a.kind} run {len(samples)}: ready {t*1e3:.1f} ms "
                f"(banner {t_listen*1e3:.1f} ms, server-reported scan {s} ms)")
        print(json.dumps(summary(
            samples, what=a.kind, plugins=[os.path.basename(f) for f in files],
            banner_median_ms=round(statistics.median(listen), 1),
            scan_median_ms=statistics.median(scans) if scans else None)))
    finally:
        if not a.keep:
            shutil.rmtree(root, ignore_errors=True)


def cmd_dropin(a):
    base = [f for f in a.base.split(",") if f]
    root = tempfile.mkdtemp(prefix="toolhost-bench-dropin-")
    name = "echo-v2.wasm"
    samples = []
    try:
        plugins = os.path.join(root, "plugins")
        copy_plugins(base, plugins)

        def start(i):
            cache = os.path.join(root, f"cache-{i}")
            cfg = write_config(root, plugins, cache, os.path.join(root, "data"))
            srv = Server(a.bin, cfg, os.path.join(root, f"server-{a.kind}-{i}.log"))
            srv.wait_ready()
            token = mint(a.bin, cfg)
            url = srv.url + "/mcp"
            sid = open_session(url, token)
            return srv, SseListener(url, token, sid)

        if a.kind == "cold":
            # A fresh server and cache per run: the dropped component must be compiled.
            for i in range(a.runs):
                target = os.path.join(plugins, name)
                if os.path.exists(target):
                    os.remove(target)
                srv, sse = start(i)
                try:
                    time.sleep(0.2)  # let the session's change subscription settle
                    t0 = drop_in(a.echo_v2, plugins, name)
                    t1 = sse.wait_for("notifications/tools/list_changed")
                finally:
                    sse.close()
                    srv.stop()
                samples.append((t1 - t0) * 1e3)
                log(f"  drop-in cold run {i+1}: {samples[-1]:.1f} ms")
        else:
            # One server: drop once to fill the cache (unmeasured), then remove + drop again.
            srv, sse = start(0)
            try:
                time.sleep(0.2)
                drop_in(a.echo_v2, plugins, name)
                sse.wait_for("notifications/tools/list_changed")
                for i in range(a.runs):
                    os.remove(os.path.join(plugins, name))
                    sse.wait_for("notifications/tools/list_changed")  # the removal's
                    time.sleep(0.2)
                    sse.drain()
                    t0 = drop_in(a.echo_v2, plugins, name)
                    t1 = sse.wait_for("notifications/tools/list_changed")
                    samples.append((t1 - t0) * 1e3)
                    log(f"  drop-in cached run {i+1}: {samples[-1]:.1f} ms")
            finally:
                sse.close()
                srv.stop()
        print(json.dumps(summary(samples, what=a.kind, listener="python http.client, GET SSE stream")))
    finally:
        if not a.keep:
            shutil.rmtree(root, ignore_errors=True)


def main():
    # run.sh stops us with SIGTERM: unwind so every `finally` stops its server.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("session")
    s.add_argument("--url", required=True)
    s.add_argument("--token", required=True)
    s = sub.add_parser("startup")
    s.add_argument("--bin", required=True)
    s.add_argument("--plugins", required=True)
    s.add_argument("--runs", type=int, default=5)
    s.add_argument("--kind", choices=["cold", "warm"], required=True)
    s.add_argument("--keep", action="store_true")
    s = sub.add_parser("dropin")
    s.add_argument("--bin", required=True)
    s.add_argument("--echo-v2", required=True)
    s.add_argument("--base", required=True)
    s.add_argument("--runs", type=int, default=5)
    s.add_argument("--kind", choices=["cold", "cached"], required=True)
    s.add_argument("--keep", action="store_true")
    a = p.parse_args()
    {"session": cmd_session, "startup": cmd_startup, "dropin": cmd_dropin}[a.cmd](a)


if __name__ == "__main__":
    main()
