"""Schema and plausibility checks over hardware.yaml, quantization.yaml and prices.yaml, and their load errors."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import pytest

from model_specs.loader import DATA_DIR, CatalogError, load_catalog_from, load_file
from model_specs.schema import HardwareCatalog, PriceCatalog, QuantCatalog

HARDWARE = {h.id: h for h in load_file(DATA_DIR / "hardware.yaml", HardwareCatalog).hardware}
QUANTS = {q.id: q for q in load_file(DATA_DIR / "quantization.yaml", QuantCatalog).formats}
PRICES = load_file(DATA_DIR / "prices.yaml", PriceCatalog)
TODAY = dt.date.today()

# ---------------------------------------------------------------- hardware: coverage

# Every device class issue 2 names (phones, Pi, Jetson, Apple M1-M4 tiers, consumer NVIDIA, AMD, datacenter NVIDIA, Spark).
REQUIRED_HARDWARE = [
    "phone-4gb",
    "phone-8gb",
    "phone-12gb",
    "raspberry-pi-5-8gb",
    "raspberry-pi-5-16gb",
    "jetson-orin-nano-super-8gb",
    "jetson-agx-orin-64gb",
    "m4-16gb",
    "m4-pro-48gb",
    "m4-max-128gb",
    "m2-ultra-192gb",
    "m3-ultra-512gb",
    "rtx-3060-12gb",
    "rtx-3090",
    "rtx-4060-ti-16gb",
    "rtx-4070-ti-super",
    "rtx-4080-super",
    "rtx-4090",
    "rtx-5090",
    "rx-7900-xtx",
    "mi300x",
    "t4",
    "l4",
    "a10g",
    "l40s",
    "a100-40gb-sxm",
    "a100-80gb-sxm",
    "a100-80gb-pcie",
    "h100-80gb-pcie",
    "h100-80gb-sxm",
    "h200",
    "b200",
    "dgx-spark",
]
# CPUs and phones people run llama.cpp on (issue 13): each needs a sourced `cpu` block.
REQUIRED_CPUS = [
    "intel-n100",
    "intel-n150",
    "core-i3-1315u",
    "core-i3-14100",
    "core-i5-1135g7",
    "ryzen-7-8840u",
    "ryzen-5-7600x",
    "core-i5-13600k",
    "ryzen-9-7950x",
    "xeon-platinum-8480",
    "graviton3-64",
    "threadripper-pro-5995wx",
    "snapdragon-x-elite",
    "snapdragon-8cx-gen3",
    "qcs6490",
    "dimensity-9000-plus",
    "snapdragon-7-plus-gen-2",
]
# Apple tiers that exist (there is no M4 Ultra); each needs at least one memory option.
APPLE_TIERS = [
    "m1",
    "m1-pro",
    "m1-max",
    "m1-ultra",
    "m2",
    "m2-pro",
    "m2-max",
    "m2-ultra",
    "m3",
    "m3-pro",
    "m3-max",
    "m3-ultra",
    "m4",
    "m4-pro",
    "m4-max",
]


def test_catalog_has_at_least_35_devices_with_unique_ids_and_aliases():
    assert len(HARDWARE) >= 35
    aliases = [a for h in HARDWARE.values() for a in h.aliases]
    assert len(aliases) == len(set(aliases))
    assert not set(aliases) & set(HARDWARE), "an alias shadows a hardware id"


@pytest.mark.parametrize("hid", REQUIRED_HARDWARE + REQUIRED_CPUS)
def test_required_device_present(hid):
    assert hid in HARDWARE


@pytest.mark.parametrize("tier", APPLE_TIERS)
def test_every_apple_tier_has_memory_options(tier):
    ids = [h for h in HARDWARE if re.fullmatch(rf"{tier}-\d+gb", h)]
    assert ids, f"no {tier} entry"
    assert all(HARDWARE[h].kind == "apple" and HARDWARE[h].unified_memory for h in ids)


def test_cpu_only_server_and_gpu_less_laptop_present():
    servers = [h for h in HARDWARE.values() if h.category == "cpu-server" and h.kind == "cpu"]
    laptops = [h for h in HARDWARE.values() if h.category == "laptop" and h.kind == "cpu"]
    assert servers and laptops
    # Both bandwidths are channels x bus width x MT/s, so they must be marked derived.
    assert all("memory_bandwidth_gbs" in h.derived for h in servers + laptops)


def test_sixteen_gb_macbook_alias_resolves_to_a_16_gib_apple_device():
    by_alias = {a: h for h in HARDWARE.values() for a in h.aliases}
    mac = by_alias["macbook-16gb"]
    assert mac.kind == "apple" and mac.memory_gib == 16


# ---------------------------------------------------------------- hardware: plausibility

# GB/s ranges per category (10^9 bytes/s): LPDDR phones ~17-100, HBM3e parts up to 8 TB/s.
BANDWIDTH_RANGE_GBS = {
    "phone": (10, 150),
    "sbc": (5, 40),
    "edge": (50, 300),
    "laptop": (40, 600),
    "desktop": (200, 900),
    "consumer-gpu": (250, 2000),
    "workstation-gpu": (250, 2000),
    "datacenter-gpu": (250, 9000),
    "cpu-server": (100, 1500),
}
# CPU systems: one DDR channel (N100 mini PC, 38 GB/s) up to 12-channel servers; desktops include 8-channel workstations.
CPU_BANDWIDTH_RANGE_GBS = {"desktop": (30, 300), "laptop": (30, 200), "edge": (30, 300), "phone": (10, 150)}
DENSE_TFLOPS_RANGE = {"consumer-gpu": (15, 450), "datacenter-gpu": (50, 5000)}
# Dense FLOP per byte of bandwidth; inference cards with GDDR6 sit above the usual range (outliers, explicitly allowed).
FLOP_PER_BYTE_RANGE = (20, 400)
FLOP_PER_BYTE_OUTLIERS = {
    "l40s": "362 TFLOPS on 864 GB/s GDDR6 (419 FLOP/B): a compute-heavy inference card",
    "l4": "121 TFLOPS on 300 GB/s GDDR6 (403 FLOP/B): a 72 W inference card",
}


@pytest.mark.parametrize("hid", sorted(HARDWARE))
def test_bandwidth_within_category_range(hid):
    h = HARDWARE[hid]
    assert h.memory_bandwidth_gbs is not None, "every device in the catalog has a bandwidth (speed depends on it)"
    ranges = CPU_BANDWIDTH_RANGE_GBS if h.cpu is not None else BANDWIDTH_RANGE_GBS
    lo, hi = ranges.get(h.category, BANDWIDTH_RANGE_GBS[h.category])
    assert lo <= h.memory_bandwidth_gbs <= hi


@pytest.mark.parametrize("hid", sorted(h for h, rec in HARDWARE.items() if rec.fp16_tflops_dense is not None))
def test_dense_tflops_within_category_range_and_balance(hid):
    h = HARDWARE[hid]
    lo, hi = DENSE_TFLOPS_RANGE[h.category]
    assert lo <= h.fp16_tflops_dense <= hi
    flop_per_byte = h.fp16_tflops_dense * 1e12 / (h.memory_bandwidth_gbs * 1e9)
    in_range = FLOP_PER_BYTE_RANGE[0] <= flop_per_byte <= FLOP_PER_BYTE_RANGE[1]
    assert in_range != (hid in FLOP_PER_BYTE_OUTLIERS), f"{hid}: {flop_per_byte:.0f} FLOP/B vs allow-list"


# Golden dense figures, FP16/BF16 tensor with FP32 accumulate. The sparse figure is exactly twice these, so a tolerance
# of 2% catches a sparse value stored by mistake.
DENSE_GOLDEN = {
    "h100-80gb-sxm": 989.4,  # NVIDIA H100 datasheet: 1,979 "with sparsity" / 2 (glennklockwood)
    "h200": 989.4,  # H200 datasheet 1,979 with sparsity / 2
    "a100-80gb-sxm": 312,  # A100 datasheet: 312 dense | 624 sparse
    "a100-40gb-sxm": 312,
    "l4": 121,  # L4 datasheet: 242 with sparsity
    "l40s": 362.05,  # 733 with sparsity
    "rtx-4090": 165.2,  # Ada whitepaper Appendix A: 165.2 / 330.4
    "rtx-3090": 71,  # GA102 whitepaper: 71 / 142 (FP32 accumulate)
    "rtx-5090": 209.5,  # RTX Blackwell whitepaper: 209.5 / 419 (marketing "838" is FP16-accumulate sparse)
    "b200": 2250,  # HGX B200 at 1,000 W: 2,250 dense / 4,500 sparse (glennklockwood)
    "mi300x": 1307.4,  # AMD MI300X data sheet: 1,307.4 dense / 2,614.9 sparse
}


@pytest.mark.parametrize("hid,dense", sorted(DENSE_GOLDEN.items()))
def test_dense_tflops_is_not_the_sparse_figure(hid, dense):
    assert HARDWARE[hid].fp16_tflops_dense == pytest.approx(dense, rel=0.02)


def test_published_bandwidths():
    # Vendor figures (GB/s): H100 SXM 3.35 TB/s, H200 4.8 TB/s, A100 80GB SXM 2,039, RTX 4090 1,008 (Ada whitepaper),
    # M4 Max (16/40) 546 and M4 Pro 273 (Apple newsroom 2024-10-30), Pi 5 17.1 = 32-bit x 4267 MT/s.
    expected = {
        "h100-80gb-sxm": 3350,
        "h200": 4800,
        "a100-80gb-sxm": 2039,
        "rtx-4090": 1008,
        "m4-max-128gb": 546,
        "m4-pro-48gb": 273,
        "raspberry-pi-5-16gb": 17.1,
    }
    for hid, gbs in expected.items():
        assert HARDWARE[hid].memory_bandwidth_gbs == pytest.approx(gbs, rel=0.01), hid


@pytest.mark.parametrize("hid", sorted(HARDWARE))
def test_memory_label_agrees_with_memory_gib(hid):
    h = HARDWARE[hid]
    m = re.search(r"(\d+(?:\.\d+)?)\s*GB", h.memory_label)
    assert m, f"memory_label {h.memory_label!r} has no 'N GB'"
    # Vendors' "GB" of device memory and RAM is GiB in practice (a "24 GB" GPU has 24 GiB), so they must match.
    assert float(m.group(1)) == pytest.approx(h.memory_gib, rel=0.01)


@pytest.mark.parametrize("hid", sorted(HARDWARE))
def test_record_sources_dates_and_derived_fields(hid):
    h = HARDWARE[hid]
    assert h.source.startswith("https://")
    assert h.as_of <= TODAY
    for field in h.derived:
        assert field in h.field_sources, f"derived field {field} has no explanation in field_sources"
    if h.price_usd is not None:
        assert h.price_note and h.field_sources["price_usd"]
    assert all(v.strip() for v in h.field_sources.values())


def test_unified_memory_by_category():
    for h in HARDWARE.values():
        if h.category in ("consumer-gpu", "workstation-gpu", "datacenter-gpu"):
            assert not h.unified_memory, h.id
        elif h.category in ("phone", "sbc", "edge") or h.kind == "apple":
            assert h.unified_memory, h.id


def test_memory_options_of_one_chip_share_bandwidth_except_binned_max_chips():
    # M3 Max and M4 Max ship a cut-down bin (300 / 410 GB/s) with their smallest memory option (Apple specs).
    by_chip: dict[str, set[float]] = {}
    for h in HARDWARE.values():
        if h.kind == "apple":
            by_chip.setdefault(h.id.rsplit("-", 1)[0], set()).add(h.memory_bandwidth_gbs)
    assert by_chip.pop("m3-max") == {300, 400}
    assert by_chip.pop("m4-max") == {410, 546}
    assert all(len(bws) == 1 for bws in by_chip.values()), by_chip


# ---------------------------------------------------------------- quantisation formats

REQUIRED_QUANTS = [
    "F32",
    "F16",
    "BF16",
    "Q8_0",
    "Q6_K",
    "Q5_K_M",
    "Q5_K_S",
    "Q4_K_M",
    "Q4_K_S",
    "Q3_K_L",
    "Q3_K_M",
    "Q3_K_S",
    "Q2_K",
    "IQ4_XS",
    "IQ4_NL",
    "Q5_0",
    "Q5_1",
    "Q4_0",
    "Q4_1",
    "MXFP4",
    "NVFP4",
    "FP8",
    "INT8",
    "AWQ",
    "GPTQ",
    "NF4",
    "GGML_Q6_K",
    "GGML_Q5_K",
    "GGML_Q4_K",
    "GGML_Q3_K",
    "GGML_Q2_K",
    "GGML_IQ4_XS",
]


def test_quant_ids_and_aliases_unique_ignoring_case():
    names = [n.lower() for q in QUANTS.values() for n in (q.id, *q.aliases)]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("qid", REQUIRED_QUANTS)
def test_required_quant_present_with_engines(qid):
    assert QUANTS[qid].engines


# Bytes per block from ggml/src/ggml-common.h static_asserts (QK_K = 256, QK4_0 = QK8_0 = QK_MXFP4 = 32).
GGML_BLOCKS = {
    "Q8_0": (32, 34),
    "Q5_1": (32, 24),
    "Q5_0": (32, 22),
    "Q4_1": (32, 20),
    "Q4_0": (32, 18),
    "IQ4_NL": (32, 18),
    "GGML_Q6_K": (256, 210),
    "GGML_Q5_K": (256, 176),
    "GGML_Q4_K": (256, 144),
    "GGML_Q3_K": (256, 110),
    "GGML_Q2_K": (256, 84),
    "GGML_IQ4_XS": (256, 136),
    "MXFP4": (32, 17),
}


@pytest.mark.parametrize("qid,block", sorted(GGML_BLOCKS.items()))
def test_ggml_block_layout(qid, block):
    q = QUANTS[qid]
    assert (q.block_weights, q.block_bytes) == block
    assert set(q.engines) >= {"llama.cpp", "ollama"}


# Each llama-quantize mix carries the nominal bpw of its base GGML type.
MIX_BASE = {
    "Q6_K": "GGML_Q6_K",
    "Q5_K_M": "GGML_Q5_K",
    "Q5_K_S": "GGML_Q5_K",
    "Q4_K_M": "GGML_Q4_K",
    "Q4_K_S": "GGML_Q4_K",
    "Q3_K_L": "GGML_Q3_K",
    "Q3_K_M": "GGML_Q3_K",
    "Q3_K_S": "GGML_Q3_K",
    "Q2_K": "GGML_Q2_K",
    "IQ4_XS": "GGML_IQ4_XS",
}


@pytest.mark.parametrize("mix,base", sorted(MIX_BASE.items()))
def test_gguf_mix_uses_base_type_bpw(mix, base):
    q = QUANTS[mix]
    assert q.kind == "gguf-mix" and q.block_weights is None and q.block_bytes is None
    assert q.bits_per_weight == QUANTS[base].bits_per_weight


def test_group_and_block_scale_overheads():
    # AWQ/GPTQ: fp16 scale + 4-bit zero per group of 128 (vllm awq.py / gptq.py tensor shapes).
    assert QUANTS["AWQ"].bits_per_weight == pytest.approx(4 + (16 + 4) / 128)
    assert QUANTS["GPTQ"].bits_per_weight == pytest.approx(4 + (16 + 4) / 128)
    # NF4: FP32 absmax per 64 weights; double quant: 8/64 + 32/(64*256) (QLoRA, arXiv:2305.14314, section 3).
    assert QUANTS["NF4"].bits_per_weight == pytest.approx(4.5)
    assert QUANTS["NF4-DQ"].bits_per_weight == pytest.approx(4 + 8 / 64 + 32 / (64 * 256))
    # MXFP4: E8M0 scale per 32 (OCP MX v1.0); NVFP4: E4M3 scale per 16 (NVIDIA NVFP4 blog).
    assert QUANTS["MXFP4"].bits_per_weight == pytest.approx(4.25)
    assert QUANTS["NVFP4"].bits_per_weight == pytest.approx(4.5)


def test_engines_per_format_family():
    for q in QUANTS.values():
        if q.kind in ("gguf", "gguf-mix"):
            assert set(q.engines) == {"llama.cpp", "ollama"}, q.id
    for qid in ("FP8", "INT8", "AWQ", "GPTQ", "NF4", "NVFP4"):
        assert "llama.cpp" not in QUANTS[qid].engines and "vllm" in QUANTS[qid].engines


# ---------------------------------------------------------------- prices


def test_cloud_prices_map_to_hardware_and_are_plausible():
    assert len({p.provider for p in PRICES.cloud_gpu}) >= 4
    for p in PRICES.cloud_gpu:
        assert p.hardware in HARDWARE, p
        assert HARDWARE[p.hardware].category in ("consumer-gpu", "workstation-gpu", "datacenter-gpu")
        assert 0.1 <= p.usd_per_gpu_hour <= 20, p
        assert p.as_of <= TODAY and p.source.startswith("https://")


def test_modal_per_second_rates_convert_to_hourly():
    # modal.com/pricing (2026-10-07): A100-80GB $0.000694/s, L40S $0.000542/s.
    rates = {p.hardware: p.usd_per_gpu_hour for p in PRICES.cloud_gpu if p.provider == "Modal"}
    assert rates["a100-80gb-sxm"] == pytest.approx(0.000694 * 3600)
    assert rates["l40s"] == pytest.approx(0.000542 * 3600)


REQUIRED_API_MODELS = [
    "gemma-4-26b-a4b",
    "gemma-4-31b",
    "gemma-4-e2b",
    "gemma-3-27b",
    "gemma-3-12b",
    "gemma-3-4b",
    "gpt-oss-20b",
    "gpt-oss-120b",
    "Llama-3.1-8B-Instruct",
    "Llama-3.3-70B-Instruct",
    "Qwen3-235B-A22B",
]


def test_api_prices_cover_models_and_are_sanely_scaled():
    models = {p.model for p in PRICES.api}
    assert set(REQUIRED_API_MODELS) <= models
    for p in PRICES.api:
        # The wandb rows of the LiteLLM file are mis-scaled (thousands of $ per M tokens); nothing near that may slip in.
        assert p.usd_per_mtok_input <= 5 and p.usd_per_mtok_output <= 10, p
        assert p.provider != "wandb"
        assert p.as_of <= TODAY
    pairs = [(p.provider, p.model) for p in PRICES.api]
    assert len(pairs) == len(set(pairs)), "one price per provider and model"


def test_full_catalog_loads_and_gemma_api_prices_use_catalog_ids():
    cat = load_catalog_from(DATA_DIR)
    for p in cat.api_prices:
        if p.model.startswith("gemma"):
            assert p.model in cat.models, p.model
    assert cat.quant("fp16").id == "F16" and cat.quant("q4_k_m").id == "Q4_K_M"
    assert cat.device("macbook-16gb").id == "m4-16gb"
    with pytest.raises(KeyError):
        cat.quant("Q4_K")  # ambiguous between the GGML type and the mixes: deliberately not a name


# ---------------------------------------------------------------- bad YAML gives one readable error

GOOD_ENTRY = """\
hardware:
- id: rtx-4090
  name: NVIDIA GeForce RTX 4090
  kind: nvidia
  category: consumer-gpu
  memory_gib: {mem}
  memory_label: 24 GB GDDR6X
  unified_memory: false
  source: https://example.org
  as_of: 2022-10-12
{extra}"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hardware.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_string_for_number_names_file_record_and_field(tmp_path):
    path = _write(tmp_path, GOOD_ENTRY.format(mem="twenty-four", extra=""))
    with pytest.raises(CatalogError) as e:
        load_file(path, HardwareCatalog)
    assert "hardware.yaml: hardware[rtx-4090].memory_gib:" in str(e.value)
    assert "number" in str(e.value)


