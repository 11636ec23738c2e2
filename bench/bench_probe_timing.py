"""The probe's whole timing error against a server that streams on a known schedule, beside a raw-socket client.

    python bench/bench_probe_timing.py                      # the full table (~3 min on 2 cores)
    python bench/bench_probe_timing.py --streams 1,16 --api openai --quick

A server subprocess (asyncio, one loop) answers both APIs: the first token 150 ms after the request arrived, then
one every 20 ms. It logs, inside the stream itself, when the request arrived (its last byte read) and when each
chunk was written (time.perf_counter() just before the write). On Linux perf_counter is CLOCK_MONOTONIC, shared
by every process of the machine, so client and server times compare directly:

    TTFT error = client TTFT - (server write time of token 1 - server arrival time)
               = time from the client's t0 to the request's arrival + from the write to the client's timestamp
    ITL error  = client gap - (server write of token k+1 - of token k)

The reference is a minimal asyncio raw-socket client in this file: request bytes built before t0, one keep-alive
connection per stream, perf_counter on each read. It is the floor for this machine and load; the probe's excess
over it is what the probe itself adds. Open-loop rows check the probe's arrival schedule against the server's
own arrival log: mean gap vs 1/rate and the coefficient of variation (1 for Poisson, 0 for constant), also
against a server with 4 slots that saturates and queues.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FIRST_TOKEN_S = 0.150
GAP_S = 0.020
TOKENS = 8
TOKEN_RE = re.compile(rb"([aw])(\d+\.\d{9});")  # a<arrival>; once, then w<write>; per token
WRITE_RE = re.compile(rb"w\d+\.\d{9};")


# ------------------------------------------------------------------------------------- the server


class ScheduleServer:
    """Streams every response on the schedule; `slots` > 0 queues requests beyond that many (a saturated server)."""

    def __init__(self, slots: int) -> None:
        self.slots = asyncio.Semaphore(slots) if slots > 0 else None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One keep-alive connection: read requests, stream answers."""
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"(?i)content-length:\s*(\d+)", head)
                body = await reader.readexactly(int(length.group(1))) if length else b""
                t_arrival = time.perf_counter()
                path = head.split(b" ", 2)[1]
                if path not in (b"/v1/chat/completions", b"/api/chat"):  # metadata calls: an empty answer
                    data = b'{"models": []}' if path == b"/api/tags" else b'{"data": []}'
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(data), data))
                    continue
                if self.slots is None:
                    await self.stream(writer, path.startswith(b"/v1/"), json.loads(body), t_arrival)
                else:
                    async with self.slots:
                        await self.stream(writer, path.startswith(b"/v1/"), json.loads(body), t_arrival)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def stream(self, writer: asyncio.StreamWriter, openai: bool, req: dict[str, Any], t_arrival: float) -> None:
        """Headers at once, token k at arrival + 150 ms + k x 20 ms (after a queue wait, from the slot's start)."""
        t_start = max(t_arrival, time.perf_counter())
        n = int(req.get("max_tokens") or (req.get("options") or {}).get("num_predict") or TOKENS)
        ctype = b"text/event-stream" if openai else b"application/x-ndjson"
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\n\r\n" % ctype)
        for i in range(n):
            target = t_start + FIRST_TOKEN_S + i * GAP_S
            # The schedule is only nominal (loop wake-ups are ~1 ms coarse); the truth is the logged write time.
            await asyncio.sleep(max(0.0, target - time.perf_counter()))
            t_write = time.perf_counter()
            text = (f"a{t_arrival:.9f};" if i == 0 else "") + f"w{t_write:.9f};"
            if openai:
                data = (
                    b"data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": text}}]}).encode() + b"\n\n"
                )
            else:
                data = json.dumps({"message": {"role": "assistant", "content": text}, "done": False}).encode() + b"\n"
            writer.write(b"%x\r\n%s\r\n" % (len(data), data))
        if openai:
            usage = {"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": n}}
            tail = b"data: " + json.dumps(usage).encode() + b"\n\ndata: [DONE]\n\n"
        else:
            tail = json.dumps({"done": True, "eval_count": n, "prompt_eval_count": 1}).encode() + b"\n"
        writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(tail), tail))
        await writer.drain()


