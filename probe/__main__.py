"""JSON CLI: python -m probe --url URL --backend ollama|openai|auto --model NAME ... --json (DESIGN.md).

Exit status: 0 every request succeeded, 1 some failed (the JSON is still printed), 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import sys
from typing import Any

from probe import capacity_cli
from probe.clients import StopSignal
from probe.guard import HostNotAllowed, ProbeInputError
from probe.runner import ProbeSettings, RunReport, run_probe

ENV_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class UsageError(Exception):
    """Bad input: one line on stderr, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse would print usage and exit 2; keep one line
        raise UsageError(message)


def _levels(text: str) -> list[int]:
    try:
        levels = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--concurrency wants integers like 1,4,16, got {text!r}") from None
    if not levels:
        raise argparse.ArgumentTypeError("--concurrency needs at least one level")
    return levels


def _rates(text: str) -> list[float]:
    try:
        rates = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--rate wants requests/s like 0.5,1,2, got {text!r}") from None
    if not rates:
        raise argparse.ArgumentTypeError("--rate needs at least one rate")
    bad = [r for r in rates if not (math.isfinite(r) and r > 0)]
    if bad:
        raise argparse.ArgumentTypeError(f"--rate must be above 0 requests/s, got {bad[0]:g}")
    return rates


def _workers(text: str) -> int:
    if text == "auto":
        return max(1, min(os.cpu_count() or 1, 64))
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--workers wants a number or auto, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (flags exactly as DESIGN.md's CLI contract)."""
    p = _Parser(prog="python -m probe", description="Measure TTFT, ITL, TPOT and throughput of a live endpoint.")
    p.add_argument("--url", required=True, help="endpoint base URL, e.g. http://127.0.0.1:11434")
    p.add_argument("--backend", choices=["ollama", "openai", "auto"], default="auto")
    p.add_argument("--model", required=True, help="model name as the server knows it")
    load = p.add_mutually_exclusive_group()
    load.add_argument("--concurrency", type=_levels, default=[1], help="closed loop: users per level, e.g. 1,4,16")
    load.add_argument("--rate", type=_rates, help="open loop: requests/s per level, e.g. 0.5,1,2")
    p.add_argument("--arrival", choices=["poisson", "constant", "gamma"], default="poisson", help="open-loop gaps")
    p.add_argument("--burstiness", type=float, default=1.0, help="gamma shape K (1 = Poisson, <1 burstier)")
    p.add_argument("--duration", type=float, help="seconds per level, instead of --requests")
    p.add_argument("--max-concurrency", type=int, help="open loop: at most this many requests in flight")
    p.add_argument("--seed", type=int, default=0, help="seed of the open-loop arrival schedule")
    p.add_argument("--workers", type=_workers, default=1, help="worker processes splitting each level (N or auto)")
    p.add_argument("--ray-address", help="run the workers as Ray actors: local, auto or ray://HOST:10001")
    p.add_argument("--requests", type=int, default=8, help="requests per level (at least the level's concurrency)")
    p.add_argument("--prompt-tokens", default="128", help="approximate prompt length in tokens: N or MEAN:SD")
    p.add_argument("--max-tokens", default="64", help="output tokens requested per request: N or MEAN:SD")
    p.add_argument("--api-key-env", metavar="VAR", help="environment variable holding a bearer API key")
    p.add_argument("--save", action="store_true", help="store the run (DATABASE_URL or ./data/probe.sqlite)")
    p.add_argument("--warmup", type=int, default=1, help="warm-up requests, excluded from statistics")
    p.add_argument("--read-timeout", type=float, default=60.0, help="longest silence inside a stream, seconds")
    p.add_argument("--deadline", type=float, default=600.0, help="limit for the whole run, seconds")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    capacity_cli.add_arguments(p)
    return p


def _api_key(var: str | None) -> str | None:
    if var is None:
        return None
    if not ENV_VAR_NAME.match(var):
        raise UsageError("--api-key-env takes the NAME of an environment variable, not the key itself")
    key = os.environ.get(var)
    if not key:
        raise UsageError(f"environment variable {var} is not set or empty")
    return key


def _clean(obj: Any) -> Any:
    """JSON-safe: NaN/inf become null (json.dumps(default=str) turns anything else into a string)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    return obj


def _ms(p: Any) -> str:
    return "-" if p.p50 is None else f"{p.p50 * 1e3:.1f}/{p.p99 * 1e3:.1f} ms"


def _text_report(report: RunReport) -> str:
    lines = [f"{report.backend} {report.model} at {report.endpoint}: {report.status}"]
    for err in report.errors:
        lines.append(f"  run error [{err['kind']}] {err['message']}")
    for lv in report.levels:
        tps = lv.output_tokens_per_s
        load = f"c={lv.concurrency:<4}" if lv.rate is None else f"{lv.rate:g} req/s (lag p99 {_ms(lv.schedule_lag_s)})"
        lines.append(
            f"  {load} ok {lv.ok}/{lv.requests}  TTFT p50/p99 {_ms(lv.ttft_s)}  "
            f"ITL {_ms(lv.itl_s)}  TPOT {_ms(lv.tpot_s)}  "
            f"{'-' if tps is None else f'{tps:.1f}'} tok/s"
        )
        for e in lv.errors:
            lines.append(f"      {e.count} x [{e.kind}] {e.message}")
    if report.knee:
        lines.append("  knee: " + report.knee.explanation)
    if report.capacity is not None:
        cap = report.capacity
        lines.append(f"  capacity ({cap['search']}): {cap['value']}" + (f" - {cap['note']}" if cap["note"] else ""))
    if report.run_id:
        lines.append(f"  saved as run {report.run_id}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse, run, print; returns the exit status."""
    stop = StopSignal()
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        args = build_parser().parse_args(argv)
        opts = capacity_cli.options_from_args(args)
        settings = ProbeSettings(
            concurrency=args.concurrency,
            requests_per_level=args.requests,
            prompt_tokens=opts.prompt_tokens.mean,
            max_tokens=opts.max_tokens.mean,
            warmup_requests=args.warmup,
            read_timeout_s=args.read_timeout,
            deadline_s=args.deadline,
            rate=args.rate,
            arrival=args.arrival,
            burstiness=args.burstiness,
            duration_s=args.duration,
            max_concurrency=args.max_concurrency,
            seed=args.seed,
            workers=args.workers,
            ray_address=args.ray_address,
        )
        settings.validate()
        api_key = _api_key(args.api_key_env)
        # Ctrl-C cancels the run; what was measured is still summarised (and saved with --save).
        for sig in previous:
            signal.signal(sig, lambda *_: stop.stop())
        if args.save:
            from probe.record import run_and_save
            from probe.store import ProbeStore

            store = ProbeStore()
            try:
                report = run_and_save(
                    store, args.url, args.model, args.backend, settings=settings, api_key=api_key, stop=stop,
                    options=opts,
                )  # fmt: skip
            finally:
                store.close()
        else:
            report = run_probe(
                args.url, args.model, args.backend, settings=settings, api_key=api_key, stop=stop, options=opts
            )
    except (UsageError, HostNotAllowed, ProbeInputError) as e:
        print(f"error: {e}".splitlines()[0], file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - e.g. the database cannot be opened: one line, never a traceback
        print(f"error: {type(e).__name__}: {e}".splitlines()[0], file=sys.stderr)
        return 2
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(json.dumps(_clean(report.to_json()), default=str) if args.json else _text_report(report))
    return 0 if report.all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
