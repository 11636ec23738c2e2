"""Memory needed to run a model: weights, KV cache, overhead, placement and fit (python -m calculators memory)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from calculators.cli_sources import add_source_arguments, resolve
from calculators.engines import ENGINES, KV_DTYPES
from calculators.memory import GiB, MemoryRequest, estimate
from model_specs import load_catalog
from model_specs.hf_import import model_from_hf_json
from model_specs.schema import ModelSpec


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of the memory subcommand (DESIGN.md CLI contract)."""
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="catalog model id, e.g. gemma-4-e4b")
    src.add_argument("--hf-config", help="path to a Hugging Face config.json")
    add_source_arguments(src, parser)
    parser.add_argument(
        "--quant", help="Q4_K_M, Q8_0, BF16, ..., FP8, INT8, AWQ, GPTQ, NF4, MXFP4 (--gguf: the file's)"
    )
    parser.add_argument("--context", type=int, required=True, help="context tokens per sequence")
    parser.add_argument("--batch", type=int, default=1, help="concurrent sequences (default 1)")
    parser.add_argument("--kv-dtype", default="f16", choices=KV_DTYPES, help="KV cache type (default f16)")
    parser.add_argument("--engine", default="llama.cpp", choices=ENGINES, help="runtime (default llama.cpp)")
    parser.add_argument("--text-only", action="store_true", help="leave out the vision/audio encoders")
    dev = parser.add_mutually_exclusive_group()
    dev.add_argument("--hardware", help="catalog hardware id, e.g. rtx-4090")
    dev.add_argument("--memory-gib", type=float, help="device memory in GiB (2^30 bytes) per GPU")
    parser.add_argument("--gpus", type=int, default=1, help="number of devices (tensor parallel; default 1)")


def _model(args: argparse.Namespace) -> ModelSpec:
    """The catalog model, or the one an HF config.json describes; ValueError / KeyError name what is wrong."""
    if args.hf_config:
        path = Path(args.hf_config)
        try:
            raw = path.read_bytes()
        except OSError as e:
            raise ValueError(f"cannot read {path}: {e.strerror}") from None
        try:
            return model_from_hf_json(raw)
        except ValueError as e:
            raise ValueError(f"{path} cannot be sized: {e}") from None
    return load_catalog().model(args.model)


def run(args: argparse.Namespace) -> dict:
    """Build the request from flags and return the estimate as a JSON-ready dict."""
    if args.context < 1:
        raise ValueError("--context must be a positive number of tokens")
    if args.batch < 1 or args.gpus < 1:
        raise ValueError("--batch and --gpus must be at least 1")
    source = resolve(args, args.engine, args.text_only)  # --gguf / --hf-model: the artifact's exact weights
    model = source.model if source else _model(args)
    quant = source.quant if source else args.quant
    if not quant:
        raise ValueError("--quant is required (except with --gguf or --hf-model)")
    hardware = None
    memory_bytes = None
    if args.hardware:
        hardware = load_catalog().device(args.hardware)
    elif args.memory_gib is not None:
        if not math.isfinite(args.memory_gib) or args.memory_gib <= 0:
            raise ValueError("--memory-gib must be a positive number")
        memory_bytes = int(args.memory_gib * GiB)
    req = MemoryRequest(
        model=model,
        quant=quant,
        context_tokens=args.context,
        batch=args.batch,
        kv_dtype=args.kv_dtype,
        engine=args.engine,
        text_only=args.text_only,
        hardware=hardware,
        memory_bytes=memory_bytes,
        gpus=args.gpus,
        weights_override=source.weights if source else None,
    )
    out = estimate(req).as_dict()
    out["model"] = model.id
    out.update(source.info if source else {})
    if hardware is not None:
        out["hardware"] = hardware.id
    return out
