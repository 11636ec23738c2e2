"""Read a GGUF file's header (a local path or any ranged byte source): the exact tensor inventory and metadata.

The header (magic, version, key/value metadata, tensor infos) sits at the start of the file; the tensor data
follows. Its type tables come from the `gguf` package (GGUFValueType, GGMLQuantizationType, GGML_QUANT_SIZES,
LlamaFileType), which llama.cpp's own tools use. The package's GGUFReader is not used for the walk itself: it
memory-maps the whole file and builds a numpy view for every array element (a 262,144-token vocabulary takes
seconds) and needs the tensor data present, whereas a remote read must stop at the end of the tensor infos. So
the walk below reads the same layout (gguf/gguf_reader.py, ggml/src/gguf.cpp) with `struct`, skips large arrays
(vocabularies, merges, scores) without materialising them and asks the source for more bytes only when the next
field needs them: for a URL that is a handful of HTTP range requests covering the header and nothing else.

Bytes per tensor = rows x (ne0 / block) x block bytes, ggml_nbytes of a contiguous tensor; the file's weights are
the sum (what llama-bench prints as "size"). Bad input raises GGUFError with a one-line reason.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from gguf.constants import GGML_QUANT_SIZES, GGUF_MAGIC, GGMLQuantizationType, GGUFValueType, LlamaFileType

GGUF_DEFAULT_ALIGNMENT = 32
_FIRST_CHUNK_BYTES = 64 * 1024  # enough for a small header in one read; larger headers double the request
_MAX_STEP_BYTES = 2 << 20  # ... up to this step, so a read overshoots the header by at most 2 MiB
ARRAY_KEEP_MAX = 4096  # arrays up to this length keep their values (per-layer lists); longer ones only a count
_MAX_STRING_BYTES = 64 << 20  # sanity limits: a corrupt length must not allocate gigabytes
_MAX_ARRAY_LEN = 1 << 31
_MAX_TENSORS = 1 << 20
_MAX_DIMS = 4  # GGML_MAX_DIMS
_SCALAR_FMT = {
    GGUFValueType.UINT8: "B",
    GGUFValueType.INT8: "b",
    GGUFValueType.UINT16: "H",
    GGUFValueType.INT16: "h",
    GGUFValueType.UINT32: "I",
    GGUFValueType.INT32: "i",
    GGUFValueType.FLOAT32: "f",
    GGUFValueType.BOOL: "?",
    GGUFValueType.UINT64: "Q",
    GGUFValueType.INT64: "q",
    GGUFValueType.FLOAT64: "d",
}
SPLIT_RE = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$")


class GGUFError(ValueError):
    """A file that cannot be read as GGUF, or a source that cannot serve it; the message is one line."""


class _Truncated(GGUFError):
    """The source ended inside the header."""


class ByteSource(Protocol):
    """Random access to a file's bytes (local or remote); `bytes_read` counts what was fetched."""

    name: str
    bytes_read: int

    def size_bytes(self) -> int | None: ...

    def read(self, offset: int, length: int) -> bytes: ...


class LocalSource:
    """A local file read with pread (no memory map, nothing beyond the header is touched)."""

    def __init__(self, path: str | os.PathLike[str], name: str | None = None) -> None:
        self.name = name or str(path)
        self.bytes_read = 0
        try:
            self._fd = os.open(path, os.O_RDONLY)
        except OSError as e:
            raise GGUFError(f"cannot read {path}: {e.strerror}") from None
        self._size = os.fstat(self._fd).st_size

    def size_bytes(self) -> int | None:
        return self._size

    def read(self, offset: int, length: int) -> bytes:
        data = os.pread(self._fd, length, offset)
        self.bytes_read += len(data)
        return data

    def close(self) -> None:
        """Release the file descriptor."""
        os.close(self._fd)


