"""Stored tensors read without torch: the one row-reading core every format shares.

Rows are read the same way whatever the format: the ids asked for are merged into runs
(merge_runs), each run's bytes come in one pread (read_part), and chunks stream the table
in bounded blocks, decoded on worker threads where a format asks (RowBlocks). A format
gives only which stored parts a block of rows needs (read_block) and how their bytes
become float32 rows (decode_block): FileTensor here (plain dtypes, fp8 block scales),
gguf/file.QuantTensor (ggml blocks), quant/tensor.QuantizedTensor (MLX and
compressed-tensors codes).

Every reader hands out float32 rows. Values are exact: bf16, fp16 and fp8 widen to
float32 without rounding.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from emb_cli.errors import InputError
from emb_cli.progress import tracked
from emb_cli.sources.base import RangeReader, TensorRef, rows_per_chunk
from emb_cli.sources.dtypes import numpy_dtype

if TYPE_CHECKING:
    from concurrent.futures import Future

    import numpy as np
    import torch

# Remote lookups: ids closer than this share one range request.
REMOTE_GAP = 64 * 2**10
# The stored bytes of a block of rows, one array per part (codes, scales ...).
Parts = tuple["np.ndarray", ...]


def pread_into(fd: int, pos: int, view: memoryview) -> int:
    """Fill `view` from byte `pos` of a local file; the bytes read (fewer where it ends)."""
    got, want = 0, len(view)
    while got < want:  # Linux returns at most 0x7ffff000 bytes per call
        n = os.preadv(fd, [view[got:]], pos + got)
        if n == 0:
            break
        got += n
    return got


class LocalReader:
    """A local file through pread; safetensors_file.read_header parses through it."""

    def __init__(self, path: str) -> None:
        from emb_cli.sources.files.inputs import open_input

        self.name = path
        self._fh = open_input(path)  # regular files only (a FIFO would block); closed by close()
        self.size = os.fstat(self._fh.fileno()).st_size

    def read(self, offset: int, length: int) -> bytes:
        return os.pread(self._fh.fileno(), length, offset)

    def read_into(self, offset: int, buf: memoryview) -> None:
        if pread_into(self._fh.fileno(), offset, buf) < len(buf):
            raise InputError(f"{self.name} is truncated: it ends before byte {offset + len(buf)}")

    def close(self) -> None:
        self._fh.close()


class Files:
    """The files behind one pass over a tensor (a lookup, a stream of chunks), each opened
    once: a local descriptor, or the part's RangeReader for a remote file."""

    def __init__(self) -> None:
        self._fds: dict[str, int] = {}

    def source(self, part: FileTensor) -> int | RangeReader:
        if part.reader is not None:
            return part.reader
        if part.file not in self._fds:
            try:
                self._fds[part.file] = os.open(part.file, os.O_RDONLY)
            except OSError as exc:
                raise InputError(f"cannot read {part.file}: {exc.strerror or exc}") from exc
        return self._fds[part.file]

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()


@contextmanager
def opened() -> Iterator[Files]:
    files = Files()
    try:
        yield files
    finally:
        files.close()


def read_part(part: FileTensor, files: Files, first: int, n: int) -> np.ndarray:
    """Rows first..first+n of a stored tensor as raw bytes, uint8 (n, row bytes).

    A fresh array each time, filled in place: one copy from the page cache, no more
    (np.empty, not bytearray: zero-filling every block first cost a third of a scan).
    """
    import numpy as np

    rb = part.row_bytes
    want, pos = n * rb, part.offset + first * rb
    buf = np.empty(want, dtype=np.uint8)
    src = files.source(part)
    if not isinstance(src, int):
        if want:
            src.read_into(pos, buf.data)
    elif pread_into(src, pos, buf.data) < want:
        raise InputError(
            f"{part.file} is truncated: tensor {part.name} needs bytes up to {pos + want}, "
            "the file ends earlier"
        )
    return buf.reshape(n, rb)


