"""KV cache sizes (calculators/memory/) against logged engine sizes, per engine and layer type."""

from __future__ import annotations

import pytest

from bench.gguf_reference import GPT_OSS_20B, LLAMA2_7B, LLAMA3_70B, MISTRAL_7B, QWEN3_235B, spec
from calculators import memory
from model_specs.loader import DATA_DIR, load_file
from model_specs.schema import ModelFamily

MiB = 1 << 20
GiB = 1 << 30
G4 = {m.id: m for m in load_file(DATA_DIR / "gemma4.yaml", ModelFamily).models}


def test_llama2_7b_512_ctx():
    # measurements.md s2: "KV self size = 256.00 MiB" for Llama-2-7B (32 layers, 32 x 128) at n_ctx 512, f16.
    assert memory.kv_cache_bytes(LLAMA2_7B, 512) == 256 * MiB


def test_mistral_8192_ignores_window():
    # measurements.md s2: Mistral-7B at 8192, f16: 1024.00 MiB (K 512 + V 512); llama.cpp's llama arch has no SWA.
    assert memory.kv_cache_bytes(MISTRAL_7B, 8192) == 1024 * MiB


def test_gpt_oss_swa_cache():
    # measurements.md s2 (llama.cpp CANN log): gpt-oss 12 full layers x 8 x 64 at 131072 = 3072.00 MiB, SWA layers
    # in a separate 768-cell cache: pad(128 x 1 + 512, 256) = 768 (llama-kv-cache-iswa.cpp).
    cells = memory.kv_cells(GPT_OSS_20B, 131072)
    assert cells.sliding_cells == 768 and cells.full_cells == 131072
    full_b, swa_b = memory.kv_bytes_per_token(GPT_OSS_20B)
    assert full_b * cells.full_cells == 3072 * MiB
    assert memory.kv_cache_bytes(GPT_OSS_20B, 131072) == 3072 * MiB + swa_b * 768


def test_quantised_kv_block_sizes():
    # q8_0: 34 bytes per 32 values; q4_0: 18 per 32 (ggml). Llama-2-7B rows are 4096 values.
    f16 = memory.kv_cache_bytes(LLAMA2_7B, 4096)
    assert memory.kv_cache_bytes(LLAMA2_7B, 4096, "q8_0") * 32 == f16 // 2 * 34
    assert memory.kv_cache_bytes(LLAMA2_7B, 4096, "q4_0") * 32 == f16 // 2 * 18


def test_gemma4_sliding_plateau_and_shared_layers():
    e2b = G4["gemma-4-e2b"]
    # E2B owns 15 caches (12 sliding x 1 x 256, 3 global x 1 x 512): global bytes/token = 3 x 2 x 512 x 2 = 6 KiB.
    full_b, swa_b = memory.kv_bytes_per_token(e2b)
    assert full_b == 6 * 1024 and swa_b == 12 * 2 * 256 * 2
    a = memory.kv_cache_bytes(e2b, 32768)
    b = memory.kv_cache_bytes(e2b, 65536)
    assert b - a == full_b * 32768  # only the global layers grow past the window
    # Sliding layers plateau at pad(512 + 512, 256) = 1024 cells in llama.cpp.
    assert memory.kv_cells(e2b, 65536).sliding_cells == 1024


def test_k_eq_v_layers_store_k_and_v():
    # Gemma 4 31B globals: 4 KV heads x 512, K=V. llama.cpp feeds Kcur as Vcur and caches both (gemma4.cpp);
    # vLLM loads K into both slots (gemma4.py). 10 globals x 2 x 2048 x 2 B = 80 KiB/token (gemma-family.md s1.5).
    full_b, swa_b = memory.kv_bytes_per_token(G4["gemma-4-31b"])
    assert full_b == 80 * 1024 and swa_b == 800 * 1024


