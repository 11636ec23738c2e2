"""Cost: owned hardware vs cloud GPU vs hosted API per month and per million tokens, with break-even and payback."""

from __future__ import annotations

import argparse
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from calculators.cost import (
    HOURS_PER_MONTH,
    OPTIONS,
    CostInputError,
    CostRequest,
    Workload,
    compare,
    plan_costs,
    prefix_cached_input_share,
    sensitivities,
)
from model_specs import load_catalog


@dataclass(frozen=True)
class Flag:
    """One command-line flag: the single list that --help, docs/cost-cli.md and the tests read."""

    name: str
    type: Any
    default: Any
    help: str
    group: str


_W = "workload"
_O = "owned hardware"
_C = "cloud GPU"
_A = "hosted API"
_M = "model and throughput"

FLAGS: tuple[Flag, ...] = (
    Flag("--model", str, "gemma-4-e4b", "catalog model id (owned option; default for the others)", _M),
    Flag("--quant", str, "Q4_K_M", "quantization (GGUF name, FP8, AWQ, ...)", _M),
    Flag("--engine", str, "llama.cpp", "engine of the owned option: llama.cpp, ollama, vllm, transformers", _M),
    Flag("--hardware", str, "rtx-4090", "catalog hardware id of the owned option", _M),
    Flag("--gpus", int, 1, "devices per replica (tensor parallel); replicas are added for the peak", _M),
    Flag("--context", int, 8192, "context length in tokens, for the forecast", _M),
    Flag("--prompt-tokens", int, 1000, "input tokens per request (forecast TTFT; with --requests-per-day)", _M),
    Flag("--output-tokens", int, 200, "output tokens per request (with --requests-per-day)", _M),
    Flag("--cached-prefix-tokens", int, 0, "leading prompt tokens each request finds in the engine's prefix cache", _M),
    Flag(
        "--tokens-per-s",
        float,
        None,
        "measured aggregate output tokens/s of one owned replica (overrides the forecast; e.g. from a probe run)",
        _M,
    ),
    Flag("--measured-concurrency", int, None, "concurrent streams the --tokens-per-s figure was measured at", _M),
    Flag("--monthly-input-tokens", float, 100e6, "input tokens a month", _W),
    Flag("--monthly-output-tokens", float, 20e6, "output tokens a month", _W),
    Flag(
        "--requests-per-day",
        float,
        None,
        "requests a day; replaces the monthly token flags with requests x "
        f"tokens per request x {HOURS_PER_MONTH / 24:.2f} days",
        _W,
    ),
    Flag("--peak-concurrency", int, 1, "most requests in flight at once", _W),
    Flag("--p95-ttft-s", float, None, "latency target: time to first token, seconds (p95)", _W),
    Flag("--min-user-tokens-per-s", float, None, "latency target: output tokens/s each user must see", _W),
    Flag("--utilization", float, 0.5, "share of the month's 730 hours in which traffic arrives (0-1]", _W),
    Flag(
        "--cached-input-share",
        float,
        None,
        "share of input tokens billed at the API's cached price (default: --cached-prefix-tokens / --prompt-tokens)",
        _W,
    ),
    Flag(
        "--hardware-price-usd", float, None, "purchase price per device, USD (default: catalog; 0 = already owned)", _O
    ),
    Flag("--amortization-months", float, 36, "months over which the purchase is paid off", _O),
    Flag("--cost-of-capital", float, 0.0, "annual rate for the annuity, e.g. 0.08 (0 = straight line)", _O),
    Flag("--power-watts", float, None, "draw per device while computing, W (default: catalog TDP)", _O),
    Flag("--idle-watts", float, None, "draw per device while idle, W (default: 10 %% of --power-watts)", _O),
    Flag("--electricity-usd-per-kwh", float, 0.15, "electricity price, USD per kWh", _O),
    Flag("--pue", float, 1.0, "power usage effectiveness (facility overhead), >= 1", _O),
    Flag("--fixed-usd-per-month", float, 0.0, "other fixed monthly costs (rack, support), USD", _O),
    Flag(
        "--cloud-hardware",
        str,
        None,
        "catalog hardware id to rent (default: --hardware if rentable, else the "
        "cheapest rentable device the weights fit on)",
        _C,
    ),
    Flag("--cloud-model", str, None, "model on the cloud GPU (default: --model)", _C),
    Flag(
        "--cloud-quant",
        str,
        None,
        "quantization on the cloud GPU (default: --quant if the cloud engine runs it, else AWQ)",
        _C,
    ),
    Flag("--cloud-engine", str, "vllm", "engine on the cloud GPU", _C),
    Flag("--cloud-gpus", int, None, "devices per cloud replica (default: --gpus)", _C),
    Flag("--cloud-provider", str, None, "catalog provider of the cloud price (default: cheapest)", _C),
    Flag("--cloud-usd-per-hour", float, None, "typed cloud price, USD per GPU-hour (overrides the catalog)", _C),
    Flag(
        "--cloud-tokens-per-s",
        float,
        None,
        "measured aggregate output tokens/s of one cloud replica (overrides the forecast)",
        _C,
    ),
    Flag("--scale-to-zero", bool, False, "bill cloud GPUs for the busy hours only (serverless)", _C),
    Flag("--api-model", str, None, "model behind the hosted API (default: --model)", _A),
    Flag("--api-provider", str, None, "catalog provider of the API price (default: cheapest at this mix)", _A),
    Flag("--api-input-usd-per-mtok", float, None, "typed API price per million input tokens", _A),
    Flag("--api-output-usd-per-mtok", float, None, "typed API price per million output tokens", _A),
    Flag("--api-cached-input-usd-per-mtok", float, None, "typed API price per million cached input tokens", _A),
    Flag("--sensitivity-pct", float, 20.0, "how far each tornado input moves, +- percent", _A),
)


