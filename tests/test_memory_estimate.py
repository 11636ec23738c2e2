"""Weights per engine, placement, fit against hardware, the fit matrix and the memory CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.gguf_reference import GPT_OSS_20B, LLAMA3_8B, spec
from calculators import memory
from calculators.memory.accounting import _need
from model_specs import load_catalog

GiB = 1 << 30
MiB = 1 << 20
ROOT = Path(__file__).resolve().parent.parent
CAT = load_catalog()


def test_engine_quant_support():
    m = CAT.model("gemma-4-31b")
    with pytest.raises(ValueError, match="not supported by llama.cpp"):
        memory.weights(m, "AWQ", "llama.cpp")
    with pytest.raises(ValueError, match="dequantises GGUF"):
        memory.weights(m, "Q4_K_M", "transformers")
    with pytest.raises(ValueError, match="unknown quantization"):
        memory.weights(m, "Q9_Z", "vllm")
    with pytest.raises(ValueError, match="unknown engine"):
        memory.weights(m, "BF16", "tgi")


def test_bf16_weights_and_vllm_k_eq_v_duplicate():
    m = CAT.model("gemma-4-31b")
    bf16 = memory.weights(m, "BF16", "transformers")
    # 30.697B text params x 2 bytes + 550M vision x 2 bytes (model card ~550M).
    assert bf16.text_decoder_bytes == pytest.approx(30.697e9 * 2, rel=0.001)
    assert bf16.component_bytes["vision"] == 550_000_000 * 2
    vl = memory.weights(m, "BF16", "vllm")
    # vLLM also loads the 10 global layers' K projection (5376 x 2048) into the V slot.
    assert vl.total_bytes - bf16.total_bytes == 10 * 5376 * 2048 * 2


def test_awq_keeps_embeddings_16bit():
    w = memory.weights(LLAMA3_8B, "AWQ", "vllm")
    assert w.component_bytes["embedding"] == 128256 * 4096 * 2
    assert w.component_bytes["output"] == 128256 * 4096 * 2
    # Linear layers at 4 + 16/128 + 4/128 bits.
    linear = 32 * (4096 * 4096 * 2 + 2 * 4096 * 1024 + 3 * 4096 * 14336)
    assert w.component_bytes["text"] == pytest.approx(linear * (4 + 20 / 128) / 8 + 65 * 4096 * 2, rel=1e-6)


def test_ollama_ple_table_unquantised_and_text_only():
    m = CAT.model("gemma-4-e2b")
    llama = memory.weights(m, "Q4_K_M", "llama.cpp")
    oll = memory.weights(m, "Q4_K_M", "ollama")
    assert oll.component_bytes["ple"] == 262144 * 35 * 256 * 2  # BF16, server/quantization.go
    assert llama.component_bytes["ple"] == 262144 * 35 * 256 // 256 * 210  # Q6_K
    t_only = memory.weights(m, "Q4_K_M", "llama.cpp", text_only=True)
    assert t_only.component_bytes["vision"] == t_only.component_bytes["audio"] == 0
    assert llama.total_bytes - t_only.total_bytes == (150_000_000 + 300_000_000) * 2  # mmproj F16


def test_active_bytes_per_token_moe_and_ple():
    m = CAT.model("gemma-4-26b-a4b")
    w = memory.weights(m, "BF16", "vllm", text_only=True)
    routed = w.routed_expert_bytes
    assert routed == 128 * 3 * 2816 * 704 * 30 * 2
    # Only 8 of 128 routed experts are read per token.
    assert w.active_bytes_per_token == w.text_decoder_bytes - routed + routed * 8 // 128
    e2b = memory.weights(CAT.model("gemma-4-e2b"), "BF16", "vllm", text_only=True)
    # The PLE table is a lookup: one 35 x 256 row per token instead of the whole table.
    assert e2b.active_bytes_per_token == e2b.text_decoder_bytes - e2b.component_bytes["ple"] + 35 * 256 * 2


def test_llama_cpp_placement_host_tables():
    m = CAT.model("gemma-4-e2b")
    est = memory.estimate(memory.MemoryRequest(model=m, quant="Q4_K_M", context_tokens=8192, text_only=True))
    w = est.weights.component_bytes
    # Host: token embedding (input layer) + PLE table; GPU: the rest, plus the tied output copy.
    assert est.placement.host_bytes == w["embedding"] + w["ple"]
    assert est.placement.gpu_bytes == w["text"] + w["embedding"] + est.kv_cache_bytes + est.overhead_bytes
    moved = memory.estimate(
        memory.MemoryRequest(model=m, quant="Q4_K_M", context_tokens=8192, text_only=True, offload_ple=False)
    )
    assert moved.placement.gpu_bytes - est.placement.gpu_bytes == w["ple"]


def test_expert_offload_and_partial_layers():
    m = CAT.model("gemma-4-26b-a4b")
    base = memory.MemoryRequest(model=m, quant="Q4_K_M", context_tokens=8192, text_only=True)
    full = memory.estimate(base)
    cpu_moe = memory.estimate(memory.MemoryRequest(**{**base.__dict__, "offload_experts": True}))
    assert full.placement.gpu_bytes - cpu_moe.placement.gpu_bytes == full.weights.routed_expert_bytes
    half = memory.estimate(memory.MemoryRequest(**{**base.__dict__, "gpu_layers": 15}))
    assert half.placement.gpu_bytes < full.placement.gpu_bytes < half.placement.gpu_bytes + half.placement.host_bytes


def test_fit_on_rtx_4090_and_apple_working_set():
    m = CAT.model("gemma-4-31b")
    rtx = CAT.device("rtx-4090")
    est = memory.estimate(
        memory.MemoryRequest(model=m, quant="Q4_K_M", context_tokens=8192, hardware=rtx, text_only=True)
    )
    assert est.fits and est.margin_bytes > 0
    assert 8192 <= est.max_context_tokens < m.context_tokens
    over = memory.estimate(memory.MemoryRequest(model=m, quant="Q8_0", context_tokens=8192, hardware=rtx))
    assert not over.fits and over.margin_bytes < 0 and over.max_context_tokens == 0
    # Apple: 2/3 of 32 GiB usable (recommendedMaxWorkingSetSize 21845.34 MB on 32 GB, llama.cpp#2011).
    usable, _ = memory.usable_memory_bytes(CAT.device("m1-max-32gb"))
    assert usable == int(32 * GiB * 2 / 3)


def test_an_ecc_card_fits_against_the_memory_its_driver_reports():
    # nvidia-smi on an A10G reports 23,028 MiB with ECC on (NVIDIA/DCGM#232), not the 24 GiB on the label: a scenario
    # needing between the two does not fit, and the largest context shrinks accordingly.
    a10g = CAT.device("a10g")
    usable, rule = memory.usable_memory_bytes(a10g, gpus=2)
    assert usable == 2 * 23_028 * MiB and "23,028 MiB the driver reports" in rule
    label = a10g.model_copy(update={"driver_memory_mib": None})
    assert memory.usable_memory_bytes(label)[0] == 24 * GiB
    m = CAT.model("gemma-4-31b")
    req = dict(model=m, quant="Q4_K_M", text_only=True)
    on_label = memory.estimate(memory.MemoryRequest(context_tokens=8192, hardware=label, **req))
    ctx = on_label.max_context_tokens
    assert ctx > 8192
    driver = memory.estimate(memory.MemoryRequest(context_tokens=ctx, hardware=a10g, **req))
    assert memory.estimate(memory.MemoryRequest(context_tokens=ctx, hardware=label, **req)).fits
    assert not driver.fits and 0 < driver.max_context_tokens < ctx
    assert -(24 * GiB - 23_028 * MiB) <= driver.margin_bytes < 0


def test_max_context_is_the_boundary():
    m = CAT.model("gemma-4-e4b")
    req = memory.MemoryRequest(model=m, quant="Q4_K_M", context_tokens=4096, memory_bytes=4 * GiB, text_only=True)
    est = memory.estimate(req)
    ctx = est.max_context_tokens
    assert 0 < ctx < m.context_tokens
    assert _need(req, ctx, 1, False) <= 4 * GiB < _need(req, ctx + 256, 1, False)
    conc = est.max_concurrency
    assert _need(req, 4096, conc, False) <= 4 * GiB < _need(req, 4096, conc + 1, False)


def test_vllm_estimate_reports_blocks_and_concurrency():
    m = CAT.model("gemma-4-26b-a4b")
    h100 = CAT.device("h100-80gb-sxm")
    est = memory.estimate(
        memory.MemoryRequest(
            model=m, quant="BF16", context_tokens=32768, engine="vllm", kv_dtype="bf16", hardware=h100, text_only=True
        )
    )
    cap = est.vllm
    assert cap is not None and cap.num_blocks > 0
    # vLLM's share of the 81,559 MiB the H100's driver reports (not of the 80 GiB on the label)
    budget = int(81_559 * MiB * 0.9) - est.weights_bytes - est.overhead_bytes
    assert cap.kv_budget_bytes == budget
    assert est.max_concurrency == int(cap.max_concurrency) >= 1


def test_tensor_parallel_splits_per_gpu():
    m = CAT.model("gemma-4-31b")
    one = memory.estimate(memory.MemoryRequest(model=m, quant="Q8_0", context_tokens=8192, memory_bytes=24 * GiB))
    two = memory.estimate(
        memory.MemoryRequest(model=m, quant="Q8_0", context_tokens=8192, memory_bytes=24 * GiB, gpus=2)
    )
    assert not one.fits and two.fits
    assert two.placement.per_gpu_bytes == -(-two.placement.gpu_bytes // 2)


def test_invalid_requests():
    m = CAT.model("gemma-4-e2b")
    with pytest.raises(ValueError, match="exceeds"):
        memory.estimate(memory.MemoryRequest(model=m, context_tokens=10**7))
    with pytest.raises(ValueError):
        memory.estimate(memory.MemoryRequest(model=m, context_tokens=0))
    with pytest.raises(ValueError):
        memory.estimate(memory.MemoryRequest(model=m, batch=0))


def test_fit_matrix_matches_scalar_estimates():
    models = [CAT.model("gemma-4-e4b"), CAT.model("gemma-4-31b"), GPT_OSS_20B]
    hw = [CAT.device("rtx-4090"), CAT.device("m4-max-128gb"), CAT.device("raspberry-pi-5-8gb")]
    quants = ["Q4_K_M", "Q8_0", "AWQ"]
    fm = memory.fit_matrix(models, hw, quants, (4096, 32768, 131072), text_only=True)
    assert fm.need_bytes.shape == (3, 3, 3, 3)
    assert not fm.supported[:, 2].any()  # AWQ does not run on llama.cpp
    for mi, m in enumerate(models):
        for hi, h in enumerate(hw):
            for ci, ctx in enumerate(fm.contexts):
                if ctx > m.context_tokens:
                    assert not fm.fits[mi, 0, hi, ci]
                    continue
                est = memory.estimate(
                    memory.MemoryRequest(model=m, quant="Q4_K_M", context_tokens=ctx, hardware=h, text_only=True)
                )
                assert fm.fits[mi, 0, hi, ci] == est.fits
    assert np.all(fm.max_context_tokens[:, 2, :] == 0)


@pytest.mark.parametrize("engine", ["llama.cpp", "ollama", "transformers"])
def test_fit_matrix_need_equals_estimate_with_parallel_sequences(engine):
    # Four sequences: Ollama's sliding cells (n_seq x (window + 1) + num_batch) differ from llama.cpp's.
    models = [CAT.model("gemma-4-e4b"), CAT.model("gemma-4-26b-a4b"), GPT_OSS_20B]
    hw = [CAT.device("rtx-4090"), CAT.device("m4-max-128gb")]
    quant = "BF16" if engine == "transformers" else "Q4_K_M"
    fm = memory.fit_matrix(models, hw, [quant], (4096, 32768), engine=engine, batch=4, text_only=True)
    for mi, m in enumerate(models):
        for hi, h in enumerate(hw):
            for ci, ctx in enumerate(fm.contexts):
                req = memory.MemoryRequest(
                    model=m, quant=quant, context_tokens=ctx, batch=4, engine=engine, hardware=h, text_only=True
                )
                est = memory.estimate(req)
                need = est.placement.gpu_bytes + (est.placement.host_bytes if h.kind == "apple" else 0)
                assert fm.need_bytes[mi, 0, hi, ci] == need, (m.id, h.id, ctx)
                assert fm.fits[mi, 0, hi, ci] == est.fits


def test_max_context_when_the_maximum_is_not_a_multiple_of_256():
    m = spec("ctx-1000", "llama", layers=2, hidden=64, ff=128, vocab=100, heads=4, kv=1, ctx=1000)
    req = memory.MemoryRequest(model=m, quant="F16", context_tokens=256)
    usable = _need(req, 768, 1, False)  # 768 fits, the maximum (1000) does not
    assert memory.estimate(memory.MemoryRequest(**{**req.__dict__, "memory_bytes": usable})).max_context_tokens == 768
    roomy = memory.MemoryRequest(**{**req.__dict__, "memory_bytes": usable + GiB})
    assert memory.estimate(roomy).max_context_tokens == 1000


def _cli(*args: str) -> subprocess.CompletedProcess:
    """Run the CLI in-process (the dispatcher's main) and capture what a subprocess would print."""
    import contextlib
    import io

    from calculators.__main__ import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["memory", *args])
    return subprocess.CompletedProcess(args, rc, out.getvalue(), err.getvalue())


