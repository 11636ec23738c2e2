"""Forecast decode / prefill speed, TTFT, end-to-end latency and throughput of a model on a device.

Run through `python -m calculators speed` (calculators/__main__.py turns bad input into exit status 2)."""

from __future__ import annotations

import argparse
from pathlib import Path

from calculators.cli_sources import add_source_arguments, resolve
from calculators.engines import ENGINES, KV_DTYPES
from calculators.serving.forecast import parse_goodput, serving_fields, serving_keywords, under_load
from calculators.speed import Device, custom_device, forecast, resolve_device
from model_specs import load_catalog
from model_specs.hf_import import model_from_hf_json
from model_specs.schema import ModelSpec

KINDS = ("nvidia", "amd", "apple", "intel", "cpu")  # the custom-device kinds of the DESIGN.md CLI contract


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Flags of `python -m calculators speed` (DESIGN.md)."""
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="catalog model id or alias")
    src.add_argument("--hf-config", metavar="PATH", help="a Hugging Face config.json")
    add_source_arguments(src, p)
    p.add_argument("--quant", help="quantisation (Q4_K_M, Q8_0, F16, MXFP4, FP8, ...; --gguf: the file's)")
    p.add_argument("--engine", default="llama.cpp", choices=ENGINES)
    p.add_argument(
        "--context",
        type=int,
        default=None,
        help="context window in tokens (default 8192 or the model's maximum if smaller)",
    )
    p.add_argument("--prompt-tokens", type=int, default=None, help="prompt length (default 512, capped to fit)")
    p.add_argument("--output-tokens", type=int, default=None, help="answer length (default 256, capped to fit)")
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument(
        "--cached-prefix-tokens",
        type=int,
        default=0,
        help="leading prompt tokens every request finds in the engine's prefix cache (a shared system prompt)",
    )
    p.add_argument("--gpus", type=int, default=1)
    p.add_argument("--kv-dtype", default="f16", choices=KV_DTYPES)
    p.add_argument(
        "--efficiency",
        type=float,
        default=None,
        help="use this bandwidth efficiency (e.g. from your own measurement) instead of the fitted one",
    )
    p.add_argument("--cold-start", action="store_true", help="add the time to read the weights from disk to TTFT")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU devices: threads (llama.cpp -t); default the physical cores (P-cores only on x86 hybrids)",
    )
    hw = p.add_mutually_exclusive_group(required=True)
    hw.add_argument("--hardware", help="catalog hardware id or alias")
    hw.add_argument("--hardware-kind", choices=KINDS, help="custom device: kind (with the flags below)")
    p.add_argument("--memory-bandwidth-gbs", type=float, help="custom device: memory bandwidth, GB/s")
    p.add_argument("--fp16-tflops", type=float, help="custom device: dense FP16 TFLOPS")
    p.add_argument("--memory-gib", type=float, help="custom device: memory, GiB (enables the fit / concurrency check)")
    p.add_argument(
        "--goodput",
        nargs="+",
        metavar="KEY:MS",
        help="SLO per request, as vLLM bench: any of ttft:MS tpot:MS e2e:MS (adds the simulated goodput)",
    )
    p.add_argument(
        "--slo-attainment", type=float, default=0.95, help="share of requests that must meet the SLO (default 0.95)"
    )
    p.add_argument(
        "--search",
        choices=("concurrency", "rate"),
        help="find the largest concurrency (closed loop) or Poisson rate that meets the SLO (needs --goodput)",
    )
    p.add_argument(
        "--search-max", type=float, default=1024, help="largest concurrency or rate the search tries (default 1024)"
    )


def _model(args: argparse.Namespace) -> ModelSpec:
    """The catalog model, or the model described by a Hugging Face config.json (ValueError when unreadable)."""
    if args.model:
        return load_catalog().model(args.model)
    path = Path(args.hf_config)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ValueError(f"cannot read {path}: {e.strerror}") from None
    name = path.stem if path.stem.lower() != "config" else path.resolve().parent.name
    mid = "".join(c if c.isalnum() or c in ".-" else "-" for c in name.lower()).strip("-.") or "hf-model"
    return model_from_hf_json(raw, model_id=mid)


def _device(args: argparse.Namespace) -> Device:
    """The catalog device, or a custom one from kind, bandwidth and FP16 TFLOPS (ValueError on bad flags)."""
    if args.hardware:
        if any(v is not None for v in (args.memory_bandwidth_gbs, args.fp16_tflops, args.memory_gib)):
            raise ValueError(
                "--hardware takes no custom-device flags (--memory-bandwidth-gbs, --fp16-tflops, --memory-gib)"
            )
        return resolve_device(load_catalog().device(args.hardware))
    if args.memory_bandwidth_gbs is None or args.fp16_tflops is None:
        raise ValueError("--hardware-kind needs --memory-bandwidth-gbs and --fp16-tflops")
    return custom_device(args.hardware_kind, args.memory_bandwidth_gbs, args.fp16_tflops, args.memory_gib)


def _slo(args: argparse.Namespace):
    """The --goodput targets (None without them), after checking the SLO flags (ValueError when bad)."""
    if not 0 < args.slo_attainment <= 1:
        raise ValueError(f"--slo-attainment must be in (0, 1], got {args.slo_attainment:g}")
    if not args.search_max >= 1:
        raise ValueError(f"--search-max must be at least 1, got {args.search_max:g}")
    if args.search and not args.goodput:
        raise ValueError("--search needs --goodput targets (e.g. --goodput ttft:2000 tpot:100)")
    return parse_goodput(args.goodput) if args.goodput else None


def run(args: argparse.Namespace) -> dict:
    """Resolve the inputs, forecast, simulate the serving scheduler, and return the JSON-ready result."""
    slo = _slo(args)
    source = resolve(args, args.engine, text_only=True)  # --gguf / --hf-model: the artifact's exact weights
    model = source.model if source else _model(args)
    quant = source.quant if source else args.quant
    if not quant:
        raise ValueError("--quant is required (except with --gguf or --hf-model)")
    device = _device(args)
    fkw = dict(
        engine=args.engine,
        context_tokens=args.context,
        prompt_tokens=args.prompt_tokens,
        output_tokens=args.output_tokens,
        concurrency=args.concurrency,
        gpus=args.gpus,
        kv_dtype=args.kv_dtype,
        efficiency_override=args.efficiency,
        cold_start=args.cold_start,
        threads=args.threads,
        weights_override=source.weights if source else None,
    )
    f = forecast(model, quant, device, **fkw)
    n = args.cached_prefix_tokens
    if not 0 <= n <= f.prompt_tokens:
        raise ValueError(f"--cached-prefix-tokens must be 0..{f.prompt_tokens} (the prompt's tokens), got {n}")
    # as served_forecast, but a bad --goodput or --search is an error here, not a fall back to the closed form
    served = serving_fields(model, quant, device, goodput=slo, slo_attainment=args.slo_attainment, search=args.search,
                            search_max=args.search_max, cached_prefix_tokens=n, **serving_keywords(f, fkw))  # fmt: skip
    out = under_load(f, served).as_dict()  # the headline wins over the simulation's fields of the same name
    out.update({k: round(v, 6) if isinstance(v, float) else v for k, v in served.items() if k not in out})
    return {**out, **(source.info if source else {})}
