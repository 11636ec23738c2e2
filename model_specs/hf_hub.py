"""Hugging Face Hub: a model id -> config.json, the safetensors headers' exact dtypes, and the repo's GGUF files.

Everything goes through `huggingface_hub` (HfApi.model_info for the file list, hf_hub_download for config.json,
HfApi.get_safetensors_metadata, which reads each safetensors header with range requests: the first 100 kB and,
if the header is longer, the rest of it). GGUF files on the Hub are read with model_specs/remote.py range
requests at the resolve URL. HF_ENDPOINT (a mirror, or a local stand-in in the tests) is read at call time;
HF_TOKEN (or a token saved by `hf auth login`) is passed in the Authorization header only: it is never put in a
URL, a message, a log line or a result. Every failure becomes a HubError with one line saying what to do.
"""

from __future__ import annotations

import contextvars
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import HfApi, get_token, hf_hub_download, hf_hub_url
from huggingface_hub import constants as hf_constants
from huggingface_hub.constants import SAFETENSORS_INDEX_FILE, SAFETENSORS_SINGLE_FILE
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    NotASafetensorsRepoError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
    SafetensorsParsingError,
)
from huggingface_hub.utils import SafetensorsFileMetadata, build_hf_headers

from model_specs import hub_guard
from model_specs.fetch_guard import FetchGuard
from model_specs.gguf_header import GGUFError, GGUFFile

try:  # network failures surface as the HTTP client's own errors: httpx2 under huggingface_hub 2.x, httpx under 1.x
    from httpx2 import HTTPError as _NetError
except ImportError:  # pragma: no cover - huggingface_hub 1.x
    from httpx import HTTPError as _NetError
from model_specs.hf_import import model_from_hf_json
from model_specs.remote import open_gguf
from model_specs.schema import ModelSpec

_REPO_RE = re.compile(r"^([A-Za-z0-9][\w.-]*)/([\w.-]+)(?:@([\w./-]+))?$")
_HF_URI = re.compile(r"^hf://([A-Za-z0-9][\w.-]*/[\w.-]+)(?:@([\w.-]+))?/(.+\.gguf)$")
_SPLIT_TAIL = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$")


class HubError(GGUFError):
    """The Hub could not answer (offline, private, missing); one line."""


def endpoint() -> str:
    """The Hub endpoint: HF_ENDPOINT at call time, else huggingface_hub's default."""
    return os.environ.get("HF_ENDPOINT", "").rstrip("/") or hf_constants.ENDPOINT


def parse_repo_id(text: str) -> tuple[str, str | None]:
    """'org/name@rev' -> ('org/name', 'rev'); ValueError for anything else."""
    m = _REPO_RE.match(text.strip())
    if not m:
        raise HubError(f"'{text}' is not a Hugging Face model id (ORG/NAME or ORG/NAME@REVISION)")
    return f"{m.group(1)}/{m.group(2)}", m.group(3)


def _hub_error(repo_id: str, e: Exception) -> HubError:
    """One line for any Hub failure (the token is never part of it)."""
    has_token = get_token() is not None
    if isinstance(e, GatedRepoError):
        return HubError(f"{repo_id} is gated: accept its terms on the Hub and set HF_TOKEN")
    if isinstance(e, RepositoryNotFoundError):
        why = "your token has no access to it" if has_token else "set HF_TOKEN if it is private"
        return HubError(f"{repo_id}: no such model on the Hub, or it is private ({why})")
    if isinstance(e, RevisionNotFoundError):
        return HubError(f"{repo_id}: no such revision")
    if isinstance(e, EntryNotFoundError):
        return HubError(f"{repo_id}: file not found in the repo")
    if isinstance(e, OfflineModeIsEnabled):
        return HubError("HF_HUB_OFFLINE is set: the Hub is not asked (local paths and --hf-config still work)")
    if isinstance(e, (NotASafetensorsRepoError, SafetensorsParsingError)):
        return HubError(f"{repo_id}: safetensors headers unreadable ({str(e).splitlines()[0]})")
    if isinstance(e, HfHubHTTPError):
        status = e.response.status_code if e.response is not None else "?"
        return HubError(f"{repo_id}: the Hub answered HTTP {status}")
    return HubError(f"cannot reach the Hugging Face Hub at {endpoint()} (offline?); local paths still work")


_HUB_ERRORS = (HfHubHTTPError, OfflineModeIsEnabled, NotASafetensorsRepoError, SafetensorsParsingError, _NetError)


def open_location(location: str, guard: FetchGuard | None = None) -> GGUFFile:
    """A GGUF header from a path, an http(s) URL or hf://ORG/NAME[@REV]/FILE.gguf (token in the header only).

    `guard` (the Memory page) limits hosts and paths; the CLI passes none."""
    m = _HF_URI.match(location.strip())
    if not m:
        # the token goes to the Hub endpoint only, never to another host
        same_host = location.strip().startswith(endpoint() + "/")
        return open_gguf(location, headers=build_hf_headers(token=get_token()) if same_host else None, guard=guard)
    repo_id, rev, filename = m.group(1), m.group(2), m.group(3)
    url = hf_hub_url(repo_id, filename, revision=rev, endpoint=endpoint())
    return open_gguf(url, headers=build_hf_headers(token=get_token()), guard=guard)