def test_cli_subprocess_smoke():
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "calculators",
            "memory",
            "--model",
            "gemma-4-e2b",
            "--quant",
            "Q8_0",
            "--context",
            "4096",
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["kv_cache_bytes"] > 0


def test_cli_json_fields():
    r = _cli(
        "--model", "gemma-4-26b-a4b", "--quant", "Q4_K_M", "--context", "32768", "--hardware", "rtx-4090", "--json"
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    for k in (
        "weights_bytes",
        "kv_cache_bytes",
        "overhead_bytes",
        "total_bytes",
        "components",
        "placement",
        "fits",
        "max_context_tokens",
        "max_concurrency",
    ):
        assert k in out
    assert set(out["placement"]) >= {"gpu_bytes", "host_bytes"}
    assert out["total_bytes"] >= out["weights_bytes"] + out["kv_cache_bytes"]
    t = json.loads(
        _cli("--model", "gemma-4-26b-a4b", "--quant", "Q4_K_M", "--context", "32768", "--text-only", "--json").stdout
    )
    assert out["weights_bytes"] - t["weights_bytes"] == 550_000_000 * 2


@pytest.mark.parametrize(
    "args",
    [
        ("--model", "no-such-model", "--quant", "Q4_K_M", "--context", "4096"),
        ("--model", "gemma-4-e2b", "--quant", "Q9_X", "--context", "4096"),
        ("--model", "gemma-4-e2b", "--quant", "Q4_K_M", "--context", "-5"),
        ("--model", "gemma-4-e2b", "--quant", "AWQ", "--context", "4096"),
        ("--model", "gemma-4-e2b", "--quant", "Q4_K_M", "--context", "4096", "--hardware", "nope"),
        ("--model", "gemma-4-e2b", "--quant", "Q4_K_M", "--context", "4096", "--memory-gib", "0"),
        ("--hf-config", "/no/such/config.json", "--quant", "Q4_K_M", "--context", "4096"),
    ],
)
def test_cli_bad_input_exits_2(args):
    r = _cli(*args, "--json")
    assert r.returncode == 2
    assert r.stderr.startswith("error:") and len(r.stderr.strip().splitlines()) == 1


def test_cli_malformed_hf_config_exits_2(tmp_path):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 0, "vocab_size": 100}))
    r = _cli("--hf-config", str(cfg), "--quant", "Q4_K_M", "--context", "512", "--json")
    assert r.returncode == 2
    assert r.stderr.startswith(f"error: {cfg} cannot be sized") and len(r.stderr.strip().splitlines()) == 1


