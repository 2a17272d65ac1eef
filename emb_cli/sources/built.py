"""Tables built from a spec with torch, by the recipes the README documents.

Each recipe is bit-identical to the plain torch code it names (tests prove it):
  normal          torch.manual_seed(s); w = torch.empty(V, D).normal_(0, std); w[pad] = 0
  torch-default   torch.manual_seed(s); w = nn.Embedding(V, D, padding_idx=pad).weight
  uniform         torch.manual_seed(s); w = torch.empty(V, D).uniform_(low, high); w[pad] = 0
  xavier-normal   torch.manual_seed(s); w = nn.init.xavier_normal_(torch.empty(V, D)); w[pad] = 0
  xavier-uniform  torch.manual_seed(s); w = nn.init.xavier_uniform_(torch.empty(V, D)); w[pad] = 0
then `w = w.to(dtype)` for bfloat16 / float16.

The table is made in pieces and never held whole unless `weight()` asks for it. PyTorch's CPU
`uniform_` draws one value at a time, in order; `normal_` (normal_fill) draws all its
uniforms in order, turns each run of 16 into normals by Box-Muller, and when the size is not a
multiple of 16 draws 16 more for the last 16 values; under 16 values it takes a scalar path.
So after the same seed, consecutive pieces whose sizes are multiples of 16 values, the last at
least 16, give the bits of one call on the whole table. Piece sizes here follow that rule.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from emb_cli.errors import TensorNotFound
from emb_cli.progress import tracked
from emb_cli.sources import dtypes
from emb_cli.sources.base import (
    CHUNK_BYTES,
    PadFacts,
    PadSource,
    SourceFacts,
    TableInfo,
    TensorRef,
    Vocab,
    check_ids,
    rows_per_chunk,
)
from emb_cli.sources.memory import ensure_memory

if TYPE_CHECKING:
    import numpy as np
    import torch
    from tokenizers import Tokenizer

    from emb_cli.sources.config.spec import TableSpec

BOX_MULLER = 16  # normal_fill's unit: pieces are whole multiples of it
# Per-row results a full-table analysis keeps (norms, scores, projections: undertrained holds
# about eight float64 values a row); a streamed build itself holds only a few pieces.
ROW_BOOKKEEPING_BYTES = 64


def _refuse_above(need: float, what: str) -> None:
    ensure_memory(
        need, what, "use `emb stats` for sizes (arithmetic only) or a smaller --vocab/--dim"
    )


def ensure_buildable(
    vocab_size: int, embed_dim: int, copies: float = 1.0, itemsize: int = 4
) -> None:
    """Refuse before allocating `copies` whole tables: a 10**15-row table is arithmetic."""
    _refuse_above(
        vocab_size * embed_dim * itemsize * copies,
        f"building a {vocab_size} x {embed_dim} table",
    )


def piece_rows(embed_dim: int) -> int:
    """The fewest rows whose values are a whole multiple of 16: pieces are multiples of this."""
    return BOX_MULLER // math.gcd(embed_dim, BOX_MULLER)


def prefix_rows(vocab_size: int, embed_dim: int, rows_needed: int) -> int:
    """The shortest prefix [0, p), p >= rows_needed, that can be built alone with the whole
    table's bits: p rows make a multiple of 16 values, or p is the whole table when the rest
    would be a piece under 16 values."""
    m = piece_rows(embed_dim)
    p = -(-rows_needed // m) * m
    if (vocab_size - p) * embed_dim < BOX_MULLER:
        return vocab_size
    return p


def piece_bounds(
    vocab_size: int, embed_dim: int, stop: int, rows: int
) -> Iterator[tuple[int, int]]:
    """(start, n) of the pieces that build rows [0, stop): `rows` rounded up to a whole
    multiple of piece_rows, the last piece taking a remainder under 16 values with it."""
    m = piece_rows(embed_dim)
    size = -(-max(1, rows) // m) * m
    start = 0
    while start < stop:
        n = min(size, stop - start)
        if 0 < (stop - start - n) * embed_dim < BOX_MULLER:
            n = stop - start
        yield start, n
        start += n


def init_call(spec: TableSpec) -> tuple[str, float, float]:
    """The one torch call each recipe makes: ("normal", mean, std) or ("uniform", low, high).

    xavier_normal_/xavier_uniform_ on a (V, D) tensor: fan_in = D, fan_out = V, gain 1,
    std = gain * sqrt(2 / (fan_in + fan_out)) and bound = sqrt(3) * std, as torch.nn.init does.
    """
    init, v, d = spec.init, spec.vocab_size, spec.embed_dim
    if init.scheme == "normal":
        return "normal", 0.0, init.std
    if init.scheme == "torch-default":  # nn.Embedding.reset_parameters: init.normal_(weight)
        return "normal", 0.0, 1.0
    if init.scheme == "uniform":
        return "uniform", init.low, init.high
    std = 1.0 * math.sqrt(2.0 / float(d + v))
    if init.scheme == "xavier-normal":
        return "normal", 0.0, std
    if init.scheme == "xavier-uniform":
        bound = math.sqrt(3.0) * std
        return "uniform", -bound, bound
    raise AssertionError(init.scheme)  # validate_spec rejects other names


def build_pieces(
    spec: TableSpec, stop: int | None = None, rows: int | None = None, cast: bool = True
) -> Iterator[tuple[int, torch.Tensor]]:
    """(start, piece) over rows [0, stop), pad row zeroed, in the spec's dtype (float32 with
    cast=False: widen() then gives the cast's values).

    `stop` must come from prefix_rows (or be the vocab size); pieces hold about `rows` rows.
    Uses its own generator, seeded as torch.manual_seed would seed the global one.
    """
    import torch

    v, d, pad = spec.vocab_size, spec.embed_dim, spec.pad_token_id
    stop = v if stop is None else stop
    kind, a, b = init_call(spec)
    dtype = getattr(torch, spec.dtype)
    gen = torch.Generator().manual_seed(spec.init.seed)
    for start, n in piece_bounds(v, d, stop, rows or rows_per_chunk(d)):
        w = torch.empty(n, d)
        if kind == "normal":
            w.normal_(a, b, generator=gen)
        else:
            w.uniform_(a, b, generator=gen)
        if pad is not None and start <= pad < start + n:
            w[pad - start] = 0
        yield start, w if dtype == torch.float32 or not cast else w.to(dtype)


# Passes widening this many values in all go through ml_dtypes: its 1.5 s import pays for
# itself past about 2**26 values (torch casts ~1.6e8 values/s here, ml_dtypes 3x that).
ML_DTYPES_MIN_VALUES = 2**26


def widen(piece: np.ndarray, dtype: str, total: int | None = None) -> np.ndarray:
    """float32 values after a cast to `dtype` and back, as torch's .to(dtype).float() gives:
    round to nearest even. `total`: the values the whole pass widens (default: this piece's).
    bfloat16 through ml_dtypes where that is large, 3x faster here than torch's cast (and
    equal bit for bit on every finite float32, subnormals and overflow included); else through
    torch, already imported to draw the rows: importing ml_dtypes costs 1.5 s (its finfo
    set-up), while torch casts a lookup's few rows in microseconds."""
    import numpy as np

    if dtype == "float32":
        return piece
    if dtype == "bfloat16" and (total or piece.size) >= ML_DTYPES_MIN_VALUES:
        import ml_dtypes

        out: np.ndarray = piece.astype(ml_dtypes.bfloat16).astype(np.float32)
        return out
    import torch

    to = torch.bfloat16 if dtype == "bfloat16" else torch.float16
    half: np.ndarray = torch.from_numpy(piece).to(to).float().numpy()
    return half