def test_engines_differ_on_sliding_layers():
    m = G4["gemma-4-26b-a4b"]
    ctx = 131072
    llama = memory.kv_cache_bytes(m, ctx, engine="llama.cpp")
    tr = memory.kv_cache_bytes(m, ctx, engine="transformers")
    vl = memory.kv_cache_bytes(m, ctx, engine="vllm", max_num_batched_tokens=8192)
    full_b, swa_b = memory.kv_bytes_per_token(m)
    assert tr == full_b * ctx + swa_b * 1024  # DynamicSlidingWindowLayer holds the window
    assert llama == full_b * ctx + swa_b * 1536  # pad(1024 + 512, 256)
    # vLLM: cdiv(min(1023 + 8192, ctx), 16) + 1 blocks of 16 per sliding layer.
    assert vl == full_b * ctx + swa_b * ((-(-(1023 + 8192) // 16)) + 1) * 16


def test_ollama_parallel_sequences():
    m = G4["gemma-4-e4b"]
    # Ollama (kvcache/causal.go): full = num_ctx x num_parallel; sliding = num_parallel x (window + 1) + num_batch.
    cells = memory.kv_cells(m, 8192, "ollama", n_seq=4)
    assert cells.full_cells == 8192 * 4
    assert cells.sliding_cells == ((4 * 513 + 512) + 255) // 256 * 256


def test_kv_read_per_token_counts_shared_layers():
    e2b = G4["gemma-4-e2b"]
    # All 35 layers read KV: 28 sliding at min(d, 512) x 1 KiB, 7 global at d x 2 KiB (f16, K+V).
    assert memory.kv_bytes_per_token_at(e2b, 4096) == 7 * 4096 * 2048 + 28 * 512 * 1024
    assert memory.kv_bytes_per_token_at(e2b, 0) == 0


def test_engine_dtype_support():
    with pytest.raises(ValueError, match="no 'fp8' KV cache"):
        memory.kv_cache_bytes(LLAMA2_7B, 512, "fp8", "llama.cpp")
    with pytest.raises(ValueError, match="no 'q4_0'"):
        memory.kv_cache_bytes(LLAMA2_7B, 512, "q4_0", "vllm")
    assert memory.kv_cache_bytes(LLAMA2_7B, 512, "fp8", "vllm") * 2 == memory.kv_cache_bytes(
        LLAMA2_7B, 512, "f16", "vllm"
    )


def test_vllm_concurrency_from_blocks():
    # measurements.md s2 (vLLM PR #12569): Llama-3.1-70B, "# GPU blocks: 1381",
    # "Maximum concurrency for 2048 tokens per request: 10.79x". One block = 16 tokens x 80 layers x 2 x 8 x 128 x 2 B.
    block = 16 * 80 * 2 * 8 * 128 * 2
    cap = memory.vllm_capacity(LLAMA3_70B, 1381 * block, 2048)
    assert cap.num_blocks == 1381
    assert cap.max_concurrency == pytest.approx(10.79, abs=0.005)


def test_vllm_tokens_from_available_memory_tp4():
    # measurements.md s2 (vLLM #21348): Qwen3-235B-A22B-FP8, TP4, "Available KV cache memory: 8.11 GiB",
    # "GPU KV cache size: 178,880 tokens". 4 KV heads over 4 GPUs = 1 head per GPU. From rank 0's 8.11 GiB we get
    # 180,928 tokens (+1.1 %): vLLM sizes every worker to the smallest worker's budget (generate_scheduler_
    # kv_cache_config asserts equal num_blocks), and the other ranks had ~0.09 GiB less; 1.5 % tolerance.
    cap = memory.vllm_capacity(QWEN3_235B, int(8.11 * GiB), 40960, tp=4)
    assert cap.kv_cache_tokens == cap.num_blocks * 16
    assert cap.kv_cache_tokens == pytest.approx(178_880, rel=0.015)


def test_vllm_hybrid_grouping_for_gemma4():
    m = G4["gemma-4-31b"]
    # Sliding pages (16 x 2 x 16 x 256 x 2 B) are twice the global pages (4 x 512): global blocks hold 32 tokens.
    cap = memory.vllm_capacity(m, 40 * GiB, 8192, max_num_batched_tokens=2048)
    page = 16 * 2 * 16 * 256 * 2
    assert cap.block_bytes == page * 10  # group size = the 10 global layers; 5 sliding groups + 1 global group
    per_req = 5 * (-(-min(1023 + 2048, 8192) // 16) + 1) + 1 * (-(-8192 // 32))
    assert cap.blocks_per_request == per_req


def test_tiny_model_tp_replicates_small_kv_heads():
    m = spec("tiny", "llama", layers=2, hidden=64, ff=128, vocab=100, heads=4, kv=1)
    one = memory.vllm_capacity(m, 10 * MiB, 512, tp=1)
    two = memory.vllm_capacity(m, 10 * MiB, 512, tp=2)
    assert one.num_blocks == two.num_blocks  # 1 KV head cannot be split: each GPU keeps a full copy


def test_kv_curve_per_engine_and_global_only_line():
    m = G4["gemma-4-e2b"]
    ctxs = [1024, 8192, 131072]
    curves = memory.kv_curve(m, ctxs, "q8_0", n_seq=2)
    assert set(curves) == {
        *memory.ENGINES,
        "global layers only",
        "sliding layers (llama.cpp)",
        "naive: every layer, full context",
    }
    assert curves["llama.cpp"] == [memory.kv_cache_bytes(m, c, "q8_0", "llama.cpp", 2) for c in ctxs]
    assert curves["vllm"] == [memory.kv_cache_bytes(m, c, "f16", "vllm", 2) for c in ctxs]  # no q8_0 cache: f16
    full_b, _ = memory.kv_bytes_per_token(m, "q8_0")
    assert curves["global layers only"] == [full_b * c * 2 for c in ctxs]
    # Past the window only the global layers grow, by the same bytes per token as the global-only line.
    grow = curves["llama.cpp"][2] - curves["llama.cpp"][1]
    assert grow == curves["global layers only"][2] - curves["global layers only"][1]
    # The sliding part is flat past the window (512 tokens for E2B): the plateau the page shows.
    sliding = curves["sliding layers (llama.cpp)"]
    assert sliding[1] == sliding[2] > 0
    # Naive: all 35 layers (28 sliding x 1 KV head x 256, 7 global x 1 x 512), K and V, q8_0 = 34 bytes per 32
    # values, at the full context: far above what llama.cpp allocates at 128K.
    naive_per_token = (28 * 2 * 256 + 7 * 2 * 512) * 34 // 32
    assert curves["naive: every layer, full context"][2] == naive_per_token * 131072 * 2
    assert curves["naive: every layer, full context"][2] > 5 * curves["llama.cpp"][2]