async def _serve(slots: int) -> None:
    srv = ScheduleServer(slots)
    server = await asyncio.start_server(srv.handle, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def start_server(slots: int = 0) -> tuple[subprocess.Popen[str], str]:
    """The schedule server in its own process; returns it and its URL."""
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(slots)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    return proc, f"http://127.0.0.1:{int(proc.stdout.readline())}"  # type: ignore[union-attr]


# ------------------------------------------------------------------------------------- the errors


def errors_of(text: str, ttft_s: float, itl_s: list[float]) -> tuple[float, list[float], float] | None:
    """(TTFT error, ITL errors, arrival time) from one response's text and the client's own timings."""
    marks = TOKEN_RE.findall(text.encode())
    arrival = next((float(v) for k, v in marks if k == b"a"), None)
    writes = [float(v) for k, v in marks if k == b"w"]
    if arrival is None or len(writes) != len(itl_s) + 1:
        return None  # several tokens in one read: no per-token arrival to compare with
    ttft_err = ttft_s - (writes[0] - arrival)
    return ttft_err, [g - (writes[k + 1] - writes[k]) for k, g in enumerate(itl_s)], arrival


# ------------------------------------------------------------------------------------- the raw-socket reference


async def _raw_stream(host: str, port: int, request: bytes, n: int, out: list[Any]) -> None:
    """One keep-alive connection sending n requests back to back; request bytes prepared before t0."""
    reader, writer = await asyncio.open_connection(host, port)
    for _ in range(n):
        t0 = time.perf_counter()
        writer.write(request)
        buf, token_times = b"", []
        while not buf.endswith(b"0\r\n\r\n"):
            data = await reader.read(65536)
            t = time.perf_counter()
            if not data:
                raise ConnectionError("the schedule server closed the connection")
            buf += data
            token_times += [t] * (len(WRITE_RE.findall(buf)) - len(token_times))  # tokens completed by this read
        text = "".join(f"{k.decode()}{v.decode()};" for k, v in TOKEN_RE.findall(buf))
        # Reads that carried two tokens give the same time twice; errors_of drops those responses.
        uniq = sorted(set(token_times))
        if len(uniq) == len(token_times):
            out.append((text, token_times[0] - t0, [b - a for a, b in zip(token_times, token_times[1:], strict=False)]))
    writer.close()


def raw_reference(url: str, api: str, streams: int, rounds: int) -> dict[str, np.ndarray]:
    """TTFT/ITL errors of the raw-socket client at `streams` concurrent connections."""
    host, port = url.split("//")[1].split(":")
    path = "/v1/chat/completions" if api == "openai" else "/api/chat"
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": TOKENS,
                       "options": {"num_predict": TOKENS}, "stream": True}).encode()  # fmt: skip
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    out: list[Any] = []

    async def main() -> None:
        await asyncio.gather(*(_raw_stream(host, int(port), request, rounds, out) for _ in range(streams)))

    asyncio.run(main())
    return _collect(out)


async def _lib_stream(kind: str, client: Any, url: str, body: bytes, n: int, out: list[Any]) -> None:
    """One stream through a bare library client (aiohttp or httpx): one untimed request opens the connection."""
    headers = {"Content-Type": "application/json"}
    for i in range(n + 1):
        buf, times = b"", []
        t0 = time.perf_counter()
        if kind == "aiohttp":
            async with client.post(url, data=body, headers=headers) as resp:
                async for chunk in resp.content.iter_any():
                    t = time.perf_counter()
                    buf += chunk
                    times += [t] * (len(WRITE_RE.findall(buf)) - len(times))
        else:
            async with client.stream("POST", url, content=body, headers=headers) as resp:
                async for chunk in resp.aiter_raw():
                    t = time.perf_counter()
                    buf += chunk
                    times += [t] * (len(WRITE_RE.findall(buf)) - len(times))
        text = "".join(f"{k.decode()}{v.decode()};" for k, v in TOKEN_RE.findall(buf))
        if i and times and len(set(times)) == len(times):
            out.append((text, times[0] - t0, [b - a for a, b in zip(times, times[1:], strict=False)]))