def _piece_budget(spec: TableSpec, rows: int) -> float:
    """Bytes one piece takes while it is made: float32, its cast, its float32 widening."""
    return rows * spec.embed_dim * (8 + dtypes.BY_NAME[spec.dtype].itemsize) + CHUNK_BYTES


def build_weight(spec: TableSpec) -> torch.Tensor:
    """The whole table as one tensor, in the spec's dtype: memory for the table, one piece."""
    import torch

    v, d = spec.vocab_size, spec.embed_dim
    rows = rows_per_chunk(d)
    _refuse_above(
        v * d * dtypes.BY_NAME[spec.dtype].itemsize + _piece_budget(spec, rows),
        f"building a {v} x {d} table",
    )
    out = torch.empty(v, d, dtype=getattr(torch, spec.dtype))
    for start, piece in tracked(build_pieces(spec, rows=rows), v, f"building {spec.name}"):
        out[start : start + piece.shape[0]] = piece
    return out


class BuiltSource:
    def __init__(self, spec: TableSpec, pad_source: PadSource | None) -> None:
        self.spec = spec
        self._weight: torch.Tensor | None = None
        self.info = TableInfo(
            origin=spec.origin,
            name=spec.name,
            vocab_size=spec.vocab_size,
            embed_dim=spec.embed_dim,
            dtype=spec.dtype,
            pad_token_id=spec.pad_token_id,
            pad_source=pad_source if spec.pad_token_id is not None else None,
            tied=spec.tied,
            tied_source=spec.origin,
            init=spec.init,
            initializer_range=spec.init.std if spec.init.scheme == "normal" else None,
            config_vocab_size=spec.vocab_size,
            model_type=spec.model_type,
            notes=spec.notes,
        )
        self.config: dict[str, Any] | None = None
        self.facts = SourceFacts(
            kind=spec.origin,
            tensor_names=(),
            choice_reason=None,
            pad=PadFacts(self.info.pad_token_id, self.info.pad_source, {}),
            metadata_pointers={},
            config=None,
        )

    def weight(self) -> torch.Tensor:
        """The whole table in memory: for autograd checks on tables that fit. Streaming
        commands use chunks(), and lookups rows(), which never hold it."""
        if self._weight is None:
            self._weight = build_weight(self.spec)
        return self._weight

    def rows(self, token_ids: Sequence[int]) -> np.ndarray:
        """Builds only the prefix that holds the highest id, one piece at a time."""
        import numpy as np
        import torch

        v, d = self.info.vocab_size, self.info.embed_dim
        check_ids(token_ids, v)
        rows = rows_per_chunk(d)
        _refuse_above(
            len(token_ids) * d * 4 + _piece_budget(self.spec, rows),
            f"building rows of a {v} x {d} table",
        )
        ids = np.asarray(token_ids, dtype=np.int64)
        out = np.empty((ids.size, d), dtype=np.float32)
        if self._weight is not None:
            out[:] = self._weight[torch.from_numpy(ids)].float().numpy()
            return out
        stop = prefix_rows(v, d, int(ids.max()) + 1)
        pieces = build_pieces(self.spec, stop, rows, cast=False)
        for start, piece in tracked(pieces, stop, f"building {self.info.name}"):
            hit = np.flatnonzero((ids >= start) & (ids < start + piece.shape[0]))
            if hit.size:
                out[hit] = widen(piece.numpy()[ids[hit] - start], self.spec.dtype)
        return out

    def chunks(self, rows_per: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        # Not a generator: the memory check runs at the call, before a caller sizes its own
        # per-row arrays from info.vocab_size. Blocks are exactly rows_per rows (diff reads
        # two tables in lockstep), cut from pieces made one after another.
        v, d = self.info.vocab_size, self.info.embed_dim
        n = rows_per or rows_per_chunk(d)
        _refuse_above(
            v * ROW_BOOKKEEPING_BYTES + 3 * _piece_budget(self.spec, n),
            f"streaming a {v} x {d} table (per-row results included)",
        )
        if self._weight is not None:
            w = self._weight
            blocks: Iterator[tuple[int, np.ndarray]] = (
                (s, w[s : s + n].float().numpy()) for s in range(0, v, n)
            )
        else:
            blocks = self._stream(n)
        return tracked(blocks, v, f"building {self.info.name}")

    def _stream(self, n: int) -> Iterator[tuple[int, np.ndarray]]:
        import numpy as np

        d = self.info.embed_dim
        held: np.ndarray | None = None  # rows of the last piece not yet handed out
        at = 0  # the first row of `held`
        for start, piece in build_pieces(self.spec, rows=n, cast=False):
            block = widen(piece.numpy(), self.spec.dtype, total=self.info.vocab_size * d)
            if held is not None and held.shape[0]:
                block = np.concatenate([held, block])
            else:
                at = start
            whole = block.shape[0] // n * n
            for i in range(0, whole, n):
                yield at + i, block[i : i + n]
            held, at = block[whole:], at + whole
        if held is not None and held.shape[0]:
            yield at, held

    def head(self) -> TensorRef | None:
        return None

    def embedding(self) -> TensorRef | None:
        return None

    def tensor(self, name: str) -> TensorRef:
        raise TensorNotFound(f"{self.info.name} is built from a config: it stores no {name!r}")

    def file_of(self, name: str) -> str:
        raise TensorNotFound(f"{self.info.name} is built from a config: it has no files")

    def tokenizer(self, fetch: bool = True) -> Tokenizer | None:
        return None

    def vocab(self, fetch: bool = False) -> Vocab | None:
        return None

    def tokenizer_config(self) -> dict[str, Any] | None:
        return None
