"""Stored tensors read without torch: dtypes, rows by id, bounded chunks.

Every reader hands out float32 rows. Values are exact: bf16, fp16 and fp8 widen to
float32 without rounding.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from emb_cli.errors import InputError
from emb_cli.sources.base import RangeReader, TensorRef, rows_per_chunk
from emb_cli.sources.dtypes import numpy_dtype
from emb_cli.sources.progress import tracked

if TYPE_CHECKING:
    import numpy as np
    import torch

# Remote lookups: ids closer than this share one range request.
REMOTE_GAP = 64 * 2**10


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
        got, want = 0, len(buf)
        while got < want:  # Linux returns at most 0x7ffff000 bytes per call
            n = os.preadv(self._fh.fileno(), [buf[got:]], offset + got)
            if n == 0:
                raise InputError(f"{self.name} is truncated: it ends before byte {offset + want}")
            got += n

    def close(self) -> None:
        self._fh.close()


@dataclass
class FileTensor:
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
        return self.shape[1] * self.itemsize

    def _decode(self, buf: Any, nrows: int, first_row: int, raw: bool) -> np.ndarray:
        import numpy as np

        # buf: the uint8 array from _pread (any buffer works: subclasses use np.frombuffer)
        arr = np.frombuffer(buf, dtype=numpy_dtype(self.dtype)).reshape(nrows, self.shape[1])
        if raw:
            return arr
        # Widen to float32, exactly for every dtype up to 32 bits (float32 itself: no copy).
        # float64 stays float64: narrowing would round, and overflow past 3.4e38 to Inf.
        wide = np.float64 if arr.dtype == np.float64 else np.float32
        out = arr.astype(wide, copy=False)
        if self.scale is not None:
            out = self._apply_scale(out, first_row)
        return out

    def _apply_scale(self, rows: np.ndarray, first_row: int) -> np.ndarray:
        import numpy as np

        assert self.scale is not None
        br, bc = self.block
        n = rows.shape[0]
        block_rows = np.arange(first_row, first_row + n) // br
        scales = self.scale.read_rows(sorted(set(block_rows.tolist())))
        index = {b: i for i, b in enumerate(sorted(set(block_rows.tolist())))}
        per_row = scales[[index[b] for b in block_rows.tolist()]]
        per_col = np.repeat(per_row, bc, axis=1)[:, : rows.shape[1]]
        out: np.ndarray = rows * per_col
        return out

    def _pread(self, fd: int | RangeReader, start_row: int, nrows: int) -> np.ndarray:
        """The rows' bytes in a fresh writable buffer: one copy from the page cache, no more.

        np.empty, not bytearray: zero-filling every block first cost a third of a scan.
        """
        import numpy as np

        want = nrows * self.row_bytes
        pos = self.offset + start_row * self.row_bytes
        buf = np.empty(want, dtype=np.uint8)
        view = buf.data  # a memoryview: preadv fills the array in place
        if not isinstance(fd, int):
            fd.read_into(pos, view)
            return buf
        got = 0
        while got < want:  # Linux returns at most 0x7ffff000 bytes per call
            n = os.preadv(fd, [view[got:]], pos + got)
            if n == 0:
                raise InputError(
                    f"{self.file} is truncated: tensor {self.name} needs bytes up to "
                    f"{pos + want}, the file ends earlier"
                )
            got += n
        return buf

    @contextmanager
    def _opened(self) -> Iterator[int | RangeReader]:
        if self.reader is not None:
            yield self.reader
            return
        with open(self.file, "rb") as fh:
            yield fh.fileno()

    def _runs(self, uniq: list[int]) -> list[tuple[int, int]]:
        """(first, last) row spans covering the sorted ids, one read each.

        Local: runs of consecutive ids. Remote: rows under REMOTE_GAP bytes apart share a
        request, since a round trip costs more than 64 KiB of transfer.
        """
        gap = REMOTE_GAP // max(1, self.row_bytes) if self.reader is not None else 0
        runs: list[tuple[int, int]] = []
        for t in uniq:
            if runs and t - runs[-1][1] - 1 <= gap:
                runs[-1] = (runs[-1][0], t)
            else:
                runs.append((t, t))
        return runs

    def read_rows(self, token_ids: Sequence[int]) -> np.ndarray:
        """Rows in the order asked; each distinct run of ids is one pread."""
        from bisect import bisect_left, bisect_right

        import numpy as np

        ids = [int(t) for t in token_ids]
        uniq = sorted(set(ids))
        got: dict[int, np.ndarray] = {}
        with self._opened() as fd:
            for first, last in self._runs(uniq):
                n = last - first + 1
                block = self._decode(self._pread(fd, first, n), n, first, False)
                for t in uniq[bisect_left(uniq, first) : bisect_right(uniq, last)]:
                    got[t] = block[t - first]
        if not ids:
            return np.zeros((0, self.shape[1]), dtype=np.float32)
        return np.stack([got[t] for t in ids])

    def iter_chunks(
        self, rows_per_chunk: int, *, raw: bool = False
    ) -> Iterator[tuple[int, np.ndarray]]:
        return tracked(self._chunks(rows_per_chunk, raw), self.shape[0], f"reading {self.name}")

    def _chunks(self, rows_per_chunk: int, raw: bool) -> Iterator[tuple[int, np.ndarray]]:
        nrows = self.shape[0]
        with self._opened() as fd:
            for start in range(0, nrows, rows_per_chunk):
                n = min(rows_per_chunk, nrows - start)
                yield start, self._decode(self._pread(fd, start, n), n, start, raw)


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
