"""vLLM's KV block pool: blocks left after weights and activations, and the concurrency it holds."""

from __future__ import annotations

from dataclasses import dataclass

from calculators.memory.kv import _KV_BLOCK, kv_geometry
from model_specs.schema import ModelSpec

# ------------------------------------------------------------------------------------------------ vLLM


@dataclass(frozen=True)
class VllmCapacity:
    """vLLM's KV pool for one request shape."""

    kv_budget_bytes: int  # per GPU
    num_blocks: int
    block_bytes: int  # bytes of one block across all layers of one group (what num_blocks divides into)
    blocks_per_request: int
    max_concurrency: float  # "Maximum concurrency for N tokens per request: X"
    kv_cache_tokens: int  # "GPU KV cache size: N tokens"


def vllm_capacity(
    model: ModelSpec,
    kv_budget_bytes: int,
    max_model_len: int,
    *,
    kv_dtype: str = "bf16",
    tp: int = 1,
    block_tokens: int = 16,
    max_num_batched_tokens: int = 8192,
) -> VllmCapacity:
    """Blocks, concurrency and token capacity of a per-GPU KV budget, with vLLM v1's hybrid grouping.

    Layer types with different page sizes are unified by scaling block_size of the smaller page; layers are
    grouped so every group has the same number of layers (the smallest type count, or the largest if below
    1.5x the smallest), one block of memory spans a layer of every group, and num_blocks = budget // (page x
    group size). "GPU KV cache size" = num_blocks // groups x smallest block size; max concurrency = num_blocks /
    blocks one request at max_model_len needs (vllm/v1/core/kv_cache_utils.py @001cabc,
    _get_kv_cache_groups_uniform_page_size, get_kv_cache_config_from_groups, _report_kv_cache_config).
    """
    if kv_budget_bytes <= 0:
        return VllmCapacity(max(0, kv_budget_bytes), 0, 0, 0, 0.0, 0)
    g = kv_geometry(model)
    att = model.text.attention
    elem = _KV_BLOCK[kv_dtype][1]
    types = []  # (layers, kv values per token per layer per GPU, is_sliding)
    for n, geom, sliding in ((g.full_layers, att.full, False), (g.sliding_layers, att.sliding, True)):
        if n and geom is not None:
            heads = max(1, geom.kv_heads // tp) if geom.kv_heads >= tp else 1
            types.append((n, 2 * heads * geom.head_dim, sliding))
    pages = [block_tokens * v * elem for _, v, _ in types]
    page = max(pages)
    counts = [n for n, _, _ in types]
    group_size = min(counts)
    if max(counts) < group_size * 1.5:
        group_size = max(counts)
    num_blocks = kv_budget_bytes // (page * group_size)
    blocks_req = 0
    total_groups = 0
    min_bt = None
    for (n, _, sliding), p in zip(types, pages, strict=True):
        bt = block_tokens * page // p  # unified page: a smaller-page type holds more tokens per block
        min_bt = bt if min_bt is None else min(min_bt, bt)
        n_groups = -(-n // group_size)
        total_groups += n_groups
        if sliding:
            per = -(-min(g.window - 1 + max_num_batched_tokens, max_model_len) // bt) + 1
        else:
            per = -(-max_model_len // bt)
        blocks_req += n_groups * per
    conc = num_blocks / blocks_req if blocks_req else 0.0
    tokens = num_blocks // max(1, total_groups) * (min_bt or block_tokens)
    return VllmCapacity(kv_budget_bytes, num_blocks, page * group_size, blocks_req, conc, tokens)