def test_unknown_field_names_file_record_and_field(tmp_path):
    path = _write(tmp_path, GOOD_ENTRY.format(mem=24, extra="  vram_gb: 24\n"))
    with pytest.raises(CatalogError) as e:
        load_file(path, HardwareCatalog)
    assert "hardware.yaml: hardware[rtx-4090].vram_gb: Extra inputs are not permitted" in str(e.value)


def test_price_without_its_source_is_rejected(tmp_path):
    path = _write(tmp_path, GOOD_ENTRY.format(mem=24, extra="  price_usd: 1599\n"))
    with pytest.raises(CatalogError, match=r"hardware\.yaml: hardware\[rtx-4090\]: .*price_usd needs its own entry"):
        load_file(path, HardwareCatalog)


def test_cloud_price_for_unknown_hardware_names_prices_file(tmp_path):
    for name in ("hardware.yaml", "quantization.yaml", "prices.yaml"):
        shutil.copy(DATA_DIR / name, tmp_path / name)
    prices = tmp_path / "prices.yaml"
    prices.write_text(prices.read_text().replace("hardware: h200,", "hardware: h300,", 1))
    with pytest.raises(CatalogError, match=r"prices\.yaml: cloud_gpu\[.*\]\.hardware: unknown hardware id 'h300'"):
        load_catalog_from(tmp_path)


