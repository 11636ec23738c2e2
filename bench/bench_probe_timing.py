"""Measure the probe's own timing error against a server that sends tokens on a known schedule.

    python bench/bench_probe_timing.py                       # concurrency 1 and 64, both backends
    python bench/bench_probe_timing.py --concurrency 1,16,64 --backend openai

A server subprocess streams each response on a fixed schedule (first token 50 ms after the request arrives,
then one every 10 ms) and writes, inside every token, the time.perf_counter() reading taken just before the
bytes went to the socket. On Linux perf_counter is CLOCK_MONOTONIC, shared by both processes, so the probe's
error is measured directly:

    TTFT error = probe TTFT - (server send time of token 1 - probe's request start)
    ITL error  = probe gap  - (server send time of token k+1 - of token k)

i.e. how late the probe timestamps bytes after they leave the server (loopback + HTTP parsing + thread
scheduling). Errors against the nominal schedule (50 ms / 10 ms) are printed too; they add the server's own
sleep jitter. Goal (DESIGN.md): probe error under 1 ms at p50, at concurrency 1 and 64.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FIRST_TOKEN_S = 0.050
GAP_S = 0.010
TOKENS = 32


# ------------------------------------------------------------------------------------- the server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        body = b'{"models": []}' if self.path == "/api/tags" else b'{"data": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802
        t_arrival = time.perf_counter()
        req = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        openai = self.path.startswith("/v1/")
        n = int(req.get("max_tokens") or (req.get("options") or {}).get("num_predict") or TOKENS)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream" if openai else "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        for i in range(n):
            target = t_arrival + FIRST_TOKEN_S + i * GAP_S
            while (d := target - time.perf_counter()) > 0:
                time.sleep(d)
            t_send = time.perf_counter()
            text = f"{t_send:.9f};"
            if openai:
                ev = {"choices": [{"index": 0, "delta": {"content": text}}]}
                data = b"data: " + json.dumps(ev).encode() + b"\n\n"
            else:
                data = json.dumps({"message": {"role": "assistant", "content": text}, "done": False}).encode() + b"\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        if openai:
            usage = {"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": n}}
            tail = b"data: " + json.dumps(usage).encode() + b"\n\ndata: [DONE]\n\n"
        else:
            tail = json.dumps({"done": True, "eval_count": n, "prompt_eval_count": 1}).encode() + b"\n"
        self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(tail), tail))
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512


def serve() -> None:
    """Run the schedule server; print its port on stdout, stop when stdin closes."""
    srv = _Server(("127.0.0.1", 0), _Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    print(srv.server_address[1], flush=True)
    sys.stdin.read()
    srv.shutdown()


# ------------------------------------------------------------------------------------- the client side


def measure(url: str, backend: str, concurrency: int, requests_per_level: int) -> dict[str, np.ndarray]:
    """Run the probe (its real runner and clients) and collect its errors against the server's send times."""
    from probe.runner import ProbeSettings, run_probe

    ttft_err, itl_err, ttft_sched, itl_sched, lateness = [], [], [], [], []
    lock = threading.Lock()

    def on_result(r: Any) -> None:
        if not r.ok:
            return
        sends = [float(x) for x in r.text.split(";") if x]
        if len(sends) != len(r.itl_s) + 1:
            return  # several tokens in one read: no per-token arrival to compare with
        with lock:
            ttft_err.append(r.ttft_s - (sends[0] - r.started_perf_s))
            ttft_sched.append(r.ttft_s - FIRST_TOKEN_S)
            for k, gap in enumerate(r.itl_s):
                itl_err.append(gap - (sends[k + 1] - sends[k]))
                itl_sched.append(gap - GAP_S)
            lateness.append(sends[0] - r.started_perf_s - FIRST_TOKEN_S)

    settings = ProbeSettings(
        concurrency=[concurrency], requests_per_level=requests_per_level, prompt_tokens=16,
        max_tokens=TOKENS, warmup_requests=1,
    )  # fmt: skip
    report = run_probe(url, "schedule", backend, settings, on_result=on_result)
    lv = report.levels[0]
    if lv["ok"] != lv["requests"]:
        raise SystemExit(f"bench run had errors: {lv['errors']}")
    # The warm-up request went through on_result too; it is one sample among many, kept.
    return {k: np.asarray(v) for k, v in
            dict(ttft=ttft_err, itl=itl_err, ttft_sched=ttft_sched, itl_sched=itl_sched, late=lateness).items()}  # fmt: skip


def ms(a: np.ndarray, q: float) -> str:
    return f"{np.percentile(a, q) * 1e3:7.3f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--concurrency", default="1,64")
    ap.add_argument("--backend", choices=["openai", "ollama", "both"], default="both")
    ap.add_argument("--rounds", type=int, default=2, help="requests per worker at each level (at least 20 requests)")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve()
        return 0
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        port = int(server.stdout.readline())  # type: ignore[union-attr]
        url = f"http://127.0.0.1:{port}"
        backends = ["openai", "ollama"] if args.backend == "both" else [args.backend]
        print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} (server and probe share them)")
        print(f"schedule: first token {FIRST_TOKEN_S * 1e3:.0f} ms after arrival, then every {GAP_S * 1e3:.0f} ms, "
              f"{TOKENS} tokens; errors in ms (p50 / p99)")  # fmt: skip
        print(f"{'backend':8} {'conc':>4} {'reqs':>5} | {'TTFT err p50':>12} {'p99':>7} | {'ITL err p50':>11} {'p99':>7} |"
              f" {'TTFT-50ms p50':>13} {'p99':>7} | {'ITL-10ms p50':>12} {'p99':>7} | {'server late p50':>15}")  # fmt: skip
        for backend in backends:
            for c in [int(x) for x in args.concurrency.split(",")]:
                n = max(20, c * args.rounds)
                r = measure(url, backend, c, n)
                print(
                    f"{backend:8} {c:>4} {n:>5} | {ms(r['ttft'], 50):>12} {ms(r['ttft'], 99)} |"
                    f" {ms(r['itl'], 50):>11} {ms(r['itl'], 99)} | {ms(r['ttft_sched'], 50):>13}"
                    f" {ms(r['ttft_sched'], 99)} | {ms(r['itl_sched'], 50):>12} {ms(r['itl_sched'], 99)} |"
                    f" {ms(r['late'], 50):>15}"
                )
    finally:
        server.stdin.close()  # type: ignore[union-attr]
        server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
