"""The artifact-based model sources shared by the memory and speed CLIs: `--gguf PATH|URL` and `--hf-model ID`.

A GGUF file's header gives the architecture and the exact weights (calculators/gguf_file.py); a Hugging Face id
gives config.json, the safetensors headers' stored dtypes and the repo's GGUF files (model_specs/hf_hub.py).
`resolve` returns what the subcommand needs: the model, the quantisation name, the exact weights (or None when
the calculator's recipe should size them) and the JSON fields describing the artifact.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from calculators.gguf_file import file_weights, recipe_diff
from calculators.memory import WeightBreakdown
from model_specs import hf_hub
from model_specs.gguf_arch import model_from_gguf
from model_specs.gguf_header import GGUFFile
from model_specs.schema import ModelSpec


@dataclass(frozen=True)
class Source:
    """A model read from an artifact, with its exact weights when the artifact fixes them."""

    model: ModelSpec
    quant: str
    weights: WeightBreakdown | None
    info: dict = field(default_factory=dict)  # JSON fields describing the artifact


def add_source_arguments(src: argparse._MutuallyExclusiveGroup, parser: argparse.ArgumentParser) -> None:
    """Add --gguf and --hf-model to the model-source group, and --mmproj beside them."""
    src.add_argument(
        "--gguf",
        metavar="PATH|URL",
        help="a GGUF file (local path, http(s) URL or hf://ORG/NAME[@REV]/FILE.gguf); only its header is read",
    )
    src.add_argument("--hf-model", metavar="ORG/NAME[@REV]", help="a Hugging Face model id (config.json + headers)")
    parser.add_argument("--mmproj", metavar="PATH|URL", help="with --gguf: the vision/audio projector GGUF")


def gguf_info(f: GGUFFile, model: ModelSpec, max_rows: int = 50) -> dict:
    """JSON description of a GGUF file: sizes, bytes read, the tensors that differ from the default recipe."""
    diff = recipe_diff(f, model)
    rows = diff.differing
    return {
        "source": f.source,
        "architecture": f.arch,
        "file_type": f.file_type,
        "shards": len(f.shards),
        "tensors": len(f.tensors),
        "tensor_bytes": f.tensor_bytes,
        "file_bytes": f.file_bytes,
        "header_bytes_read": f.bytes_read,
        "default_recipe_bytes": diff.default_bytes,
        "differing_tensors_count": len(rows),
        "differing_tensors": [
            {"name": r.name, "type": r.ggml_type, "default_type": r.default_type, "bytes": r.n_bytes}
            for r in rows[:max_rows]
        ],
        "notes": [n for n in (diff.note, model.notes) if n],
    }


def _from_gguf(args: argparse.Namespace, engine: str, text_only: bool) -> Source:
    f = hf_hub.open_location(args.gguf)
    mmproj = hf_hub.open_location(args.mmproj) if args.mmproj else None
    model = model_from_gguf(f, mmproj)
    wb = file_weights(f, model, engine, mmproj=mmproj, text_only=text_only)
    if args.quant and args.quant.upper() != (f.file_type or "").upper():
        raise ValueError(f"--quant {args.quant} does not match the file's type {f.file_type}; leave --quant out")
    info = {"gguf": gguf_info(f, model)}
    if mmproj is not None:
        info["gguf"]["mmproj"] = {"source": mmproj.source, "tensor_bytes": mmproj.tensor_bytes}
    return Source(model, wb.quant, wb, info)


def resolve(args: argparse.Namespace, engine: str, text_only: bool = False) -> Source | None:
    """The model from --gguf / --hf-model (None when neither was given); ValueError with a one-line reason."""
    if getattr(args, "mmproj", None) and not getattr(args, "gguf", None):
        raise ValueError("--mmproj goes with --gguf")
    if getattr(args, "gguf", None):
        return _from_gguf(args, engine, text_only)
    if getattr(args, "hf_model", None):
        repo = hf_hub.inspect_repo(args.hf_model)
        wb = None
        quant = args.quant
        if not quant or quant.upper() == repo.stored_dtype:
            from calculators.safetensors_file import safetensors_weights  # only needed here

            wb = safetensors_weights(repo, engine, text_only=text_only)
            quant = wb.quant
        return Source(repo.model, quant, wb, {"hf_model": repo.as_dict()})
    return None