class BytesSource:
    """A file already in memory (an upload): only its header is parsed."""

    def __init__(self, data: bytes, name: str) -> None:
        self.name = name
        self.bytes_read = 0
        self._data = data

    def size_bytes(self) -> int | None:
        return len(self._data)

    def read(self, offset: int, length: int) -> bytes:
        out = self._data[offset : offset + length]
        self.bytes_read += len(out)
        return out


@dataclass(frozen=True)
class ArrayInfo:
    """A metadata array too long to keep (vocabulary, merges, scores): its element type and length."""

    type: str
    count: int


@dataclass(frozen=True, slots=True)
class GGUFTensor:
    """One tensor as the header lists it: name, ggml type, shape (ne0 first), exact bytes, offset in the data."""

    name: str
    ggml_type: str
    shape: tuple[int, ...]
    n_bytes: int
    offset: int

    @property
    def n_params(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass(frozen=True)
class GGUFHeader:
    """The parsed header of one .gguf file (one shard of a split model)."""

    source: str
    version: int
    metadata: dict[str, Any]
    tensors: tuple[GGUFTensor, ...]
    data_offset_bytes: int  # where the tensor data starts (after alignment padding)
    file_bytes: int | None  # whole file, when the source knows it
    bytes_read: int  # bytes fetched from the source to parse this header

    @property
    def tensor_bytes(self) -> int:
        """Sum of the tensors' bytes (padding between tensors excluded)."""
        return sum(t.n_bytes for t in self.tensors)


class _Walker:
    """Sequential reader over a growing prefix of the source."""

    def __init__(self, src: ByteSource, first_chunk: int) -> None:
        self.src = src
        self.buf = bytearray()
        self.pos = 0
        self.chunk = first_chunk
        self.e = "<"

    def ensure(self, n: int) -> None:
        """Make bytes [pos, pos + n) available, fetching as much again as is held (doubling, capped per step)."""
        end = self.pos + n
        while len(self.buf) < end:
            want = max(self.chunk, end - len(self.buf), min(len(self.buf), _MAX_STEP_BYTES))
            data = self.src.read(len(self.buf), want)
            if not data:
                raise _Truncated(
                    f"{self.src.name}: truncated GGUF header (ends at byte {len(self.buf):,}, byte {end:,} is needed)"
                )
            self.buf += data

    def unpack(self, fmt: str, size: int) -> tuple:
        self.ensure(size)
        out = struct.unpack_from(self.e + fmt, self.buf, self.pos)
        self.pos += size
        return out

    def u32(self) -> int:
        return self.unpack("I", 4)[0]

    def u64(self) -> int:
        return self.unpack("Q", 8)[0]

    def string(self) -> str:
        n = self.u64()
        if n > _MAX_STRING_BYTES:
            raise GGUFError(f"{self.src.name}: corrupt GGUF header (string of {n:,} bytes at byte {self.pos - 8:,})")
        self.ensure(n)
        s = bytes(self.buf[self.pos : self.pos + n]).decode("utf-8", errors="replace")
        self.pos += n
        return s

    def skip_string(self) -> None:
        n = self.u64()
        if n > _MAX_STRING_BYTES:
            raise GGUFError(f"{self.src.name}: corrupt GGUF header (string of {n:,} bytes)")
        self.ensure(n)
        self.pos += n

    def vtype(self) -> GGUFValueType:
        raw = self.u32()
        try:
            return GGUFValueType(raw)
        except ValueError:
            raise GGUFError(f"{self.src.name}: corrupt GGUF header (unknown value type {raw})") from None

    def value(self, vt: GGUFValueType) -> Any:
        if vt == GGUFValueType.STRING:
            return self.string()
        if vt == GGUFValueType.ARRAY:
            return self.array()
        fmt = _SCALAR_FMT[vt]
        return self.unpack(fmt, struct.calcsize(fmt))[0]

    def array(self) -> list | ArrayInfo:
        it = self.vtype()
        n = self.u64()
        if n > _MAX_ARRAY_LEN:
            raise GGUFError(f"{self.src.name}: corrupt GGUF header (array of {n:,} elements)")
        keep = n <= ARRAY_KEEP_MAX
        if it in _SCALAR_FMT:
            size = struct.calcsize(_SCALAR_FMT[it]) * n
            if keep:
                return list(self.unpack(f"{n}{_SCALAR_FMT[it]}", size))
            self.ensure(size)
            self.pos += size
            return ArrayInfo(it.name, n)
        if it == GGUFValueType.STRING:
            if keep:
                return [self.string() for _ in range(n)]
            for _ in range(n):
                self.skip_string()
            return ArrayInfo(it.name, n)
        items = [self.array() for _ in range(n)]  # nested arrays: rare, kept as read
        return items if keep else ArrayInfo(it.name, n)


def _tensor_info(w: _Walker) -> GGUFTensor:
    name = w.string()
    n_dims = w.u32()
    if not 1 <= n_dims <= _MAX_DIMS:
        raise GGUFError(f"{w.src.name}: corrupt GGUF header (tensor {name} has {n_dims} dimensions)")
    shape = w.unpack(f"{n_dims}Q", 8 * n_dims)
    raw = w.u32()
    offset = w.u64()
    try:
        gt = GGMLQuantizationType(raw)
    except ValueError:
        raise GGUFError(f"{w.src.name}: unknown ggml tensor type {raw} for tensor {name}") from None
    blk, size = GGML_QUANT_SIZES[gt]
    if shape[0] % blk:
        raise GGUFError(f"{w.src.name}: tensor {name}: row length {shape[0]} is not a multiple of {gt.name}'s {blk}")
    rows = 1
    for d in shape[1:]:
        rows *= d
    return GGUFTensor(name, gt.name, tuple(shape), rows * (shape[0] // blk) * size, offset)


def read_header(src: ByteSource, first_chunk_bytes: int = _FIRST_CHUNK_BYTES) -> GGUFHeader:
    """Parse the header from `src`, fetching only the bytes it occupies; GGUFError on anything malformed."""
    w = _Walker(src, first_chunk_bytes)
    try:
        w.ensure(4)
    except _Truncated:
        raise GGUFError(f"{src.name}: not a GGUF file (shorter than its 4-byte magic)") from None
    if struct.unpack_from("<I", w.buf, 0)[0] != GGUF_MAGIC:
        raise GGUFError(f"{src.name}: not a GGUF file (no GGUF magic at the start)")
    w.pos = 4
    version = w.u32()
    if version & 0xFFFF == 0:  # written for the other byte order
        w.e = ">"
        version = struct.unpack_from(">I", w.buf, 4)[0]
    if version not in (2, 3):
        raise GGUFError(f"{src.name}: GGUF version {version} is not supported (2 and 3 are)")
    n_tensors, n_kv = w.u64(), w.u64()
    if n_tensors > _MAX_TENSORS or n_kv > _MAX_TENSORS:
        raise GGUFError(f"{src.name}: corrupt GGUF header ({n_tensors:,} tensors, {n_kv:,} keys)")
    meta: dict[str, Any] = {}
    for _ in range(n_kv):
        key = w.string()
        meta[key] = w.value(w.vtype())
    tensors = tuple(_tensor_info(w) for _ in range(n_tensors))
    align = meta.get("general.alignment", GGUF_DEFAULT_ALIGNMENT)
    if not isinstance(align, int) or align <= 0 or align & (align - 1):
        raise GGUFError(f"{src.name}: corrupt GGUF header (alignment {align!r})")
    data_offset = -(-w.pos // align) * align
    size = src.size_bytes()
    end = max((t.offset + t.n_bytes for t in tensors), default=0)
    if size is not None and data_offset + end > size:
        raise GGUFError(
            f"{src.name}: truncated GGUF file (tensor data needs {data_offset + end:,} bytes, the file has {size:,})"
        )
    return GGUFHeader(src.name, version, meta, tensors, data_offset, size, src.bytes_read)


# ------------------------------------------------------------------------------------------ files and shards

FTYPE_NAMES = {int(ft): ft.name.removeprefix("MOSTLY_").removeprefix("ALL_") for ft in LlamaFileType}


@dataclass(frozen=True)
class GGUFFile:
    """A model as its GGUF file(s) describe it: one header per shard (split files), first shard's metadata."""

    shards: tuple[GGUFHeader, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def metadata(self) -> dict[str, Any]:
        return self.shards[0].metadata

    @property
    def tensors(self) -> tuple[GGUFTensor, ...]:
        return tuple(t for s in self.shards for t in s.tensors)

    @property
    def arch(self) -> str:
        return str(self.metadata.get("general.architecture", ""))

    @property
    def is_mmproj(self) -> bool:
        """A vision/audio projector file (llama.cpp's mmproj: architecture 'clip')."""
        return self.arch == "clip"

    @property
    def file_type(self) -> str | None:
        """The nominal file type ('Q4_K_M') from general.file_type, when the file states one."""
        ft = self.metadata.get("general.file_type")
        return FTYPE_NAMES.get(ft) if isinstance(ft, int) else None

    @property
    def tensor_bytes(self) -> int:
        """Exact bytes of all tensor data (every shard)."""
        return sum(s.tensor_bytes for s in self.shards)

    @property
    def file_bytes(self) -> int | None:
        sizes = [s.file_bytes for s in self.shards]
        return None if any(x is None for x in sizes) else sum(sizes)  # type: ignore[misc]

    @property
    def bytes_read(self) -> int:
        """Bytes fetched to read every shard's header."""
        return sum(s.bytes_read for s in self.shards)

    @property
    def source(self) -> str:
        return self.shards[0].source


def shard_locations(location: str) -> list[str]:
    """All shard names of a split model (`-00001-of-00003.gguf`), or [location] for a single file."""
    m = SPLIT_RE.search(location)
    if not m:
        return [location]
    n = int(m.group(2))
    if n < 1:
        raise GGUFError(f"{location}: a split file name needs a shard count of at least 1")
    stem = location[: m.start()]
    return [f"{stem}-{i:05d}-of-{n:05d}.gguf" for i in range(1, n + 1)]


def read_shards(sources: list[ByteSource]) -> GGUFFile:
    """Read every shard's header and check they belong together (split.count, split.tensors.count)."""
    try:
        shards = [read_header(src) for src in sources]
    finally:
        for src in sources:
            close = getattr(src, "close", None)
            if close:
                close()
    first = shards[0].metadata
    expect = first.get("split.count")
    if len(shards) > 1 or expect not in (None, 1):
        if expect != len(shards):
            raise GGUFError(f"{shards[0].source}: split.count says {expect} shards, {len(shards)} were read")
        n_t = sum(len(s.tensors) for s in shards)
        if first.get("split.tensors.count", n_t) != n_t:
            raise GGUFError(
                f"{shards[0].source}: split.tensors.count says {first.get('split.tensors.count')}, "
                f"the shards list {n_t} tensors"
            )
    return GGUFFile(tuple(shards))


def read_local(path: str | os.PathLike[str], check: Callable[[str], str] | None = None) -> GGUFFile:
    """Read a local .gguf file, or every shard of a split model given any one shard's path.

    `check` maps each shard's path to the path to open, or raises (the page's MODEL_DIR guard)."""
    locs = shard_locations(str(path))
    paths = [check(p) for p in locs] if check else locs
    missing = [loc for loc, p in zip(locs, paths, strict=True) if not Path(p).is_file()]
    if missing:
        raise GGUFError(f"cannot read {missing[0]}: no such file")
    return read_shards([LocalSource(p, loc) for loc, p in zip(locs, paths, strict=True)])
