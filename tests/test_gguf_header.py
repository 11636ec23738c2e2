"""GGUF headers: exact per-tensor inventory, architecture from metadata, split and mmproj files, remote range reads,
and one-line errors for bad input. The files are written with the gguf package's GGUFWriter; its GGUFReader (an
independent parser of the same format) is the reference for every tensor's type, shape and size."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import gguf
import pytest

from bench.gguf_reference import spec
from calculators.gguf_file import file_weights, recipe_diff
from calculators.memory import MemoryRequest, estimate, kv_cache_bytes
from model_specs import load_catalog
from model_specs.gguf_arch import model_from_gguf
from model_specs.gguf_header import GGUFError, read_local
from model_specs.remote import RangeNotSupported, open_gguf
from model_specs.schema import ModelSpec
from tests.gguf_files import model_metadata, recipe, write_gguf
from tests.http_files import FileServer

ROOT = Path(__file__).resolve().parents[1]

TINY_LLAMA = spec("tiny-llama", "llama", layers=4, hidden=256, ff=512, vocab=1000, heads=4, kv=2, ctx=4096)
# Gemma-4-like: sliding/global pattern with their own KV heads and head sizes, K=V global layers, KV-shared
# layers, a double-wide FFN on the shared layers, per-layer embeddings.
TINY_GEMMA4 = ModelSpec.model_validate(
    {
        "id": "tiny-gemma4",
        "name": "tiny-gemma4",
        "family": "gemma4",
        "modalities": ["text"],
        "context_tokens": 8192,
        "text": {
            "num_layers": 6,
            "hidden_size": 256,
            "intermediate_size": [512, 512, 512, 512, 1024, 1024],
            "vocab_size": 512,
            "tie_word_embeddings": True,
            "attention": {
                "num_heads": 4,
                "layer_types": "SSFSSF",
                "sliding": {"kv_heads": 2, "head_dim": 64},
                "full": {"kv_heads": 1, "head_dim": 128, "k_eq_v": True},
                "sliding_window_tokens": 128,
                "kv_shared_layers": 2,
            },
            "per_layer_embedding": {"dim": 64, "vocab_size": 512},
        },
        "source": "test",
    }
)
TINY_MOE = spec(
    "tiny-moe", "qwen3moe", layers=3, hidden=256, ff=0, vocab=600, heads=4, kv=2, head_dim=64, experts=(8, 2, 256)
)
# A custom recipe: what unsloth-style dynamic quants do (embedding kept at Q4_K, some layers up, some down).
CUSTOM = {
    "token_embd.weight": "Q4_K",
    "blk.0.ffn_down.weight": "Q8_0",
    "blk.1.ffn_up.weight": "IQ4_XS",
    "blk.2.attn_q.weight": "Q2_K",
}


def _reader_inventory(paths: list[Path]) -> list[tuple[str, str, tuple[int, ...], int]]:
    out = []
    for p in paths:
        for t in gguf.GGUFReader(p).tensors:
            out.append((t.name, t.tensor_type.name, tuple(int(d) for d in t.shape), int(t.n_bytes)))
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("gguf")
    out = {}
    out["llama"] = d / "tiny-llama-Q4_K_M.gguf"
    write_gguf(out["llama"], "llama", model_metadata(TINY_LLAMA, "llama"), recipe(TINY_LLAMA, "Q4_K_M", CUSTOM),
               ftype="Q4_K_M", vocab_tokens=1000)  # fmt: skip
    out["gemma4"] = d / "tiny-gemma4-Q4_K_M.gguf"
    write_gguf(out["gemma4"], "gemma4", model_metadata(TINY_GEMMA4, "gemma4"), recipe(TINY_GEMMA4, "Q4_K_M"),
               ftype="Q4_K_M")  # fmt: skip
    out["moe"] = d / "tiny-moe-Q8_0.gguf"
    write_gguf(out["moe"], "qwen3moe", model_metadata(TINY_MOE, "qwen3moe"), recipe(TINY_MOE, "Q8_0"), ftype="Q8_0")
    out["split"] = d / "tiny-split.gguf"  # GGUFWriter names the shards tiny-split-0000N-of-00003.gguf
    write_gguf(out["split"], "llama", model_metadata(TINY_LLAMA, "llama"), recipe(TINY_LLAMA, "Q4_K_M", CUSTOM),
               ftype="Q4_K_M", split_max_tensors=15)  # fmt: skip
    out["mmproj"] = d / "mmproj-F16.gguf"
    vision = [("v.patch_embd.weight", (256, 64), "F16"), ("v.blk.0.attn_q.weight", (64, 64), "F16"),
              ("mm.input_projection.weight", (64, 256), "F16")]  # fmt: skip
    audio = [("a.blk.0.attn_q.weight", (128, 128), "F16"), ("mm.a.input_projection.weight", (128, 256), "F32")]
    md = {"clip.has_vision_encoder": True, "clip.has_audio_encoder": True, "clip.vision.block_count": 1}
    write_gguf(out["mmproj"], "clip", md, vision + audio, ftype="F16")
    return out


# ---------------------------------------------------------------------------------------------- exact inventory


def test_inventory_matches_gguf_reader_and_writer_bytes(files):
    f = read_local(files["llama"])
    ours = [(t.name, t.ggml_type, t.shape, t.n_bytes) for t in f.tensors]
    assert ours == _reader_inventory([files["llama"]])
    written = sum(n for _, _, _, n in ours)
    assert f.tensor_bytes == written
    assert f.file_type == "Q4_K_M"
    # the data region ends at the file's end: offsets line up with the writer's layout
    last = max(f.tensors, key=lambda t: t.offset)
    assert f.shards[0].data_offset_bytes + last.offset + last.n_bytes <= files["llama"].stat().st_size


def test_recipe_diff_flags_exactly_the_custom_tensors(files):
    f = read_local(files["llama"])
    diff = recipe_diff(f, model_from_gguf(f))
    default = dict(((n, gt) for n, _, gt in recipe(TINY_LLAMA, "Q4_K_M")))
    expect = {n for n, t in CUSTOM.items() if default[n] != t}
    assert {r.name for r in diff.differing} == expect and len(expect) >= 3
    assert diff.missing_from_file == ()
    # the default recipe's total is what the calculator predicts for the nominal type; the file is what it is
    assert diff.file_bytes == f.tensor_bytes != diff.default_bytes


def test_gemma4_architecture_round_trips_from_metadata(files):
    f = read_local(files["gemma4"])
    m = model_from_gguf(f)
    assert m.text == TINY_GEMMA4.text
    assert m.context_tokens == 8192 and m.family == "gemma4"
    # KV cache from the metadata: sliding window, KV sharing and K=V all as the spec says
    for ctx in (256, 4096):
        assert kv_cache_bytes(m, ctx, "f16", "llama.cpp", 1) == kv_cache_bytes(TINY_GEMMA4, ctx, "f16", "llama.cpp", 1)


def test_moe_architecture_and_routed_bytes(files):
    f = read_local(files["moe"])
    m = model_from_gguf(f)
    assert m.text.moe == TINY_MOE.text.moe and m.text.attention == TINY_MOE.text.attention
    wb = file_weights(f, m)
    exps = sum(t.n_bytes for t in f.tensors if "_exps" in t.name)
    assert wb.routed_expert_bytes == exps > 0
    # per token: everything but 6 of 8 experts' share and the untied embedding table (one row instead)
    embd = next(t for t in f.tensors if t.name == "token_embd.weight")
    expect = f.tensor_bytes - exps + exps * 2 // 8 - embd.n_bytes + embd.n_bytes // 600
    assert wb.active_bytes_per_token == expect


def test_memory_estimate_uses_the_files_bytes(files):
    f = read_local(files["gemma4"])
    m = model_from_gguf(f)
    wb = file_weights(f, m)
    est = estimate(MemoryRequest(model=m, quant="Q4_K_M", context_tokens=2048, weights_override=wb))
    assert est.weights_bytes == f.tensor_bytes
    assert est.kv_cache_bytes == kv_cache_bytes(TINY_GEMMA4, 2048, "f16", "llama.cpp", 1)
    # tied embedding: llama.cpp keeps it on the host and loads the output copy onto the GPU
    assert est.components["output_copy"] == wb.component_bytes["embedding"] > 0


def test_split_files_read_every_shard(files):
    shards = sorted(files["split"].parent.glob("tiny-split-*-of-00003.gguf"))
    assert len(shards) == 3
    f = read_local(shards[1])  # any shard names the whole set
    assert len(f.shards) == 3
    assert [(t.name, t.ggml_type, t.shape, t.n_bytes) for t in f.tensors] == _reader_inventory(shards)
    single = read_local(files["llama"])
    assert f.tensor_bytes == single.tensor_bytes
    assert model_from_gguf(f).text == model_from_gguf(single).text


def test_split_file_with_a_missing_shard_is_refused(files, tmp_path):
    for p in sorted(files["split"].parent.glob("tiny-split-*-of-00003.gguf"))[:2]:
        (tmp_path / p.name).write_bytes(p.read_bytes())
    with pytest.raises(GGUFError, match="00003-of-00003.gguf: no such file"):
        read_local(tmp_path / "tiny-split-00001-of-00003.gguf")


def test_mmproj_counts_as_the_encoders(files):
    f, proj = read_local(files["gemma4"]), read_local(files["mmproj"])
    m = model_from_gguf(f, proj)
    assert m.vision is not None and m.audio is not None
    wb = file_weights(f, m, mmproj=proj)
    audio = sum(t.n_bytes for t in proj.tensors if t.name.startswith(("a.", "mm.a.")))
    assert wb.component_bytes["audio"] == audio == 128 * 128 * 2 + 128 * 256 * 4
    assert wb.component_bytes["vision"] == proj.tensor_bytes - audio
    assert wb.total_bytes == f.tensor_bytes + proj.tensor_bytes
    assert file_weights(f, m, mmproj=proj, text_only=True).total_bytes == f.tensor_bytes
    with pytest.raises(GGUFError, match="is an mmproj"):
        model_from_gguf(proj)


# ---------------------------------------------------------------------------------------------- bad input


def _raw_gguf(tensor_type: int) -> bytes:
    """A minimal GGUF with one tensor of the given raw type id."""

    def s(x: str) -> bytes:
        return struct.pack("<Q", len(x)) + x.encode()

    kv = s("general.architecture") + struct.pack("<I", 8) + s("llama")
    ti = s("w.weight") + struct.pack("<I", 2) + struct.pack("<QQ", 32, 2) + struct.pack("<IQ", tensor_type, 0)
    head = struct.pack("<IIQQ", gguf.GGUF_MAGIC, 3, 1, 1) + kv + ti
    return head + b"\0" * (-len(head) % 32) + b"\0" * 4096


def test_bad_files_give_one_line(tmp_path, files):
    cases = {
        "text.gguf": (b"hello, not a model\n", "not a GGUF file"),
        "empty.gguf": (b"", "not a GGUF file"),
        "tiny.gguf": (b"GG", "not a GGUF file"),
        "cut.gguf": (files["llama"].read_bytes()[:200], "truncated GGUF header"),
        "short-data.gguf": (files["llama"].read_bytes()[:-100], "truncated GGUF file"),
        "unknown.gguf": (_raw_gguf(99), "unknown ggml tensor type 99"),
    }
    for name, (data, msg) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(GGUFError, match=msg) as e:
            read_local(tmp_path / name)
        assert "\n" not in str(e.value)
    assert read_local(_write(tmp_path / "ok.gguf", _raw_gguf(int(gguf.GGMLQuantizationType.F16)))).tensor_bytes == 128


def _write(p: Path, data: bytes) -> Path:
    p.write_bytes(data)
    return p


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "calculators", *args], capture_output=True, text=True, cwd=ROOT)


def test_cli_bad_input_exits_2_with_one_line(tmp_path):
    (tmp_path / "x.gguf").write_bytes(b"nope")
    for args in (["--gguf", str(tmp_path / "x.gguf")], ["--gguf", str(tmp_path / "missing.gguf")]):
        r = _cli("memory", *args, "--context", "512", "--json")
        assert r.returncode == 2 and r.stdout == ""
        assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("error: ")


# ---------------------------------------------------------------------------------------------- over HTTP


@pytest.fixture(scope="module")
def big_file(tmp_path_factory) -> Path:
    """A 50+ MB GGUF (an F16 token embedding dominates) with a realistic vocabulary in the header."""
    d = tmp_path_factory.mktemp("big")
    m = spec("big-llama", "llama", layers=2, hidden=4096, ff=1024, vocab=8192, heads=32, kv=8, ctx=4096)
    p = d / "big-llama-F16.gguf"
    write_gguf(p, "llama", model_metadata(m, "llama"), recipe(m, "F16"), ftype="F16", vocab_tokens=8192)
    assert p.stat().st_size >= 50e6
    return p


def test_remote_header_reads_under_one_percent(big_file):
    with FileServer(big_file.parent) as srv:
        f = open_gguf(f"{srv.url}/{big_file.name}")
        sent = srv.state.body_bytes_sent
        ranges = [r for _, _, r in srv.state.requests]
    size = big_file.stat().st_size
    assert f.tensor_bytes == read_local(big_file).tensor_bytes
    assert f.file_bytes == size
    assert f.bytes_read == sent < 0.01 * size
    assert all(r and r.startswith("bytes=") for r in ranges)


def test_remote_split_and_mmproj(files):
    with FileServer(files["split"].parent) as srv:
        f = open_gguf(f"{srv.url}/tiny-split-00001-of-00003.gguf")
        proj = open_gguf(f"{srv.url}/{files['mmproj'].name}")
    assert len(f.shards) == 3 and f.tensor_bytes == read_local(files["llama"]).tensor_bytes
    assert proj.is_mmproj and proj.tensor_bytes == read_local(files["mmproj"]).tensor_bytes


def test_server_without_range_support_is_refused_before_the_download(big_file):
    with FileServer(big_file.parent, ranges=False) as srv:
        with pytest.raises(RangeNotSupported, match="does not support HTTP range requests"):
            open_gguf(f"{srv.url}/{big_file.name}")
        sent = srv.state.body_bytes_sent
    assert sent < 0.1 * big_file.stat().st_size  # at most what the socket buffers took before the close


def test_remote_errors_are_one_line(files):
    with FileServer(files["llama"].parent) as srv, pytest.raises(GGUFError, match="HTTP 404"):
        open_gguf(f"{srv.url}/missing.gguf")
    with pytest.raises(GGUFError, match="cannot reach"):
        open_gguf(f"{srv.url}/{files['llama'].name}")  # server gone


def test_cli_memory_and_speed_from_a_url(files):
    with FileServer(files["gemma4"].parent) as srv:
        url = f"{srv.url}/{files['gemma4'].name}"
        r = _cli("memory", "--gguf", url, "--context", "4096", "--json")
        s = _cli("speed", "--gguf", url, "--hardware", "rtx-4090", "--json")
    assert r.returncode == 0, r.stderr
    import json

    out = json.loads(r.stdout)
    f = read_local(files["gemma4"])
    assert out["weights_bytes"] == f.tensor_bytes
    assert out["kv_cache_bytes"] == kv_cache_bytes(TINY_GEMMA4, 4096, "f16", "llama.cpp", 1)
    assert out["gguf"]["file_type"] == "Q4_K_M" and out["gguf"]["differing_tensors_count"] == 0
    assert s.returncode == 0, s.stderr
    sp = json.loads(s.stdout)
    assert sp["gguf"]["tensor_bytes"] == f.tensor_bytes and sp["decode_tokens_per_s"] > 0


def test_speed_forecast_reads_the_files_bytes(files):
    from calculators.speed import forecast, geometry

    f = read_local(files["llama"])
    m = model_from_gguf(f)
    wb = file_weights(f, m)
    assert geometry(m, "Q4_K_M", "llama.cpp", wb).active_weight_bytes == wb.active_bytes_per_token
    recipe_geo = geometry(m, "Q4_K_M", "llama.cpp")
    assert recipe_geo.active_weight_bytes != wb.active_bytes_per_token  # the custom recipe differs from the default
    exact = forecast(m, "Q4_K_M", load_catalog().device("rtx-4090"), weights_override=wb)
    default = forecast(m, "Q4_K_M", load_catalog().device("rtx-4090"))
    assert exact.weight_bytes_per_token != default.weight_bytes_per_token