def library_reference(kind: str, url: str, api: str, streams: int, rounds: int) -> dict[str, np.ndarray]:
    """TTFT/ITL errors of a bare aiohttp or httpx client (t0 before the library call), the choice's evidence."""
    path = "/v1/chat/completions" if api == "openai" else "/api/chat"
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": TOKENS,
                       "options": {"num_predict": TOKENS}, "stream": True}).encode()  # fmt: skip
    out: list[Any] = []

    async def main() -> None:
        if kind == "aiohttp":
            import aiohttp

            client: Any = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        else:
            import httpx

            limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
            client = httpx.AsyncClient(limits=limits, timeout=None)
        async with client:
            await asyncio.gather(*(_lib_stream(kind, client, url + path, body, rounds, out) for _ in range(streams)))

    asyncio.run(main())
    return _collect(out)


def _collect(samples: list[tuple[str, float, list[float]]]) -> dict[str, np.ndarray]:
    ttft, itl = [], []
    for text, t, gaps in samples:
        e = errors_of(text, t, gaps)
        if e is not None:
            ttft.append(e[0])
            itl += e[1]
    return {"ttft": np.asarray(ttft), "itl": np.asarray(itl)}


# ------------------------------------------------------------------------------------- the probe


def _settings(**kw: Any) -> Any:
    from probe.runner import ProbeSettings

    known = {f.name for f in fields(ProbeSettings)}
    missing = [k for k, v in kw.items() if k not in known and v not in (None, 1)]
    if missing:
        return None  # this version of the probe cannot do it (e.g. the sync probe had no workers)
    return ProbeSettings(**{k: v for k, v in kw.items() if k in known})


def probe_errors(url: str, api: str, streams: int, rounds: int, workers: int) -> dict[str, np.ndarray] | None:
    """TTFT/ITL errors of the probe (its real runner and clients) at `streams` concurrent requests."""
    from probe.runner import run_probe

    settings = _settings(concurrency=[streams], requests_per_level=streams * rounds, prompt_tokens=8,
                         max_tokens=TOKENS, warmup_requests=1, workers=workers)  # fmt: skip
    if settings is None:
        return None
    out: list[Any] = []
    report = run_probe(url, "m", api, settings, on_result=lambda r: out.append((r.text, r.ttft_s, list(r.itl_s))))
    lv = report.levels[0]
    if lv.ok != lv.requests:
        raise SystemExit(f"bench run had errors: {lv.errors}")
    return _collect([s for s in out if s[1] is not None])


def open_loop(url: str, rate: float, arrival: str, n: int) -> tuple[float, float, float, float] | None:
    """(mean gap x rate, CV of gaps, achieved/asked, CV of the drawn schedule) from the server's arrival log."""
    from probe.runner import run_probe

    settings = _settings(rate=[rate], arrival=arrival, requests_per_level=n, prompt_tokens=8, max_tokens=TOKENS,
                         warmup_requests=0, seed=1)  # fmt: skip
    if settings is None:
        return None
    arrivals: list[float] = []
    report = run_probe(url, "m", "openai", settings, on_result=lambda r: arrivals.append(_arrival(r.text)))
    gaps = np.diff(np.sort([a for a in arrivals if a is not None]))
    lv = report.levels[0]
    from probe.engine import arrival_offsets_s

    planned = np.diff(arrival_offsets_s(rate, arrival, 1.0, 1, n, None))
    planned_cv = float(planned.std() / planned.mean())
    return float(gaps.mean() * rate), float(gaps.std() / gaps.mean()), (lv.achieved_rate or 0.0) / rate, planned_cv


def _arrival(text: str) -> float | None:
    m = re.search(r"a(\d+\.\d{9});", text)
    return float(m.group(1)) if m else None


# ------------------------------------------------------------------------------------- main


