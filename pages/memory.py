"""Memory: where the bytes go, how the KV cache grows with context per engine, and what fits on which device."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from calculators import memory
from calculators.tensors import param_counts
from model_specs.hf_import import model_from_hf_json
from ui import byo_model
from ui.state import bind, catalog, get_scenario
from ui.widgets import KV_DTYPES, gib

GiB = 1 << 30
cat = catalog()
s = get_scenario()
st.title("Memory")
st.caption(
    "Weights per component, KV cache per layer type, engine overheads, and the fit on a device. "
    "GiB = 2³⁰ bytes. Each number has an expander with its formula and sources."
)

# ------------------------------------------------------------------ what-if controls
c1, c2, c3, c4 = st.columns(4)
with c1:
    bind("kv", st.selectbox, "KV cache type", key_prefix="mem", options=KV_DTYPES)
with c2:
    bind("conc", st.number_input, "Concurrent sequences", key_prefix="mem", min_value=1, max_value=1024)
with c3:
    bind("text_only", st.toggle, "Text only (no vision/audio encoders)", key_prefix="mem")
with c4:
    offload_ple = st.toggle(
        "Per-layer embeddings on the host",
        value=True,
        key="mem_offload_ple",
        help="llama.cpp and Ollama keep the PLE table in host memory by default.",
    )
    offload_experts = st.toggle(
        "MoE experts on the host",
        value=False,
        key="mem_offload_experts",
        help="llama.cpp --cpu-moe: routed experts stay in host RAM.",
    )

uploaded = st.file_uploader("Bring your own model: upload a Hugging Face config.json", type=["json"], key="mem_config")
model = cat.model(s.model)
if uploaded is not None:
    try:
        model = model_from_hf_json(uploaded.getvalue(), model_id=uploaded.name.removesuffix(".json"))
    except ValueError as e:  # hf_import says what it rejects (tests/test_hf_import.py fuzzes it)
        st.error(f"{uploaded.name} cannot be sized: {e}. Showing {model.name} from the sidebar instead.")
    else:
        t = model.text
        st.success(
            f"Sizing the uploaded model: {t.num_layers} layers, hidden {t.hidden_size}, "
            f"{param_counts(model).text_params / 1e9:.2f} B text parameters."
        )
        if model.notes:  # e.g. an architecture the importer does not know, sized with the Llama layout
            st.warning(f"Approximate: {model.notes}.")
        with st.expander("Uploaded config: what was read"):
            att = t.attention
            st.markdown(
                f"- Layers {t.num_layers} ({att.layer_types.count('S')} sliding, {att.layer_types.count('F')} "
                f"global, {att.kv_shared_layers} KV-shared), hidden {t.hidden_size}, vocabulary {t.vocab_size:,}, "
                f"{att.num_heads} query heads, tied embeddings: {t.tie_word_embeddings}; maximum context "
                f"{model.context_tokens:,} tokens (`max_position_embeddings`, 4096 if absent).\n"
                "- Parameters are counted from the tensors llama.cpp's converter would write for this layout "
                "(calculators/tensors.py); encoder sizes from `vision_config` / `audio_config` are approximate "
                "(layers x (4 h² + 2 h x ffn)).\n"
                "- Conversion rules: model_specs/hf_import.py."
            )

byo = byo_model.render(s.engine, s.text_only)  # a GGUF path/URL, Hub id or upload (ui/byo_model.py)
model = byo.model if byo else model
hardware = cat.device(s.hw)
ctx = min(s.ctx, model.context_tokens)
if ctx < s.ctx:
    st.info(f"{model.name} supports at most {model.context_tokens:,} tokens; showing that.")
req = memory.MemoryRequest(
    model=model,
    quant=s.quant,
    context_tokens=ctx,
    batch=s.conc,
    kv_dtype=s.kv,
    engine=s.engine,
    text_only=s.text_only,
    hardware=hardware,
    gpus=s.gpus,
    offload_ple=offload_ple if s.engine in ("llama.cpp", "ollama") else None,
    offload_experts=offload_experts,
    weights_override=byo.weights if byo else None,
)
try:
    est = memory.estimate(req)
except ValueError as e:
    st.warning(f"{s.quant} on {s.engine}: {e}. Pick another quantization, engine or KV type in the sidebar.")
    st.stop()

# ------------------------------------------------------------------ headline
m1, m2, m3, m4 = st.columns(4)
m1.metric("Weights", gib(est.weights_bytes))
m2.metric("KV cache", gib(est.kv_cache_bytes))
m3.metric("Overhead", gib(est.overhead_bytes))
verdict = "fits" if est.fits else "does not fit"
m4.metric(
    f"On {s.gpus} x {hardware.name}",
    verdict,
    delta=f"{gib(est.margin_bytes)} margin" if est.margin_bytes is not None else None,
    delta_color="normal" if est.fits else "inverse",
)
st.write(
    f"GPU-resident **{gib(est.placement.gpu_bytes)}**, host **{gib(est.placement.host_bytes)}**, usable on the "
    f"device **{gib(est.usable_bytes or 0)}**. Largest context that fits: **{est.max_context_tokens or 0:,}** "
    f"tokens; largest concurrency at {ctx:,} tokens: **{est.max_concurrency or 0}**."
)

# ------------------------------------------------------------------ stacked bar
labels = {
    "text": "Text decoder layers",
    "embedding": "Token embedding",
    "output": "Output matrix",
    "output_copy": "Tied output copy (GPU)",
    "ple": "Per-layer embeddings",
    "vision": "Vision encoder",
    "audio": "Audio encoder",
    "kv_cache": "KV cache",
    "overhead": "Compute buffer / runtime",
}
fig = go.Figure()
for k, label in labels.items():
    v = est.components.get(k, 0)
    if v:
        fig.add_bar(
            name=label,
            y=["memory"],
            x=[v / GiB],
            orientation="h",
            hovertemplate=f"{label}: %{{x:.2f}} GiB<extra></extra>",
        )
if est.usable_bytes:
    fig.add_vline(x=est.usable_bytes / GiB, line_dash="dash", annotation_text="usable")
fig.update_layout(
    barmode="stack", height=220, xaxis_title="GiB", margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h")
)
st.subheader("Where the memory goes")
st.plotly_chart(fig, width="stretch", key="mem_chart_bar")

with st.expander("Weights: formula and sources"):
    w = est.weights
    st.markdown(
        f"- **{w.quant}** on **{w.engine}**: {gib(w.total_bytes)}; per component: "
        + ", ".join(f"{k} {gib(v)}" for k, v in w.component_bytes.items() if v)
        + ".\n"
        "- GGUF mixes choose a type per tensor as llama.cpp's `llama_tensor_get_type` does (src/llama-quant.cpp): "
        "output / tied embedding Q6_K, attn_v and ffn_down Q6_K on the `use_more_bits` layers for _M mixes, "
        "fallback to Q5_0 / Q8_0 where a row is not a multiple of 256; ggml block sizes from ggml-common.h. "
        "Checked against 29 published llama-bench sizes: median error 0.04 %, worst 0.9 % (bench/bench_gguf_sizes.py).\n"
        "- AWQ / GPTQ / FP8 / NF4 keep embeddings and lm_head in 16-bit (vLLM, transformers).\n"
        "- Encoders are sized from their published parameter counts at 16 bits (llama.cpp mmproj F16).\n"
        + "".join(f"- {n}\n" for n in w.notes)
    )
    st.caption(
        f"Read per decoded token (shared + active experts, one row of lookup tables): {gib(w.active_bytes_per_token)}"
    )

with st.expander("KV cache: formula and sources"):
    g = memory.kv_geometry(model)
    full_b, swa_b = memory.kv_bytes_per_token(model, s.kv)
    cells = memory.kv_cells(model, ctx, s.engine, s.conc)
    st.markdown(
        f"- Cache-owning layers: {g.full_layers} global, {g.sliding_layers} sliding "
        f"({model.text.attention.kv_shared_layers} KV-shared layers store nothing).\n"
        f"- Per token ({s.kv}), summed over the cache-owning layers: global {full_b:,} B, sliding {swa_b:,} B "
        f"(K and V; K=V layers store both).\n"
        f"- Cells allocated by {s.engine}: global {cells.full_cells:,}, sliding {cells.sliding_cells:,} "
        f"(window {g.window}).\n"
        f"- KV = {full_b:,} B x {cells.full_cells:,} + {swa_b:,} B x {cells.sliding_cells:,} "
        f"= {gib(est.kv_cache_bytes)}.\n"
        "- llama.cpp: sliding cells = min(n_ctx, pad(window x n_seq + n_ubatch, 256)) (src/llama-kv-cache-iswa.cpp); "
        "Ollama: n_seq x window + num_batch (kvcache/causal.go); vLLM: blocks of 16, window - 1 + "
        "max_num_batched_tokens per sliding group (v1/core/kv_cache_utils.py); transformers keeps the window "
        "(DynamicSlidingWindowLayer). Exact against llama.cpp's logged 256 MiB (Llama-2-7B, 512), "
        "1024 MiB (Mistral-7B, 8192) and 3072 MiB + 768 SWA cells (gpt-oss, 131072)."
    )

with st.expander("Overhead, placement and fit: formula and sources"):
    usable, rule = memory.usable_memory_bytes(hardware, s.gpus)
    st.markdown(
        f"- Usable memory on {hardware.name}: {gib(usable)} ({rule}).\n"
        "- Placement: llama.cpp / Ollama keep the input token embedding (and, by default, the per-layer-embedding "
        "table) in host memory and load a tied output matrix a second time on the GPU (not on Apple silicon, "
        "where Metal maps the file once); `--cpu-moe` moves the routed experts to the host. GPU-resident = "
        "weights on the GPU + KV cache + overhead; host = the host-side tensors. vLLM and transformers keep "
        "everything on the GPU.\n"
        "- Fits when the GPU-resident bytes (plus the host bytes on unified memory) are at most the usable "
        "memory; margin = usable - that need. vLLM fits when its KV pool holds the requested sequences.\n"
        "- Largest context: the longest context (a multiple of 256, or the model's maximum) that still fits with "
        "the same accounting, by bisection; largest concurrency: the most parallel sequences (at most 1024) of "
        "the chosen context that fit (vLLM: KV blocks / blocks per request).\n"
        "- llama.cpp / Ollama overhead = compute buffer estimate (largest of the ubatch logits, FFN and attention "
        f"activations) + {memory.GPU_RUNTIME_RESERVE_BYTES // 2**20} MiB runtime reserve on a discrete GPU "
        "(assumption: a CUDA context's typical 300-500 MiB).\n"
        "- transformers overhead = per sequence, the prompt's bf16 activations (context x hidden x 4 tensors) and "
        "the f32 logits of one position, + the same runtime reserve.\n"
        "- vLLM overhead = activation peak of one max_num_batched_tokens (8192) pass + "
        f"{memory.VLLM_NON_TORCH_BYTES / 2**30:.2f} GiB non-torch memory per GPU (vllm-project/vllm#13061); "
        "KV budget = gpu_memory_utilization x memory - weights - overhead, reported as max concurrency at the "
        "context length.\n"
        "- Host-side tensors count against unified memory (Apple, Jetson, DGX Spark) but not against a discrete "
        "GPU.\n" + "".join(f"- {n}\n" for n in est.notes)
    )
    if est.vllm is not None:
        v = est.vllm
        st.write(
            f"vLLM: {v.num_blocks:,} blocks, {v.blocks_per_request} blocks per request, "
            f"max concurrency {v.max_concurrency:.2f}x, KV cache {v.kv_cache_tokens:,} tokens."
        )

# ------------------------------------------------------------------ KV vs context per engine
st.subheader("KV cache against context, per engine")
# Powers of two up to the model's maximum, which ends the curve.
ladder = [c for c in (1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072, 262144) if c < model.context_tokens]
ladder.append(model.context_tokens)
kfig = go.Figure()
for name, kv_bytes in memory.kv_curve(model, ladder, s.kv, s.conc).items():
    dotted = name in (memory.GLOBAL_KV_CURVE, memory.SLIDING_KV_CURVE, memory.NAIVE_KV_CURVE)
    kfig.add_scatter(
        x=ladder,
        y=[b / GiB for b in kv_bytes],
        mode="lines" if dotted else "lines+markers",
        name=name,
        line=dict(dash="dot") if dotted else None,
    )
kfig.update_layout(
    xaxis_type="log", xaxis_title="context (tokens)", yaxis_title="GiB", height=360, margin=dict(l=10, r=10, t=10, b=10)
)
st.plotly_chart(kfig, width="stretch", key="mem_chart_kv")
st.caption(
    "Sliding-window layers stop growing at the window (the flat dotted line); only the global layers keep growing. "
    "The naive line is what a calculator that ignores windows and KV sharing would report."
)
with st.expander("KV curves: formula"):
    st.markdown(
        f"- Each point is the KV cache formula above at that context for {s.conc} sequence(s), with each "
        f"engine's cell rule; engines without a {s.kv} cache are drawn in f16.\n"
        "- *global layers only*: global bytes per token x context x sequences.\n"
        "- *sliding layers (llama.cpp)*: llama.cpp's cache minus the global layers: min(context, pad(window x "
        "sequences + n_ubatch, 256)) cells per sliding layer, flat past the window.\n"
        "- *naive*: every layer (KV-shared ones too) x its KV heads x head size x 2 x context x sequences."
    )

# ------------------------------------------------------------------ fit matrix heatmap
st.subheader(f"What fits: largest context per device ({s.quant}, {s.engine}, {s.kv})")
models = list(cat.models.values())
devices = list(cat.hardware.values())
try:
    fm = memory.fit_matrix(
        models,
        devices,
        [s.quant],
        engine=s.engine,
        kv_dtype=s.kv,  # the engine has it: the estimate above stopped the page otherwise
        batch=s.conc,
        text_only=s.text_only,
        gpus=s.gpus,
    )
    z = fm.max_context_tokens[:, 0, :]
    hfig = go.Figure(
        go.Heatmap(
            z=z,
            x=[d.name for d in devices],
            y=[m.name for m in models],
            colorscale="Viridis",
            hovertemplate="%{y} on %{x}: %{z:,} tokens<extra></extra>",
            colorbar=dict(title="tokens"),
        )
    )
    # Every model and device labelled (plotly would otherwise skip every other category name).
    hfig.update_layout(
        height=260 + 26 * len(models),
        margin=dict(l=10, r=10, t=10, b=10),
        yaxis=dict(type="category", dtick=1),
        xaxis=dict(type="category", dtick=1, tickangle=-60, tickfont=dict(size=9)),
    )
    st.plotly_chart(hfig, width="stretch", key="mem_chart_heat")
    with st.expander("Fit matrix: formula"):
        st.markdown(
            "- Cell = the largest context on the ladder "
            + ", ".join(f"{c // 1024}k" for c in fm.contexts)
            + f" that fits (0 = not even the first), for every catalog variant on {s.gpus} x each catalog device.\n"
            "- Same accounting as the numbers above: weights on the GPU + KV cache (the engine's cell rule) + "
            "overhead, against the usable memory; unified memory also counts the host-side tensors. vLLM: "
            "against 90 % of the device (gpu_memory_utilization), KV for the requested sequences."
        )
except ValueError as e:
    st.info(f"No fit matrix for this combination: {e}")