def merge_runs(ids: list[int], gap: int) -> list[tuple[int, int]]:
    """(first, last) spans covering the sorted ids, one read each: consecutive ids, and ids
    up to `gap` rows apart (remote files: a round trip costs more than 64 KiB of transfer)."""
    runs: list[tuple[int, int]] = []
    for t in ids:
        if runs and t - runs[-1][1] - 1 <= gap:
            runs[-1] = (runs[-1][0], t)
        else:
            runs.append((t, t))
    return runs


def decode_workers() -> int:
    """Decode threads: two where two cores are free to us (the consumer needs one too)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        cores = os.cpu_count() or 1
    return max(1, min(2, cores))


class RowBlocks(ABC):
    """read_rows and iter_chunks for a 2-D tensor read in blocks of rows.

    A format gives read_block (the stored bytes behind rows first..first+n: I/O only) and
    decode_block (float32 rows from them, or each row's stored bytes when raw: no I/O), and
    the part whose row size sets the remote gap. Formats whose decode is heavy set
    decode_threads: blocks are then read here and decoded on worker threads.
    """

    name: str
    shape: tuple[int, ...]
    decode_threads: ClassVar[bool] = False

    @abstractmethod
    def read_block(self, files: Files, first: int, n: int) -> Parts: ...

    @abstractmethod
    def decode_block(
        self, first: int, n: int, parts: Parts, raw: bool, out: np.ndarray | None = None
    ) -> np.ndarray:
        """`out`: a float32 (n, cols) array the rows may be decoded into."""

    @abstractmethod
    def main_part(self) -> FileTensor:
        """The stored part whose row size sets how far apart remote runs still merge."""

    @property
    def storage_key(self) -> None:
        """Files hold each tensor apart: two names are never one storage."""
        return None

    def read_rows(self, token_ids: Sequence[int]) -> np.ndarray:
        """Rows in the order asked; each run of ids reads its rows of every part once."""
        import numpy as np

        ids = [int(t) for t in token_ids]
        if not ids:
            return np.zeros((0, self.shape[1]), dtype=np.float32)
        uniq = sorted(set(ids))
        part = self.main_part()
        gap = REMOTE_GAP // max(1, part.row_bytes) if part.reader is not None else 0
        got: dict[int, np.ndarray] = {}
        with opened() as files:
            for first, last in merge_runs(uniq, gap):
                n = last - first + 1
                block = self.decode_block(first, n, self.read_block(files, first, n), False)
                for t in uniq[bisect_left(uniq, first) : bisect_right(uniq, last)]:
                    got[t] = block[t - first]
        return np.stack([got[t] for t in ids])

    def iter_chunks(
        self, rows_per_chunk: int, *, raw: bool = False
    ) -> Iterator[tuple[int, np.ndarray]]:
        return tracked(self._chunks(rows_per_chunk, raw), self.shape[0], f"reading {self.name}")

    def _chunks(self, rows_per_chunk: int, raw: bool) -> Iterator[tuple[int, np.ndarray]]:
        rows, step = self.shape[0], max(1, rows_per_chunk)
        starts = range(0, rows, step)
        workers = decode_workers() if self.decode_threads else 1
        with opened() as files:
            if workers < 2 or len(starts) < 2:
                for s in starts:
                    n = min(step, rows - s)
                    yield s, self.decode_block(s, n, self.read_block(files, s, n), raw)
                return
            yield from self._decoded_on_threads(files, starts, step, raw, workers)

    def _decoded_on_threads(
        self, files: Files, starts: range, step: int, raw: bool, workers: int
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Read here, decode on worker threads (numpy releases the GIL), yield in order.

        At most workers + 1 chunks are in flight, so memory stays a few chunks whatever
        the table size. Reads stay on this thread: a remote reader serves one at a time.
        """
        from concurrent.futures import ThreadPoolExecutor

        import numpy as np

        rows = self.shape[0]
        with ThreadPoolExecutor(workers) as pool:
            pending: deque[tuple[int, Future[np.ndarray]]] = deque()
            for s in starts:
                n = min(step, rows - s)
                parts = self.read_block(files, s, n)
                # The rows' array comes from this thread's heap: freed by the consumer
                # here, it is reused, not mapped afresh per chunk.
                out = None if raw else np.empty((n, self.shape[1]), dtype=np.float32)
                pending.append((s, pool.submit(self.decode_block, s, n, parts, raw, out)))
                if len(pending) > workers:
                    s0, fut = pending.popleft()
                    yield s0, fut.result()
            while pending:
                s0, fut = pending.popleft()
                yield s0, fut.result()


@dataclass
class FileTensor(RowBlocks):
    """A row-major tensor at a byte range of a file, read with pread (no mmap).

    pread keeps resident memory at one chunk: mmap pages would stay in RSS.
    """

    name: str
    dtype: str
    shape: tuple[int, ...]
    file: str
    offset: int  # absolute byte offset of element [0, 0]
    itemsize: int
    scale: FileTensor | None = None  # fp8 block scales (`*_scale_inv`), applied on read
    block: tuple[int, int] = (128, 128)
    reader: RangeReader | None = None  # a remote file; None: pread on a local fd

    @property
    def nbytes(self) -> int:
        n = self.itemsize
        for s in self.shape:
            n *= s
        return n

    @property
    def row_bytes(self) -> int:
        """A 2-D tensor's row; any other shape is read as one row (a per-tensor scale)."""
        return self.shape[1] * self.itemsize if len(self.shape) == 2 else self.nbytes

    @property
    def scheme(self) -> None:
        """Stored as values (GGUF's block types are dtypes: q8_0, q4_k ...)."""
        return None

    def main_part(self) -> FileTensor:
        return self

    def read_block(self, files: Files, first: int, n: int) -> Parts:
        data = read_part(self, files, first, n)
        if self.scale is None:
            return (data,)
        br = self.block[0]
        lo, hi = first // br, (first + n - 1) // br + 1
        return data, read_part(self.scale, files, lo, hi - lo)

    def decode_block(
        self, first: int, n: int, parts: Parts, raw: bool, out: np.ndarray | None = None
    ) -> np.ndarray:
        import numpy as np

        arr = np.frombuffer(parts[0], dtype=numpy_dtype(self.dtype)).reshape(n, self.shape[1])
        if raw:
            return arr
        # Widen to float32, exactly for every dtype up to 32 bits (float32 itself: no copy).
        # float64 stays float64: narrowing would round, and overflow past 3.4e38 to Inf.
        wide = np.float64 if arr.dtype == np.float64 else np.float32
        rows = arr.astype(wide, copy=False)
        if self.scale is not None:
            rows = self._apply_scale(rows, first, parts[1])
        return rows

    def _apply_scale(self, rows: np.ndarray, first: int, stored: np.ndarray) -> np.ndarray:
        """Each value times its block's scale; `stored` holds the scale rows of the blocks
        these rows fall in."""
        import numpy as np

        assert self.scale is not None
        br, bc = self.block
        scales = stored.view(numpy_dtype(self.scale.dtype)).astype(np.float32)
        block_rows = np.arange(first, first + rows.shape[0]) // br - first // br
        per_col = np.repeat(scales[block_rows], bc, axis=1)[:, : rows.shape[1]]
        out: np.ndarray = rows * per_col
        return out


def require_table(t: TensorRef) -> None:
    """A token-embedding table is 2-D: (vocab_size, embed_dim)."""
    if len(t.shape) != 2:
        raise InputError(
            f"tensor {t.name} has shape {list(t.shape)}: an embedding table must be 2-D "
            "(vocab_size, embed_dim); pass --tensor with a 2-D tensor"
        )
    if t.shape[0] == 0 or t.shape[1] == 0:
        raise InputError(f"tensor {t.name} is empty (shape {list(t.shape)})")


def load_torch(ref: TensorRef, dtype: torch.dtype) -> torch.Tensor:
    """A whole stored tensor as torch, in `dtype`: its rows widen exactly to float32, so the
    cast back to the stored dtype is exact (resize --write, a loaded table's weight())."""
    import numpy as np
    import torch

    rows, dim = ref.shape
    buf = np.empty((rows, dim), dtype=np.float32)
    for start, block in ref.iter_chunks(rows_per_chunk(dim)):
        buf[start : start + block.shape[0]] = block
    return torch.from_numpy(buf).to(dtype)
