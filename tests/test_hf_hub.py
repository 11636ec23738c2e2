"""Hugging Face model ids through huggingface_hub against a local stand-in for the Hub (HF_ENDPOINT pointed at a
127.0.0.1 server implementing model info and resolve/<rev>/<file> with HEAD and Range): config.json, exact
safetensors bytes (single file and index + shards), the repo's GGUF files, private repos and tokens, offline."""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import constants as hf_constants

from bench.gguf_reference import spec
from model_specs.gguf_header import GGUFError
from model_specs.hf_hub import HubError, inspect_repo, open_location, parse_repo_id
from tests.gguf_files import model_metadata, recipe, write_gguf
from tests.http_files import FileServer

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "hf_test_secret_token_123"
_DT_BYTES = {"BF16": 2, "F16": 2, "F32": 4, "I8": 1}
CONFIG = {
    "model_type": "llama",
    "architectures": ["LlamaForCausalLM"],
    "num_hidden_layers": 2,
    "hidden_size": 256,
    "intermediate_size": 512,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 1000,
    "max_position_embeddings": 4096,
    "tie_word_embeddings": False,
}


def _tensors() -> list[tuple[str, str, tuple[int, ...]]]:
    """(name, dtype, shape) of the tiny Llama checkpoint, as transformers names them (norms in F32)."""
    out = [("model.embed_tokens.weight", "BF16", (1000, 256)), ("lm_head.weight", "BF16", (1000, 256))]
    for i in range(2):
        p = f"model.layers.{i}."
        out += [
            (p + "self_attn.q_proj.weight", "BF16", (256, 256)),
            (p + "self_attn.k_proj.weight", "BF16", (128, 256)),
            (p + "self_attn.v_proj.weight", "BF16", (128, 256)),
            (p + "self_attn.o_proj.weight", "BF16", (256, 256)),
            (p + "mlp.gate_proj.weight", "BF16", (512, 256)),
            (p + "mlp.up_proj.weight", "BF16", (512, 256)),
            (p + "mlp.down_proj.weight", "BF16", (256, 512)),
            (p + "input_layernorm.weight", "F32", (256,)),
        ]
    return out + [("model.norm.weight", "F32", (256,))]


def _nbytes(dtype: str, shape: tuple[int, ...]) -> int:
    n = _DT_BYTES[dtype]
    for d in shape:
        n *= d
    return n


def write_safetensors(path: Path, tensors: list[tuple[str, str, tuple[int, ...]]]) -> int:
    """A safetensors file (8-byte header length, JSON header, data); returns the data bytes."""
    header, off = {}, 0
    for name, dt, shape in tensors:
        n = _nbytes(dt, shape)
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * off)
    return off


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """The stand-in Hub: org/tiny (single safetensors + GGUF files), org/sharded (index + 2 shards), org/private."""
    root = tmp_path_factory.mktemp("hub")
    ts = _tensors()
    single = root / "org" / "tiny"
    single.mkdir(parents=True)
    (single / "config.json").write_text(json.dumps(CONFIG))
    write_safetensors(single / "model.safetensors", ts)
    m = spec("tiny-llama", "llama", layers=2, hidden=256, ff=512, vocab=1000, heads=4, kv=2, ctx=4096)
    write_gguf(single / "tiny-Q8_0.gguf", "llama", model_metadata(m, "llama"), recipe(m, "Q8_0"), ftype="Q8_0")
    write_gguf(single / "tiny-F16.gguf", "llama", model_metadata(m, "llama"), recipe(m, "F16"), ftype="F16",
               split_max_tensors=12)  # fmt: skip
    sharded = root / "org" / "sharded"
    sharded.mkdir(parents=True)
    (sharded / "config.json").write_text(json.dumps(CONFIG))
    half = len(ts) // 2
    names = {"model-00001-of-00002.safetensors": ts[:half], "model-00002-of-00002.safetensors": ts[half:]}
    for fname, part in names.items():
        write_safetensors(sharded / fname, part)
    index = {"metadata": {}, "weight_map": {n: f for f, part in names.items() for n, _, _ in part}}
    (sharded / "model.safetensors.index.json").write_text(json.dumps(index))
    private = root / "org" / "private"
    private.mkdir(parents=True)
    (private / "config.json").write_text(json.dumps(CONFIG))
    write_safetensors(private / "model.safetensors", ts)
    (private / "tiny-Q8_0.gguf").write_bytes((single / "tiny-Q8_0.gguf").read_bytes())
    with FileServer(root) as srv:
        srv.state.private_repos["org/private"] = TOKEN
        yield srv