# ---------------------------------------------------------------- hardware: CPU blocks (issue 13)


@pytest.mark.parametrize("hid", REQUIRED_CPUS)
def test_cpu_block_sourced_and_consistent(hid):
    h = HARDWARE[hid]
    c = h.cpu
    assert c is not None, f"{hid} has no cpu block"
    assert c.source.startswith(("https://", "http://"))
    assert c.isa, "ISA features listed"
    assert c.vector_bits in (128, 256, 512)
    # x86 parts list AVX2, Arm parts NEON: a mixed list is a data-entry error.
    assert ("avx2" in c.isa) != ("neon" in c.isa)
    if "avx512" in c.isa:
        assert c.vector_bits == 512
    for f in c.derived:
        assert f in c.field_sources, f"cpu.{f} is derived but not explained"
    if c.memory_bus_bits and c.memory_type:
        # theoretical bandwidth = bus width x transfer rate: the record's figure must agree with its own memory type
        mts = float(re.search(r"-(\d+)", c.memory_type).group(1))
        assert h.memory_bandwidth_gbs == pytest.approx(c.memory_bus_bits / 8 * mts / 1000, rel=0.01)
    if c.sustained_bandwidth_gbs is not None:
        assert c.sustained_bandwidth_gbs < h.memory_bandwidth_gbs, "a measured bandwidth above the theoretical peak"


