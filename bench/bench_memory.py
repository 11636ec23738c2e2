"""Timing of the memory calculator: the whole fit matrix and one calculator call (goals: < 100 ms, << 1 ms).

Run: python bench/bench_memory.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from calculators import gguf, memory, tensors  # noqa: E402
from model_specs import load_catalog  # noqa: E402


def _clear_caches() -> None:
    """Empty every per-model memo, so a cold run rebuilds tensor inventories and GGUF type rules."""
    memos = (
        tensors.text_tensors,
        tensors.param_counts,
        gguf._groups,
        gguf.gguf_size,
        memory.weights,
        memory.kv_geometry,
        memory.vllm_layout,
    )
    for fn in memos:
        fn.cache_clear()


def _time_ms(fn, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t) * 1000)
    return statistics.median(runs)


def main() -> int:
    cat = load_catalog()
    models = list(cat.models.values())
    hardware = list(cat.hardware.values())
    quants = [q.id for q in cat.quants.values()]
    ladder = memory.DEFAULT_CONTEXT_LADDER
    cells = len(models) * len(quants) * len(hardware) * len(ladder)

    def matrix():
        return memory.fit_matrix(models, hardware, quants, ladder)

    t = time.perf_counter()
    _clear_caches()
    fm = matrix()
    cold = (time.perf_counter() - t) * 1000
    warm = _time_ms(matrix, 20)
    print(
        f"fit matrix: {len(models)} models x {len(quants)} quants x {len(hardware)} devices x {len(ladder)} contexts "
        f"= {cells} cells ({int(fm.supported.sum())} supported model/quant pairs)"
    )
    print(f"  cold (empty caches): {cold:7.1f} ms")
    print(f"  warm (median of 20): {warm:7.2f} ms   goal < 100 ms")
    # vLLM counts KV in whole blocks against gpu_memory_utilization (the same accounting as estimate).
    vllm_ms = _time_ms(lambda: memory.fit_matrix(models, hardware, quants, ladder, engine="vllm", kv_dtype="bf16"), 20)
    print(f"  vLLM, warm (median of 20): {vllm_ms:7.2f} ms   goal < 100 ms")

    m = cat.model("gemma-4-26b-a4b")
    hw = cat.device("rtx-4090")
    req = memory.MemoryRequest(model=m, quant="Q4_K_M", context_tokens=32768, hardware=hw)
    memory.estimate(req)  # warm caches
    n = 200
    one = _time_ms(lambda: memory.estimate(req), n)
    kv = _time_ms(lambda: memory.kv_cache_bytes(m, 32768), n)
    w = _time_ms(lambda: memory.weights(m, "Q4_K_M"), n)
    print("one calculator call (gemma-4-26b-a4b Q4_K_M, 32k context, rtx-4090), median of 200:")
    print(f"  estimate() incl. max context + max concurrency search: {one * 1000:8.1f} us")
    print(f"  kv_cache_bytes():                                      {kv * 1000:8.1f} us")
    print(f"  weights() (cached):                                    {w * 1000:8.1f} us   goal well under 1 ms")
    vreq = memory.MemoryRequest(
        model=m,
        quant="BF16",
        context_tokens=32768,
        engine="vllm",
        kv_dtype="bf16",
        hardware=cat.device("h100-80gb-sxm"),
    )
    memory.estimate(vreq)
    v_one = _time_ms(lambda: memory.estimate(vreq), n)
    print(f"  estimate() on vLLM (BF16, h100-80gb-sxm), incl. searches: {v_one * 1000:8.1f} us")
    cold_w = _time_ms(lambda: (_clear_caches(), memory.weights(m, "Q4_K_M")), 20)
    print(f"  weights() cold (tensor inventory + per-tensor GGUF rules): {cold_w:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