@pytest.fixture
def env(hub, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_TOKEN_PATH", str(tmp_path / "no-token"))  # ignore any token saved on this machine
    monkeypatch.setattr(hf_constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    return hub


def test_parse_repo_id():
    assert parse_repo_id("google/gemma-4-E2B-it@main") == ("google/gemma-4-E2B-it", "main")
    assert parse_repo_id("org/name") == ("org/name", None)
    for bad in ("name", "org/name/extra", "", "http://x/y"):
        with pytest.raises(HubError):
            parse_repo_id(bad)


def test_single_file_repo_exact_bytes_and_gguf_listing(env):
    repo = inspect_repo("org/tiny")
    ts = _tensors()
    assert repo.model is not None and repo.model.text.num_layers == 2
    assert {t.name: t.n_bytes for t in repo.tensors} == {n: _nbytes(d, s) for n, d, s in ts}
    assert repo.dtype_bytes == {
        "BF16": sum(_nbytes(d, s) for _, d, s in ts if d == "BF16"),
        "F32": sum(_nbytes(d, s) for _, d, s in ts if d == "F32"),
    }
    assert repo.stored_dtype == "BF16"
    # split GGUF files are listed once, by their first shard
    assert repo.gguf_files == ("tiny-F16-00001-of-00002.gguf", "tiny-Q8_0.gguf")
    assert repo.as_dict()["gguf_files"][1] == "hf://org/tiny/tiny-Q8_0.gguf"
    # safetensors headers were read with range requests, never whole
    st = [r for m, p, r in env.state.requests if p.endswith("model.safetensors") and m == "GET"]
    assert st and all(r and r.startswith("bytes=") for r in st)


def test_sharded_repo_reads_every_shard_header(env):
    repo = inspect_repo("org/sharded@main")
    assert repo.revision == "main"
    assert sum(t.n_bytes for t in repo.tensors) == sum(_nbytes(d, s) for _, d, s in _tensors())
    assert len(repo.tensors) == len(_tensors())


def test_gguf_from_the_hub_by_range(env):
    f = open_location("hf://org/tiny/tiny-F16-00001-of-00002.gguf")
    assert len(f.shards) == 2 and f.file_type == "F16"
    assert f.bytes_read < f.file_bytes


def test_private_repo_needs_the_token_and_never_shows_it(env, monkeypatch):
    with pytest.raises(HubError, match="private .*HF_TOKEN") as e:
        inspect_repo("org/private")
    assert "\n" not in str(e.value)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    repo = inspect_repo("org/private")
    assert repo.stored_dtype == "BF16"
    assert TOKEN not in json.dumps(repo.as_dict())
    assert f"Bearer {TOKEN}" in env.state.auth_headers
    assert not any(TOKEN in p for _, p, _ in env.state.requests)  # header only, never in a URL


def test_offline_is_one_clear_line(monkeypatch, tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(HubError, match="cannot reach the Hugging Face Hub .*offline"):
        inspect_repo("org/tiny")


def _cli(hub, *args: str, token: str | None = None, home: Path) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "HF_ENDPOINT": hub.url, "HF_HOME": str(home), "HF_HUB_DISABLE_TELEMETRY": "1"}
    if token:
        env["HF_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "calculators", *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120
    )


def test_cli_hf_model(hub, tmp_path):
    r = _cli(hub, "memory", "--hf-model", "org/tiny", "--engine", "vllm", "--context", "1024", "--json", home=tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["weights_bytes"] == sum(_nbytes(d, s) for _, d, s in _tensors())
    assert out["hf_model"]["stored_dtype"] == "BF16" and len(out["hf_model"]["gguf_files"]) == 2
    # llama.cpp cannot load safetensors: one line naming the repo's GGUF files
    r = _cli(hub, "memory", "--hf-model", "org/tiny", "--context", "1024", "--json", home=tmp_path)
    assert r.returncode == 2 and "hf://org/tiny/tiny-Q8_0.gguf" in r.stderr and len(r.stderr.splitlines()) == 1
    # ... but its recipe estimate for a GGUF type works, and so does the GGUF itself
    r = _cli(hub, "memory", "--hf-model", "org/tiny", "--quant", "Q4_K_M", "--context", "1024", "--json", home=tmp_path)
    assert r.returncode == 0, r.stderr
    r = _cli(hub, "memory", "--gguf", "hf://org/tiny/tiny-Q8_0.gguf", "--context", "1024", "--json", home=tmp_path)
    assert r.returncode == 0 and json.loads(r.stdout)["gguf"]["file_type"] == "Q8_0"


def test_cli_private_repo(hub, tmp_path):
    r = _cli(hub, "memory", "--hf-model", "org/private", "--engine", "vllm", "--context", "512", home=tmp_path)
    assert r.returncode == 2 and "HF_TOKEN" in r.stderr and len(r.stderr.splitlines()) == 1
    args = ("memory", "--hf-model", "org/private", "--engine", "vllm", "--context", "512", "--json")
    r = _cli(hub, *args, token=TOKEN, home=tmp_path)
    assert r.returncode == 0, r.stderr
    assert TOKEN not in r.stdout + r.stderr


def test_private_gguf_needs_the_token_which_goes_to_the_hub_only(env, monkeypatch):
    with pytest.raises(GGUFError, match="HF_TOKEN") as e:
        open_location("hf://org/private/tiny-Q8_0.gguf")
    assert "\n" not in str(e.value)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    assert open_location("hf://org/private/tiny-Q8_0.gguf").file_type == "Q8_0"
    assert open_location(f"{env.url}/org/private/resolve/main/tiny-Q8_0.gguf").file_type == "Q8_0"
    # another host (same server, other name) never receives the token
    other = env.url.replace("127.0.0.1", "localhost")
    before = len(env.state.auth_headers)
    with pytest.raises(GGUFError, match="HTTP 401"):
        open_location(f"{other}/org/private/resolve/main/tiny-Q8_0.gguf")
    assert all(h is None for h in env.state.auth_headers[before:])