def test_cpu_golden_figures():
    # Vendor figures: Xeon Platinum 8480+ 56 cores / 112 threads, 8 channels DDR5-4800 (Intel ARK); Graviton3 64 cores at
    # 2.6 GHz, 256-bit SVE (AWS via techpowerup); i5-13600K 6P + 8E / 20 threads (Intel); N100 4 E-cores, single channel.
    x, g, i5, n = (HARDWARE[k].cpu for k in ("xeon-platinum-8480", "graviton3-64", "core-i5-13600k", "intel-n100"))
    assert (x.cores, x.threads, x.memory_channels, "amx" in x.isa) == (56, 112, 8, True)
    assert (g.cores, g.boost_clock_ghz, g.vector_bits, "sve" in g.isa) == (64, 2.6, 256, True)
    assert (i5.performance_cores, i5.efficiency_cores, i5.threads, "avx512" in i5.isa) == (6, 8, 20, False)
    assert (n.cores, n.memory_channels) == (4, 1)
    assert HARDWARE["xeon-platinum-8480"].memory_bandwidth_gbs == pytest.approx(307.2)


def _cpu_record(**cpu) -> dict:
    base = {"cores": 4, "threads": 8, "source": "https://example.org/spec"}
    return {
        "id": "x",
        "name": "x",
        "kind": "cpu",
        "category": "desktop",
        "memory_gib": 16,
        "memory_label": "16 GB",
        "unified_memory": True,
        "memory_bandwidth_gbs": 76.8,
        "source": "https://example.org",
        "as_of": "2024-01-01",
        "cpu": {**base, **cpu},
    }


@pytest.mark.parametrize(
    "cpu,message",
    [
        ({"isa": ["avx2", "avx1024"]}, "avx1024"),
        ({"threads": 2}, "threads"),
        ({"performance_cores": 2}, "go together"),
        ({"performance_cores": 2, "efficiency_cores": 1}, "must equal"),
        ({"sustained_bandwidth_gbs": 60.0}, "field_sources"),
        ({"derived": ["clock"]}, "unknown field"),
    ],
)
def test_cpu_block_rejects_bad_records(cpu, message):
    from pydantic import ValidationError

    from model_specs.schema import Hardware

    with pytest.raises(ValidationError, match=message):
        Hardware.model_validate(_cpu_record(**cpu))
