"""The model catalog: loads, covers the required variants, and bad YAML gives one readable error."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

from model_specs import CatalogError, load_catalog, load_catalog_from
from model_specs.loader import DATA_DIR

ROOT = Path(__file__).resolve().parents[1]
REQUIRED_MODELS = [
    "gemma-4-e2b",
    "gemma-4-e4b",
    "gemma-4-26b-a4b",
    "gemma-4-31b",
    "gemma-3-270m",
    "gemma-3-1b",
    "gemma-3-4b",
    "gemma-3-12b",
    "gemma-3-27b",
    "gemma-3n-e2b",
    "gemma-3n-e4b",
]


def test_all_eleven_gemma_variants_with_sources():
    cat = load_catalog()
    assert set(REQUIRED_MODELS) <= set(cat.models)
    for mid in REQUIRED_MODELS:
        m = cat.model(mid)
        srcs = cat.source_of(m, m.source)
        assert srcs and all(s.url.startswith("https://") for s in srcs), mid


def test_gemma4_architecture_facts():
    # shared/reference/gemma-family.md s.1.2 (model card S1, GGUF metadata S9-S12)
    cat = load_catalog()
    e2b, moe, dense = cat.model("gemma-4-e2b"), cat.model("gemma-4-26b-a4b"), cat.model("gemma-4-31b")
    assert e2b.text.attention.layer_types.count("F") == 7 and e2b.text.attention.kv_shared_layers == 20
    assert moe.text.moe.num_experts == 128 and moe.text.moe.experts_per_token == 8
    assert dense.text.attention.full.kv_heads == 4 and dense.text.attention.full.k_eq_v
    # "the final layer is always global" (model card)
    for mid in ("gemma-4-e2b", "gemma-4-e4b", "gemma-4-26b-a4b", "gemma-4-31b"):
        assert cat.model(mid).text.attention.layer_types[-1] == "F"


def test_aliases_resolve():
    cat = load_catalog()
    assert cat.model("gemma-4-31b-it").id == "gemma-4-31b"
    with pytest.raises(KeyError, match="unknown model id 'nope'"):
        cat.model("nope")


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    for f in DATA_DIR.glob("*.yaml"):
        shutil.copy(f, tmp_path / f.name)
    return tmp_path


def test_bad_field_names_file_record_and_field(data_copy: Path):
    p = data_copy / "gemma4.yaml"
    p.write_text(p.read_text().replace("hidden_size: 5376", "hidden_size: lots", 1))
    with pytest.raises(CatalogError) as e:
        load_catalog_from(data_copy)
    msg = str(e.value)
    assert msg.startswith("gemma4.yaml: models[gemma-4-31b].text.hidden_size:"), msg
    assert "\n" not in msg and "Traceback" not in msg


def test_unknown_key_is_rejected(data_copy: Path):
    p = data_copy / "gemma3.yaml"
    p.write_text(p.read_text().replace("    context_tokens: 32768\n", "    context_tokens: 32768\n    contxt: 1\n", 1))
    with pytest.raises(CatalogError, match=r"gemma3.yaml: models\[gemma-3-270m\].contxt: Extra inputs"):
        load_catalog_from(data_copy)


def test_layer_pattern_must_match_layer_count(data_copy: Path):
    p = data_copy / "gemma3.yaml"
    p.write_text(p.read_text().replace('layer_types: "SSSSSF SSSSSF SSSSSF"', 'layer_types: "SSSSSF SSSSSF"', 1))
    with pytest.raises(CatalogError, match=r"gemma-3-270m\].text.*12 entries but num_layers is 18"):
        load_catalog_from(data_copy)


def test_heads_divisible_by_kv_heads(data_copy: Path):
    p = data_copy / "gemma3.yaml"
    p.write_text(
        p.read_text().replace("sliding: {kv_heads: 1, head_dim: 256}", "sliding: {kv_heads: 3, head_dim: 256}", 1)
    )
    with pytest.raises(CatalogError, match="not divisible by sliding.kv_heads 3"):
        load_catalog_from(data_copy)


def test_not_yaml_names_file_and_line(data_copy: Path):
    (data_copy / "gemma3n.yaml").write_text("family: x\nmodels: [\n  - id: {\n")
    with pytest.raises(CatalogError, match=r"gemma3n.yaml: line \d+: not valid YAML"):
        load_catalog_from(data_copy)


def test_unknown_source_key(data_copy: Path):
    p = data_copy / "gemma3.yaml"
    p.write_text(p.read_text().replace('source: "S21,S22"', 'source: "S21,S99"', 1))
    with pytest.raises(CatalogError, match="source key 'S99' is not in 'sources'"):
        load_catalog_from(data_copy)


@pytest.mark.parametrize("package", ["model_specs", "calculators", "probe"])
def test_library_packages_never_import_streamlit(package: str):
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            assert not any(n == "streamlit" or n.startswith("streamlit.") for n in names), path


def test_published_ids_keep_resolving():
    """Links in the wild carry these ids: renaming one without an alias would break them."""
    cat = load_catalog()
    lookup = {"model": cat.model, "hardware": cat.device, "quant": cat.quant}
    for line in (ROOT / "tests" / "fixtures" / "published_ids.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            kind, ident = line.split()
            lookup[kind](ident)  # KeyError names the id that no longer resolves