def ms(a: np.ndarray, q: float) -> str:
    return f"{np.percentile(a, q) * 1e3:8.3f}" if len(a) else "     n/a"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--streams", default="1,16,64,256")
    ap.add_argument("--api", choices=["openai", "ollama", "both"], default="both")
    ap.add_argument("--workers", default="1,2", help="worker processes to try at 64+ streams")
    ap.add_argument("--quick", action="store_true", help="fewer requests")
    ap.add_argument("--no-open-loop", action="store_true")
    ap.add_argument("--libraries", action="store_true", help="also bare aiohttp and httpx clients (OpenAI, <= 64)")
    ap.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve is not None:
        asyncio.run(_serve(args.serve))
        return 0
    server, url = start_server()
    try:
        apis = ["openai", "ollama"] if args.api == "both" else [args.api]
        print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} (server and clients share them)")
        print(f"schedule: first token {FIRST_TOKEN_S * 1e3:.0f} ms after arrival, then every {GAP_S * 1e3:.0f} ms, "
              f"{TOKENS} tokens; errors in ms against the server's own arrival and write times")  # fmt: skip
        print(f"{'api':7} {'streams':>7} {'client':>10} {'n':>5} | {'TTFT err p50':>12} {'p99':>8} |"
              f" {'ITL err p50':>11} {'p99':>8}")  # fmt: skip
        for api in apis:
            for streams in [int(x) for x in args.streams.split(",")]:
                rounds = max(1, (12 if streams == 1 else 2 if streams <= 16 else 1) // (2 if args.quick else 1))
                rows = [("raw-socket", raw_reference(url, api, streams, rounds))]
                if args.libraries and api == "openai" and streams <= 64:
                    rows += [(k, library_reference(k, url, api, streams, rounds)) for k in ("aiohttp", "httpx")]
                for w in [int(x) for x in args.workers.split(",")]:
                    if w == 1 or streams >= 64:
                        rows.append((f"probe w={w}", probe_errors(url, api, streams, rounds, w)))
                for name, r in rows:
                    if r is None:
                        print(f"{api:7} {streams:>7} {name:>10}   n/a (this probe has no such option)")
                        continue
                    print(f"{api:7} {streams:>7} {name:>10} {len(r['ttft']):>5} | {ms(r['ttft'], 50):>12}"
                          f" {ms(r['ttft'], 99)} | {ms(r['itl'], 50):>11} {ms(r['itl'], 99)}")  # fmt: skip
    finally:
        server.stdin.close()  # type: ignore[union-attr]
        server.wait(timeout=10)
    if not args.no_open_loop:
        _open_loop_table(args.quick)
    return 0


def _open_loop_table(quick: bool) -> None:
    """Open-loop schedule statistics against a free server and one with 4 slots that saturates."""
    print("\nopen loop, from the server's arrival log (targets: mean gap x rate within 0.05 of 1, CV within 0.1)")
    print(f"{'server':10} {'arrival':9} {'rate':>5} {'n':>4} | {'gap x rate':>10} {'CV':>6} {'drawn CV':>8}"
          f" {'pattern CV':>10} | {'achieved/asked':>14}")  # fmt: skip
    n = 60 if quick else 150
    for slots in (0, 4):
        server, url = start_server(slots)
        try:
            for arrival, rate in (("poisson", 40.0), ("constant", 40.0), ("poisson", 100.0)):
                r = open_loop(url, rate, arrival, n)
                name = "free" if slots == 0 else f"{slots} slots"
                if r is None:
                    print(f"{name:10} {arrival:9} {rate:>5g} {n:>4} | n/a (this probe has no open loop)")
                    continue
                want = 1.0 if arrival == "poisson" else 0.0
                print(f"{name:10} {arrival:9} {rate:>5g} {n:>4} | {r[0]:>10.3f} {r[1]:>6.3f} {r[3]:>8.3f}"
                      f" {want:>10.1f} | {r[2]:>14.3f}")  # fmt: skip
        finally:
            server.stdin.close()  # type: ignore[union-attr]
            server.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
