"""Write small GGUF files with the `gguf` package (GGUFWriter) for the header tests: mixed recipes, splits, mmproj.

Tensors are zero-filled byte arrays of the exact size their ggml type needs, so the files are real GGUF files
that llama.cpp's own reader accepts; only the values are meaningless.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import gguf
import numpy as np

from calculators.gguf import assign_types, model_quant_info
from calculators.tensors import text_tensors
from model_specs.schema import ModelSpec

FTYPE_IDS = {ft.name.removeprefix("MOSTLY_").removeprefix("ALL_"): int(ft) for ft in gguf.LlamaFileType}


def tensor_array(shape_ne: Sequence[int], gtype: str) -> np.ndarray:
    """A zero tensor of GGUF shape `shape_ne` (ne0 first) in ggml type `gtype`, as GGUFWriter takes it."""
    qt = gguf.GGMLQuantizationType[gtype]
    np_shape = tuple(reversed(shape_ne))
    if qt == gguf.GGMLQuantizationType.F32:
        return np.zeros(np_shape, dtype=np.float32)
    if qt == gguf.GGMLQuantizationType.F16:
        return np.zeros(np_shape, dtype=np.float16)
    return np.zeros(gguf.quant_shape_to_byte_shape(np_shape, qt), dtype=np.uint8)


def recipe(model: ModelSpec, ftype: str, overrides: dict[str, str] | None = None) -> list[tuple[str, tuple, str]]:
    """(name, GGUF shape, ggml type) of every tensor: the calculator's default recipe with `overrides` applied."""
    tensors = text_tensors(model)
    types = assign_types(tensors, ftype, model_quant_info(model), src_type="F16")
    over = overrides or {}
    return [(t.name, t.shape, over.get(t.name, gt)) for t, gt in zip(tensors, types, strict=True)]


def write_gguf(
    path: Path,
    arch: str,
    metadata: dict,
    tensors: list[tuple[str, tuple, str]],
    *,
    ftype: str | None = None,
    split_max_tensors: int = 0,
    vocab_tokens: int = 0,
) -> int:
    """Write a GGUF file (split into shards when split_max_tensors > 0); returns the tensors' total bytes."""
    w = gguf.GGUFWriter(path, arch, split_max_tensors=split_max_tensors)
    for key, value in metadata.items():
        if isinstance(value, bool):
            w.add_bool(key, value)
        elif isinstance(value, int):
            w.add_uint32(key, value)
        elif isinstance(value, float):
            w.add_float32(key, value)
        elif isinstance(value, str):
            w.add_string(key, value)
        else:
            w.add_array(key, list(value))
    if ftype:
        w.add_file_type(FTYPE_IDS[ftype])
    if vocab_tokens:
        w.add_token_list([f"t{i}".encode() for i in range(vocab_tokens)])
        w.add_token_scores([0.0] * vocab_tokens)
    total = 0
    for name, shape, gtype in tensors:
        arr = tensor_array(shape, gtype)
        raw = None if gtype in ("F32", "F16") else gguf.GGMLQuantizationType[gtype]
        w.add_tensor(name, arr, raw_dtype=raw)
        total += arr.nbytes
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return total


def model_metadata(model: ModelSpec, arch: str) -> dict:
    """The llama.cpp metadata keys for `model` (what convert_hf_to_gguf.py writes)."""
    t = model.text
    att = t.attention
    a = arch
    md: dict = {
        f"{a}.block_count": t.num_layers,
        f"{a}.context_length": model.context_tokens,
        f"{a}.embedding_length": t.hidden_size,
        f"{a}.attention.head_count": att.num_heads,
        f"{a}.attention.key_length": att.full.head_dim,
        f"{a}.attention.value_length": att.full.head_dim,
        "general.name": model.name,
    }
    ff = t.intermediate_sizes()
    md[f"{a}.feed_forward_length"] = ff[0] if len(set(ff)) == 1 else ff
    kv = [(att.sliding if c == "S" else att.full).kv_heads for c in att.layer_types]
    md[f"{a}.attention.head_count_kv"] = kv[0] if len(set(kv)) == 1 else kv
    if att.sliding is not None:
        md[f"{a}.attention.sliding_window"] = att.sliding_window_tokens
        md[f"{a}.attention.sliding_window_pattern"] = [c == "S" for c in att.layer_types]
        md[f"{a}.attention.key_length_swa"] = att.sliding.head_dim
        md[f"{a}.attention.value_length_swa"] = att.sliding.head_dim
    if att.kv_shared_layers:
        md[f"{a}.attention.shared_kv_layers"] = att.kv_shared_layers
    if t.moe is not None:
        md[f"{a}.expert_count"] = t.moe.num_experts
        md[f"{a}.expert_used_count"] = t.moe.experts_per_token
        md[f"{a}.expert_feed_forward_length"] = t.moe.expert_intermediate_size
    if t.per_layer_embedding is not None:
        md[f"{a}.embedding_length_per_layer_input"] = t.per_layer_embedding.dim
    return md


def write_sparse_gguf(
    path: Path, arch: str, metadata: dict, tensors: list[tuple[str, tuple, str]], *, ftype: str, vocab: list[bytes]
) -> int:
    """A full-size GGUF whose tensor data is a sparse hole (no disk used): real header, real layout, zero weights.

    For benchmarks of multi-gigabyte files; returns the file size."""
    import os

    from model_specs.gguf_header import LocalSource, read_header

    w = gguf.GGUFWriter(path, arch)
    for key, value in metadata.items():
        if isinstance(value, int) and not isinstance(value, bool):
            w.add_uint32(key, value)
        elif isinstance(value, str):
            w.add_string(key, value)
        else:
            w.add_array(key, list(value))
    w.add_file_type(FTYPE_IDS[ftype])
    w.add_token_list(vocab)
    w.add_token_scores([0.0] * len(vocab))
    w.add_token_types([1] * len(vocab))
    for name, shape, gtype in tensors:
        qt = gguf.GGMLQuantizationType[gtype]
        blk, size = gguf.GGML_QUANT_SIZES[qt]
        rows = 1
        for d in shape[1:]:
            rows *= d
        w.add_tensor_info(
            name, tuple(reversed(shape)), np.dtype(np.float32), rows * shape[0] // blk * size, raw_dtype=qt
        )
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    w.close()

    class _NoSize(LocalSource):
        def size_bytes(self) -> int | None:
            return None

    src = _NoSize(path)
    h = read_header(src)
    src.close()
    end = h.data_offset_bytes + max(t.offset + t.n_bytes for t in h.tensors)
    os.truncate(path, end)
    return end