def test_cli_hf_config():
    cfg = ROOT / "tests" / "fixtures" / "hf_configs" / "qwen2.5-7b.json"
    r = _cli("--hf-config", str(cfg), "--quant", "Q4_K_M", "--context", "8192", "--memory-gib", "8", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["fits"] is True


def test_llama_cpp_compute_buffer_matches_logged_e4b():
    # A llama-server log of Gemma 4 E4B (n_ubatch 512, flash attention) quoted in a public test fixture reads
    # "CUDA0 compute buffer size = 517.00 MiB"; the logits of a full ubatch (512 x (262144 + 2560) x 4 B) are the
    # peak: 517.00 MiB.
    e4b = CAT.model("gemma-4-e4b")
    assert memory.llama_cpp_compute_bytes(e4b, 131072) == pytest.approx(517.00 * 2**20, abs=0.005 * 2**20)
    # The same log: "CUDA0 KV buffer size = 2048.00 MiB" (global) and "100.00 MiB" (sliding, 2560 cells: 4 slots).
    full_b, swa_b = memory.kv_bytes_per_token(e4b)
    assert full_b * 131072 == 2048 * 2**20
    assert swa_b * memory.kv_cells(e4b, 32768, n_seq=4).sliding_cells == 100 * 2**20


def test_fit_matrix_vllm_uses_utilisation():
    m = CAT.model("gemma-4-e4b")
    h = [CAT.device("rtx-4090")]
    llama = memory.fit_matrix([m], h, ["Q4_K_M"], (8192,))
    vllm = memory.fit_matrix([m], h, ["BF16"], (8192,), engine="vllm", kv_dtype="bf16")
    assert vllm.usable_bytes[0] == int(llama.usable_bytes[0] * 0.9)
    assert vllm.fits[0, 0, 0, 0]


def test_apple_counts_one_copy_of_a_tied_embedding():
    m = CAT.model("gemma-4-31b")
    mac = memory.estimate(
        memory.MemoryRequest(
            model=m, quant="Q4_K_M", context_tokens=8192, text_only=True, hardware=CAT.device("m4-max-128gb")
        )
    )
    pc = memory.estimate(
        memory.MemoryRequest(
            model=m, quant="Q4_K_M", context_tokens=8192, text_only=True, hardware=CAT.device("rtx-5090")
        )
    )
    assert (
        "output_copy" not in mac.components and pc.components["output_copy"] == pc.weights.component_bytes["embedding"]
    )
    # ... and no discrete-GPU driver reserve (unified memory carries it in the OS reserve).
    assert pc.total_bytes - mac.total_bytes == pc.components["output_copy"] + memory.GPU_RUNTIME_RESERVE_BYTES
    fm = memory.fit_matrix([m], [CAT.device("m4-max-128gb")], ["Q4_K_M"], (8192,), text_only=True)
    assert fm.need_bytes[0, 0, 0, 0] == mac.placement.gpu_bytes + mac.placement.host_bytes


@pytest.mark.parametrize("engine", ["llama.cpp", "ollama", "vllm", "transformers"])
def test_fit_matrix_is_estimate_over_the_whole_catalog(engine):
    # One accounting: every catalog model x device x context of the ladder, in the engine's guide formats, gives
    # the same bytes needed and the same fit as `estimate` (vLLM included: whole KV blocks against
    # gpu_memory_utilization; before they shared it, 2 vLLM cells disagreed, e.g. gemma-3-4b BF16, phone, 16K).
    from calculators.engines import engine as engine_record

    models, hw = list(CAT.models.values()), list(CAT.hardware.values())
    quants = list(engine_record(engine).guide_quants)
    kv = "bf16" if engine in ("vllm", "transformers") else "f16"
    fm = memory.fit_matrix(models, hw, quants, memory.DEFAULT_CONTEXT_LADDER, engine=engine, kv_dtype=kv)
    checked = 0
    for mi, m in enumerate(models):
        for qi, q in enumerate(quants):
            if not fm.supported[mi, qi]:
                continue
            for hi, h in enumerate(hw):
                for ci, ctx in enumerate(fm.contexts):
                    if ctx > m.context_tokens:
                        assert not fm.fits[mi, qi, hi, ci]
                        continue
                    req = memory.MemoryRequest(
                        model=m, quant=q, context_tokens=ctx, engine=engine, kv_dtype=kv, hardware=h
                    )
                    est = memory.estimate(req)
                    assert (est.need_bytes, est.fits) == (fm.need_bytes[mi, qi, hi, ci], fm.fits[mi, qi, hi, ci]), (
                        m.id,
                        q,
                        h.id,
                        ctx,
                    )
                    checked += 1
    assert checked > 10_000


def test_vllm_fit_is_its_kv_pool_holding_the_batch():
    # The shared accounting's vLLM fit is exactly vLLM's own test: the block pool holds `batch` requests.
    m, h = CAT.model("gemma-3-4b"), CAT.device("phone-12gb")
    for ctx in (4096, 16384, 32768):
        for batch in (1, 3):
            est = memory.estimate(
                memory.MemoryRequest(
                    model=m, quant="BF16", context_tokens=ctx, batch=batch, engine="vllm", kv_dtype="bf16", hardware=h
                )
            )
            assert est.fits == (est.vllm.max_concurrency >= batch)
            assert (est.margin_bytes >= 0) == est.fits
