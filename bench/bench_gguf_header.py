"""GGUF header reads: local time, bytes fetched over HTTP, and exactness (issue 14 targets).

Targets: exact bytes for any GGUF; over HTTP less than 1 % of a file of 50 MB or more is read; a local header
read under 1 s. Files: a full-size Gemma 4 E2B Q4_K_M layout (the catalog architecture, llama.cpp's default
recipe with the token embedding at Q4_K as in the uploads that missed by 7-10 %, a 262,144-token vocabulary with
scores and types as in Gemma's tokenizer) written as a sparse file (real header and layout, zero weights, no
disk used), and a 64 MB Llama-shaped F16 file with an 8,192-token vocabulary. Served from a local HTTP server
that honours Range and counts the bytes it sends. The gguf package's GGUFReader on the same file is the
reference for the tensor list and the baseline for the time.

Run: .venv/bin/python bench/bench_gguf_header.py
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gguf  # noqa: E402

from bench.gguf_reference import spec  # noqa: E402
from calculators import memory  # noqa: E402
from model_specs import load_catalog  # noqa: E402
from model_specs.gguf_header import read_local  # noqa: E402
from model_specs.remote import open_gguf  # noqa: E402
from tests.gguf_files import model_metadata, recipe, write_gguf, write_sparse_gguf  # noqa: E402
from tests.http_files import FileServer  # noqa: E402


def _vocab(n: int, seed: int = 0) -> list[bytes]:
    """n distinct tokens of 1-16 bytes (mean about 8, like a SentencePiece vocabulary)."""
    rng = random.Random(seed)
    return [f"{i:x}".encode() + b"x" * rng.randint(0, 11) for i in range(n)]


def _best_of(fn, n: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(n):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        e2b = load_catalog().model("gemma-4-e2b")
        rec = recipe(e2b, "Q4_K_M", {"token_embd.weight": "Q4_K"})
        big = root / "gemma-4-E2B-it-Q4_K_M.gguf"
        size = write_sparse_gguf(
            big, "gemma4", model_metadata(e2b, "gemma4"), rec, ftype="Q4_K_M", vocab=_vocab(262144)
        )
        small_spec = spec("llama-small", "llama", layers=1, hidden=2048, ff=1024, vocab=8192, heads=16, kv=4, ctx=4096)
        small = root / "llama-small-F16.gguf"
        write_gguf(small, "llama", model_metadata(small_spec, "llama"), recipe(small_spec, "F16"), ftype="F16",
                   vocab_tokens=8192)  # fmt: skip

        t_ours, f = _best_of(lambda: read_local(big))
        t_ref, ref = _best_of(lambda: gguf.GGUFReader(big), n=1)
        same = [(t.name, t.ggml_type, t.shape, t.n_bytes) for t in f.tensors] == [
            (t.name, t.tensor_type.name, tuple(int(x) for x in t.shape), int(t.n_bytes)) for t in ref.tensors
        ]
        expect = sum(b for _, _, b in _recipe_bytes(e2b, rec))
        print(f"Gemma 4 E2B Q4_K_M layout, {size / 2**30:.2f} GiB file, header {f.shards[0].data_offset_bytes:,} B")
        print(f"  local header read: {t_ours * 1000:.1f} ms (target < 1000 ms); gguf.GGUFReader: {t_ref:.2f} s")
        print(f"  tensors identical to GGUFReader's: {same}; tensor bytes {f.tensor_bytes:,} = written {expect:,}: "
              f"{f.tensor_bytes == expect}")  # fmt: skip
        default = memory.weights(e2b, "Q4_K_M", text_only=True).total_bytes
        print(f"  default-recipe estimate {default:,} B: the token_embd Q4_K upload is "
              f"{(f.tensor_bytes - default) / default:+.2%} off it; header sizing is exact")  # fmt: skip
        for path in (big, small):
            with FileServer(root) as srv:
                t0 = time.perf_counter()
                rf = open_gguf(f"{srv.url}/{path.name}")
                dt = time.perf_counter() - t0
                sent = srv.state.body_bytes_sent
                n_req = len(srv.state.requests)
            fsize = path.stat().st_size
            print(f"HTTP {path.name}: {fsize / 1e6:,.1f} MB file, {sent:,} B sent in {n_req} range requests "
                  f"= {sent / fsize:.3%} of the file (target < 1 %), {dt * 1000:.0f} ms on loopback; "
                  f"exact: {rf.tensor_bytes == read_local(path).tensor_bytes}")  # fmt: skip
        custom_rows(root)


# Custom-recipe rows of bench/gguf_reference.py: the recipe as its source describes it (not the file's own header,
# which cannot be fetched offline). The header path is exact for whatever the file holds; these synthetic headers
# show how much of each row's gap the described recipe explains.
_DESCRIBED = {
    "mixtral-8x7b": ("ffn_down_exps at Q4_K (no Q6_K bump)", lambda t: "Q4_K" if t.kind == "ffn_down_exps" else None),
    "gemma-4-e4b": ("token_embd Q4_K", lambda t: "Q4_K" if t.kind == "token_embd" else None),
    "gemma-4-e2b": ("token_embd Q4_K", lambda t: "Q4_K" if t.kind == "token_embd" else None),
}


def custom_rows(root: Path) -> None:
    """Write each described recipe as a sparse full-size GGUF, size it from its header, compare with the published."""
    from bench.gguf_reference import size_rows
    from calculators.gguf import assign_types, model_quant_info
    from calculators.tensors import text_tensors

    print("custom-recipe rows (published total vs a synthetic header of the recipe its source describes):")
    for r in size_rows():
        if r.packaging == "llama-quantize" or r.options:
            continue
        described = _DESCRIBED.get(r.model.id)
        if described is None:
            print(f"  {r.model.id} {r.ftype} {r.size_gib:.2f} GiB: only type counts published ({r.packaging}); "
                  "no per-tensor assignment to rebuild, not checked")  # fmt: skip
            continue
        what, pick = described
        ts = text_tensors(r.model)
        types = assign_types(ts, r.ftype, model_quant_info(r.model))
        rec = [(t.name, t.shape, pick(t) or g) for t, g in zip(ts, types, strict=True)]
        arch = {"gemma-4-e4b": "gemma4", "gemma-4-e2b": "gemma4"}.get(r.model.id, "llama")
        path = root / f"{r.model.id}-{r.ftype}.gguf"
        write_sparse_gguf(path, arch, model_metadata(r.model, arch), rec, ftype=r.ftype, vocab=_vocab(1024))
        got = read_local(path).tensor_bytes / 2**30
        path.unlink()
        print(f"  {r.model.id} {r.ftype}: published {r.size_gib:.2f} GiB; header of the described recipe ({what}) "
              f"{got:.3f} GiB ({got / r.size_gib - 1:+.2%})")  # fmt: skip


def _recipe_bytes(model, rec):
    """(name, type, bytes) of a recipe, with ggml's block sizes (independent of the header reader)."""
    for name, shape, gt in rec:
        blk, size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[gt]]
        rows = 1
        for d in shape[1:]:
            rows *= d
        yield name, gt, rows * (shape[0] // blk) * size


if __name__ == "__main__":
    main()