@dataclass(frozen=True)
class HubTensor:
    """One tensor of a safetensors file: name, stored dtype, shape, exact bytes."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    n_bytes: int


@dataclass(frozen=True)
class HubModel:
    """What the Hub says about one model repo at one revision."""

    repo_id: str
    revision: str | None
    sha: str | None
    model: ModelSpec | None  # from config.json (None when the repo has none, e.g. a GGUF-only repo)
    tensors: tuple[HubTensor, ...]  # from the safetensors headers (empty without safetensors)
    gguf_files: tuple[str, ...]  # first shard only for split files
    quant_method: str | None  # config.json quantization_config.quant_method (awq, gptq, fp8, ...)

    @property
    def dtype_bytes(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.tensors:
            out[t.dtype] = out.get(t.dtype, 0) + t.n_bytes
        return out

    @property
    def stored_dtype(self) -> str | None:
        """The format the weights are stored in: the quantisation method, else the dtype holding most bytes."""
        if self.quant_method:
            return self.quant_method.upper()
        db = self.dtype_bytes
        return max(db, key=db.get) if db else None  # type: ignore[arg-type]

    def gguf_uri(self, filename: str) -> str:
        """The hf:// location --gguf takes for one of the repo's GGUF files."""
        rev = f"@{self.revision}" if self.revision else ""
        return f"hf://{self.repo_id}{rev}/{filename}"

    def as_dict(self) -> dict:
        """JSON-ready summary (no token, no URL with credentials)."""
        return {
            "repo_id": self.repo_id,
            "revision": self.revision,
            "sha": self.sha,
            "config": self.model is not None,
            "safetensors_tensors": len(self.tensors),
            "safetensors_bytes": sum(t.n_bytes for t in self.tensors),
            "dtype_bytes": self.dtype_bytes,
            "stored_dtype": self.stored_dtype,
            "gguf_files": [self.gguf_uri(f) for f in self.gguf_files],
        }


def _gguf_files(files: list[str]) -> tuple[str, ...]:
    """GGUF files a user can pick: single files and the first shard of split ones."""
    out = []
    for f in sorted(files):
        if not f.endswith(".gguf"):
            continue
        m = _SPLIT_TAIL.search(f)
        if m and int(m.group(1)) != 1:
            continue
        out.append(f)
    return tuple(out)


def _config(api: HfApi, repo_id: str, rev: str | None, cache_dir: Path | None) -> tuple[ModelSpec, str | None]:
    path = hf_hub_download(
        repo_id, "config.json", revision=rev, endpoint=api.endpoint, token=api.token, cache_dir=cache_dir
    )
    raw = Path(path).read_bytes()
    try:
        model = model_from_hf_json(raw, model_id=repo_id.split("/")[-1])
    except ValueError as e:
        raise HubError(f"{repo_id}: config.json cannot be sized: {e}") from None
    qc = json.loads(raw).get("quantization_config")
    method = qc.get("quant_method") if isinstance(qc, dict) else None
    return model, str(method) if method else None


def _safetensors_files(
    api: HfApi, repo_id: str, rev: str | None, files: list[str], cache_dir: Path | None
) -> list[str]:
    """model.safetensors, else the shards the index names (as HfApi.get_safetensors_metadata picks them)."""
    if SAFETENSORS_SINGLE_FILE in files:
        return [SAFETENSORS_SINGLE_FILE]
    if SAFETENSORS_INDEX_FILE not in files:
        raise NotASafetensorsRepoError(f"{repo_id} has neither {SAFETENSORS_SINGLE_FILE} nor {SAFETENSORS_INDEX_FILE}")
    path = hf_hub_download(
        repo_id, SAFETENSORS_INDEX_FILE, revision=rev, endpoint=api.endpoint, token=api.token, cache_dir=cache_dir
    )
    return sorted(set(json.loads(Path(path).read_bytes()).get("weight_map", {}).values()))


def _safetensors(
    api: HfApi, repo_id: str, rev: str | None, files: list[str], cache_dir: Path | None
) -> tuple[HubTensor, ...]:
    """Every tensor of the safetensors headers; shards read in parallel, each thread in the caller's context
    (so the page's fetch guard, a ContextVar, holds there too; HfApi's own thread map would drop it)."""
    shards = _safetensors_files(api, repo_id, rev, files, cache_dir)
    ctx = contextvars.copy_context()

    def parse(f: str) -> SafetensorsFileMetadata:
        return ctx.copy().run(api.parse_safetensors_file_metadata, repo_id, f, revision=rev)

    with ThreadPoolExecutor(max_workers=max(1, min(8, len(shards)))) as pool:
        metas = list(pool.map(parse, shards))
    out = []
    for fm in metas:
        for name, ti in fm.tensors.items():
            start, end = ti.data_offsets
            out.append(HubTensor(name, str(ti.dtype), tuple(ti.shape), end - start))
    return tuple(sorted(out, key=lambda t: t.name))


def inspect_repo(text: str, *, cache_dir: Path | None = None, guard: FetchGuard | None = None) -> HubModel:
    """config.json, safetensors headers and GGUF file list of a Hub model; HubError with one line on failure.

    `guard` (the Memory page): the Hub endpoint and every host it redirects to must be allowed."""
    repo_id, rev = parse_repo_id(text)
    if guard is not None:
        guard.check_url(endpoint())  # a refused endpoint says so before any request
    api = HfApi(endpoint=endpoint(), token=get_token())
    try:
        with hub_guard.guarded(guard):
            info = api.model_info(repo_id, revision=rev)
            files = [s.rfilename for s in (info.siblings or [])]
            model = method = None
            if "config.json" in files:
                model, method = _config(api, repo_id, rev, cache_dir)
            tensors: tuple[HubTensor, ...] = ()
            if any(f.endswith(".safetensors") for f in files):
                tensors = _safetensors(api, repo_id, rev, files, cache_dir)
    except _HUB_ERRORS as e:
        raise _hub_error(repo_id, e) from None
    return HubModel(repo_id, rev, info.sha, model, tensors, _gguf_files(files), method)