def _dest(flag: Flag) -> str:
    return flag.name.lstrip("-").replace("-", "_")


def _default_text(f: Flag) -> str | None:
    """The default as --help and the doc show it; None when it comes from the catalog or is derived."""
    if f.default is None:
        return None
    return f"{f.default:g}" if isinstance(f.default, float) else str(f.default)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register every flag in FLAGS, grouped as in docs/cost-cli.md."""
    groups: dict[str, Any] = {}
    for f in FLAGS:
        g = groups.get(f.group) or groups.setdefault(f.group, parser.add_argument_group(f.group))
        if f.type is bool:
            g.add_argument(f.name, action="store_true", help=f.help)
        else:
            default = _default_text(f)
            shown = f" (default: {default})" if default is not None else ""
            g.add_argument(f.name, type=f.type, default=f.default, help=f.help + shown)


def flags_markdown() -> str:
    """The flag table of docs/cost-cli.md, generated from FLAGS."""
    lines = []
    for group in dict.fromkeys(f.group for f in FLAGS):
        lines += [f"### {group[0].upper()}{group[1:]}", "", "| Flag | Default | Meaning |", "|---|---|---|"]
        for f in (f for f in FLAGS if f.group == group):
            default = "off" if f.type is bool else (_default_text(f) or "catalog / derived")
            lines.append(f"| `{f.name}` | {default} | {f.help.replace('%%', '%')} |")
        lines.append("")
    return "\n".join(lines)


def _finite_args(args: argparse.Namespace) -> None:
    for f in FLAGS:
        v = getattr(args, _dest(f), None)
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"{f.name} must be a finite number")
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v < 0:
            raise ValueError(f"{f.name} must not be negative")


def request_from_args(args: argparse.Namespace) -> CostRequest:
    """The CostRequest the flags describe."""
    _finite_args(args)
    wkw = dict(
        peak_concurrency=args.peak_concurrency,
        utilization=args.utilization,
        p95_ttft_s=args.p95_ttft_s,
        min_user_tokens_per_s=args.min_user_tokens_per_s,
        cached_input_share=prefix_cached_input_share(args.cached_prefix_tokens, args.prompt_tokens)
        if args.cached_input_share is None
        else args.cached_input_share,
    )
    if args.requests_per_day is not None:
        w = Workload.from_requests(args.requests_per_day, args.prompt_tokens, args.output_tokens, **wkw)
    else:
        w = Workload(args.monthly_input_tokens, args.monthly_output_tokens, **wkw)
    return CostRequest(
        workload=w,
        model=args.model,
        quant=args.quant,
        engine=args.engine,
        hardware=args.hardware,
        gpus=args.gpus,
        context_tokens=args.context,
        prompt_tokens=args.prompt_tokens,
        output_tokens=args.output_tokens,
        cached_prefix_tokens=args.cached_prefix_tokens,
        hardware_price_usd=args.hardware_price_usd,
        amortization_months=args.amortization_months,
        cost_of_capital=args.cost_of_capital,
        power_watts=args.power_watts,
        idle_watts=args.idle_watts,
        electricity_usd_per_kwh=args.electricity_usd_per_kwh,
        pue=args.pue,
        fixed_usd_per_month=args.fixed_usd_per_month,
        tokens_per_s=args.tokens_per_s,
        measured_concurrency=args.measured_concurrency,
        cloud_hardware=args.cloud_hardware,
        cloud_model=args.cloud_model,
        cloud_quant=args.cloud_quant,
        cloud_engine=args.cloud_engine,
        cloud_gpus=args.cloud_gpus,
        cloud_provider=args.cloud_provider,
        cloud_usd_per_hour=args.cloud_usd_per_hour,
        cloud_tokens_per_s=args.cloud_tokens_per_s,
        scale_to_zero=args.scale_to_zero,
        api_model=args.api_model,
        api_provider=args.api_provider,
        api_input_usd_per_mtok=args.api_input_usd_per_mtok,
        api_output_usd_per_mtok=args.api_output_usd_per_mtok,
        api_cached_input_usd_per_mtok=args.api_cached_input_usd_per_mtok,
    )


def _round(x: Any) -> Any:
    if isinstance(x, float):
        return None if not math.isfinite(x) else round(x, 6)
    if isinstance(x, dict):
        return {k: _round(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_round(v) for v in x]
    return x


def flags_for(request_fields: tuple[str, ...]) -> str:
    """The CLI flags that set these CostRequest fields: '--api-input-usd-per-mtok and --api-output-usd-per-mtok'."""
    names = {f.name for f in FLAGS}
    flags = [f"--{field.replace('_', '-')}" for field in request_fields]
    return " and ".join(f for f in flags if f in names)


def run(args: argparse.Namespace) -> dict:
    """Compare the three options for the flags' scenario; the JSON the CLI prints."""
    req = request_from_args(args)
    try:
        plan = plan_costs(load_catalog(), req)
    except CostInputError as e:  # the calculator names the input in words; the CLI adds its flags
        raise ValueError(f"{e} ({flags_for(e.request_fields)})") from None
    result = compare(plan.inputs)
    out = result.to_dict()
    for name, m in plan.missing.items():
        if m.request_fields:
            out[name]["missing"] = f"{m.reason}; pass {flags_for(m.request_fields)}"
    for name in OPTIONS:
        out[name]["label"] = plan.labels.get(name)
        if name in plan.sizing:
            out[name]["sizing"] = plan.sizing[name]
    out["throughput_source"] = plan.throughput_source
    if plan.api_substitute is not None:  # the API column prices the nearest hosted model
        out["api_substitute"] = asdict(plan.api_substitute)
    out["quotes"] = {k: asdict(q) for k, q in plan.quotes.items()}
    w = req.workload
    out["workload"] = {
        "monthly_input_tokens": w.monthly_input_tokens,
        "monthly_output_tokens": w.monthly_output_tokens,
        "peak_concurrency": w.peak_concurrency,
        "utilization": w.utilization,
        "busy_hours_per_month": w.busy_hours,
        "p95_ttft_s": w.p95_ttft_s,
        "min_user_tokens_per_s": w.min_user_tokens_per_s,
    }
    out["sensitivity"] = [asdict(s) for s in sensitivities(plan.inputs, args.sensitivity_pct / 100)]
    return _round(out)


DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "cost-cli.md"


def write_flags_doc(path: Path = DOC_PATH) -> None:
    """Rewrite the flag table between the markers of docs/cost-cli.md from FLAGS."""
    text = path.read_text(encoding="utf-8")
    start = text.index("-->", text.index("<!-- flags:start")) + 3
    end = text.index("<!-- flags:end -->")
    path.write_text(text[:start] + "\n" + flags_markdown() + text[end:], encoding="utf-8")


if __name__ == "__main__":
    write_flags_doc()
