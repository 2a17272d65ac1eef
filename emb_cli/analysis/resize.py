"""emb resize: what `model.resize_token_embeddings(n, pad_to_multiple_of, mean_resizing)` does.

The plan (sizes, memory, tokenizer fit, the mean-resizing distribution) is numpy only and
streamed; `write_resized` replays transformers' code with torch, call for call, so that
the same `torch.manual_seed` gives bit-identical new rows (tests compare with transformers
5.x `_get_resized_embeddings`, `_get_resized_lm_head`, `_init_added_embeddings_weights_with_mean`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from emb_cli.analysis.common import SourceSummary, summarize
from emb_cli.analysis.counting import bytes_by_dtype
from emb_cli.errors import UsageError
from emb_cli.sources import dtypes
from emb_cli.sources.base import TableInfo, TableSource, rows_per_chunk
from emb_cli.sources.memory import covariance_bytes, ensure_memory
from emb_cli.sources.tensors import load_torch

if TYPE_CHECKING:
    from collections.abc import Iterable

    import numpy as np
    import torch

    from emb_cli.sources.base import TensorRef

# transformers scales the covariance by this before sampling (`epsilon = 1e-9`): new rows
# sit within ~1e-4.5 standard deviations of the old mean.
COV_SCALE = 1e-9
# transformers' `_init_weights`: `std = config.initializer_range or 0.02`.
DEFAULT_STD = 0.02
# eigvalsh on D x D costs ~D^3: 0.1 s at 1024, seconds at 4096; past that, power iteration.
EIGH_MAX_DIM = 4096
STORED_ITEMSIZE = {d.name: d.itemsize for d in dtypes.DTYPES if d.kind == "float"}
WRITABLE = ("float64", "float32", "bfloat16", "float16")
Role = Literal["embedding", "head"]


@dataclass(frozen=True)
class Distribution:
    """N(mean, 1e-9 * cov) of the old rows: `_init_added_embeddings_weights_with_mean`."""

    rows: int  # old rows the mean and covariance are taken over
    mean_norm: float
    mean_abs_max: float
    covariance_trace: float  # cov = (X - mean)^T (X - mean) / rows, unscaled
    covariance_max_eigenvalue: float
    covariance_min_eigenvalue: float | None  # None past EIGH_MAX_DIM
    scaled_trace: float  # 1e-9 * trace: the total variance the sampler uses
    scaled_max_eigenvalue: float
    positive_definite: bool  # Cholesky of 1e-9 * cov succeeds (float64 here)
    # mean: transformers' fallback when the covariance is not positive definite
    sampler: Literal["multivariate-normal", "mean"]
    expected_row_norm: float  # sqrt(|mean|^2 + 1e-9 * trace): new rows are ~the mean
    # Rows holding NaN/Inf, left out of everything above. transformers' own mean would be NaN,
    # and so would every row it adds.
    nonfinite_rows: int = 0
    nonfinite_row_ids: list[int] = field(default_factory=list)  # the first 100


@dataclass(frozen=True)
class ZeroMeanInit:
    """--no-mean-resizing: `_init_weights` draws normal_(0, std) over the whole new table."""

    std: float
    std_source: Literal["config", "default"]
    expected_row_norm: float  # std * sqrt(D), the norm's root mean square


@dataclass(frozen=True)
class TensorPlan:
    role: Role
    tensor: str | None
    stored: bool  # values available (a file's tensor or a built table)
    old_rows: int
    new_rows: int
    rows_added: int
    rows_removed: int
    distribution: Distribution | None  # mean resizing of a stored tensor that grows


@dataclass(frozen=True)
class TokenizerFit:
    """New token ids (tokenizer size .. requested) against the rows the table already has."""

    tokenizer_vocab_size: int
    padding_rows: int  # rows past the tokenizer: already there, unused
    new_token_ids: int
    new_ids_in_existing_rows: int  # no resize needed for these
    new_ids_needing_rows: int
    tokenizer_ids_dropped: int  # a shrink below the tokenizer loses these ids' rows


@dataclass(frozen=True)
class WrittenTensor:
    name: str
    shape: list[int]
    dtype: str
    new_rows_init: str  # multivariate-normal | mean | normal(0, std) | none


@dataclass(frozen=True)
class WriteResult:
    path: str
    seed: int
    tensors: list[WrittenTensor]


@dataclass(frozen=True)
class ResizeReport:
    requested: int
    pad_to_multiple_of: int | None
    new_num_tokens: int  # after rounding, as transformers computes it
    old_num_tokens: int
    embed_dim: int
    action: Literal["grow", "shrink", "unchanged"]
    rows_added: int
    rows_removed: int
    mean_resizing: bool
    tied: bool | None
    head_follows_embedding: bool  # tied: one table, the head is resized with it
    embedding: TensorPlan
    head: TensorPlan | None  # an untied head, resized to the same rows; None when tied
    params_old: int
    params_new: int
    params_delta: int
    bytes_old: dict[str, int]
    bytes_new: dict[str, int]
    stored_dtype: str
    stored_bytes_old: int | None
    stored_bytes_new: int | None
    zero_mean_init: ZeroMeanInit
    tokenizer: TokenizerFit | None
    written: WriteResult | None
    notes: list[str]
    source: SourceSummary


def final_size(current: int, requested: int, pad_to_multiple_of: int | None) -> int:
    """transformers' rounding, exactly: ((n + m - 1) // m) * m."""
    if pad_to_multiple_of is None:
        return requested
    m = pad_to_multiple_of
    return ((requested + m - 1) // m) * m


def validate(requested: int, pad_to_multiple_of: int | None) -> None:
    if requested <= 0:
        raise UsageError(f"NEW_NUM_TOKENS must be a positive number of rows, got {requested}")
    if pad_to_multiple_of is not None and pad_to_multiple_of <= 0:
        raise UsageError(f"--pad-to-multiple-of must be positive, got {pad_to_multiple_of}")


def moments(
    chunks: Iterable[tuple[int, np.ndarray]], dim: int
) -> tuple[int, np.ndarray, np.ndarray, list[int]]:
    """(rows, mean, population covariance, ids of rows left out) in float64, one bounded block
    at a time. Rows holding NaN/Inf are left out; with none left, mean and covariance are NaN.

    Shifted by the first block's mean, so a large common offset does not cancel digits in
    X^T X / n - mean mean^T. Products of float32 values are exact in float64.
    """
    import numpy as np

    n = 0
    shift: np.ndarray | None = None
    s = np.zeros(dim, dtype=np.float64)
    xtx = np.zeros((dim, dim), dtype=np.float64)
    bad: list[int] = []
    for start, block in chunks:
        b = block.astype(np.float64)
        with np.errstate(all="ignore"):
            ok = np.isfinite(np.einsum("ij,ij->i", b, b))  # float32 squares cannot overflow
        if not ok.all():
            bad.extend((np.flatnonzero(~ok) + start).tolist())
            b = b[ok]
        if not b.shape[0]:
            continue
        if shift is None:
            shift = b.mean(axis=0)
        b -= shift
        n += b.shape[0]
        s += b.sum(axis=0)
        xtx += b.T @ b
    if shift is None or n == 0:
        return 0, np.full(dim, np.nan), np.full((dim, dim), np.nan), bad
    d = s / n
    cov = xtx / n - np.outer(d, d)
    cov = (cov + cov.T) / 2  # symmetric to the last bit, as eigvalsh and Cholesky assume
    return n, shift + d, cov, bad


def _largest_eigenvalue(cov: np.ndarray) -> float:
    import numpy as np

    if not np.isfinite(cov).all():
        return math.nan
    v = np.ones(cov.shape[0]) / math.sqrt(cov.shape[0])
    lam = 0.0
    for _ in range(500):
        w = cov @ v
        norm = float(np.linalg.norm(w))
        if norm == 0.0:
            return 0.0
        v = w / norm
        if abs(norm - lam) <= 1e-12 * norm:
            break
        lam = norm
    return float(v @ cov @ v)


def distribution(chunks: Iterable[tuple[int, np.ndarray]], dim: int) -> Distribution:
    import numpy as np

    rows, mean, cov, bad = moments(chunks, dim)
    measured = rows > 0
    if not measured:  # every row holds NaN/Inf: nothing to decompose
        lmax, lmin = math.nan, None
    elif dim <= EIGH_MAX_DIM:
        eig = np.linalg.eigvalsh(cov)
        lmax, lmin = float(eig[-1]), float(eig[0])
    else:
        lmax, lmin = _largest_eigenvalue(cov), None
    try:
        np.linalg.cholesky(COV_SCALE * cov)
        pd = measured and bool(np.isfinite(cov).all())
    except np.linalg.LinAlgError:
        pd = False
    trace = float(np.trace(cov))
    mean_sq = float(mean @ mean)
    return Distribution(
        rows=rows,
        mean_norm=math.sqrt(mean_sq),
        mean_abs_max=float(np.abs(mean).max()),
        covariance_trace=trace,
        covariance_max_eigenvalue=lmax,
        covariance_min_eigenvalue=lmin,
        scaled_trace=COV_SCALE * trace,
        scaled_max_eigenvalue=COV_SCALE * lmax,
        positive_definite=pd,
        sampler="multivariate-normal" if pd else "mean",
        expected_row_norm=math.sqrt(mean_sq + (COV_SCALE * trace if pd else 0.0)),
        nonfinite_rows=len(bad),
        nonfinite_row_ids=bad[:100],
    )


def _tensor_chunks(ref: TensorRef) -> Iterable[tuple[int, np.ndarray]]:
    return ref.iter_chunks(rows_per_chunk(ref.shape[1]))


def tokenizer_fit(source: TableSource, requested: int, final: int) -> TokenizerFit | None:
    vocab = source.vocab(fetch=True)
    if vocab is None:
        return None
    size = vocab.size
    rows = source.info.vocab_size
    new_ids = max(0, requested - size)
    inside = max(0, min(requested, rows) - size)
    return TokenizerFit(
        tokenizer_vocab_size=size,
        padding_rows=max(0, rows - size),
        new_token_ids=new_ids,
        new_ids_in_existing_rows=inside,
        new_ids_needing_rows=new_ids - inside,
        tokenizer_ids_dropped=max(0, size - final),
    )


def _plan(
    role: Role, name: str | None, stored: bool, old: int, new: int, dist: Distribution | None
) -> TensorPlan:
    return TensorPlan(
        role=role,
        tensor=name,
        stored=stored,
        old_rows=old,
        new_rows=new,
        rows_added=max(0, new - old),
        rows_removed=max(0, old - new),
        distribution=dist,
    )


def plan_resize(
    source: TableSource,
    requested: int,
    pad_to_multiple_of: int | None = None,
    mean_resizing: bool = True,
    written: WriteResult | None = None,
) -> ResizeReport:
    validate(requested, pad_to_multiple_of)
    info = source.info
    old, dim = info.vocab_size, info.embed_dim
    new = final_size(old, requested, pad_to_multiple_of)
    if new > old and mean_resizing:
        ensure_covariance(dim)
    emb_dist = distribution(source.chunks(), dim) if new > old and mean_resizing else None
    embedding = _plan("embedding", info.tensor_name, True, old, new, emb_dist)
    head_ref = source.head()
    head = _head_plan(head_ref, info.tied, old, new, dim, mean_resizing)
    params_old = old * dim + (head.old_rows * dim if head is not None else 0)
    params_new = new * dim * (2 if head is not None else 1)
    item = STORED_ITEMSIZE.get(info.dtype)
    return ResizeReport(
        requested=requested,
        pad_to_multiple_of=pad_to_multiple_of,
        new_num_tokens=new,
        old_num_tokens=old,
        embed_dim=dim,
        action="grow" if new > old else ("shrink" if new < old else "unchanged"),
        rows_added=max(0, new - old),
        rows_removed=max(0, old - new),
        mean_resizing=mean_resizing,
        tied=info.tied,
        head_follows_embedding=head is None and info.tied is not False,
        embedding=embedding,
        head=head,
        params_old=params_old,
        params_new=params_new,
        params_delta=params_new - params_old,
        bytes_old=bytes_by_dtype(params_old),
        bytes_new=bytes_by_dtype(params_new),
        stored_dtype=info.dtype,
        stored_bytes_old=params_old * item if item else None,
        stored_bytes_new=params_new * item if item else None,
        zero_mean_init=_zero_mean_init(info),
        tokenizer=tokenizer_fit(source, requested, new),
        written=written,
        notes=_notes(info, head_ref, new, emb_dist),
        source=summarize(info),
    )


def ensure_covariance(dim: int) -> None:
    """Refuse (exit 2) before the D x D covariance of mean resizing is allocated."""
    ensure_memory(
        covariance_bytes(dim),
        f"mean resizing's {dim:,} x {dim:,} covariance (as transformers computes it)",
        "pass --no-mean-resizing: new rows drawn from N(0, initializer_range) need no covariance",
    )


def _head_plan(
    head_ref: TensorRef | None,
    tied: bool | None,
    old: int,
    new: int,
    dim: int,
    mean_resizing: bool,
) -> TensorPlan | None:
    """An untied head, resized to the same rows; None when it follows the embedding."""
    if tied is True:
        return None  # transformers re-ties a stored head to the resized embedding
    if head_ref is not None:
        hrows = head_ref.shape[0]
        grows = mean_resizing and new > hrows
        hdist = distribution(_tensor_chunks(head_ref), dim) if grows else None
        return _plan("head", head_ref.name, True, hrows, new, hdist)
    if tied is False:
        return _plan("head", None, False, old, new, None)
    return None


def _zero_mean_init(info: TableInfo) -> ZeroMeanInit:
    std_cfg = info.initializer_range
    std = std_cfg or DEFAULT_STD
    return ZeroMeanInit(
        std=std,
        std_source="config" if std_cfg else "default",
        expected_row_norm=std * math.sqrt(info.embed_dim),
    )


def _notes(
    info: TableInfo, head_ref: TensorRef | None, new: int, emb_dist: Distribution | None
) -> list[str]:
    """What transformers does besides the plan: the head, dropped rows, the pad id, the
    mean-resizing fallback."""
    old, dim = info.vocab_size, info.embed_dim
    notes: list[str] = []
    if info.tied is True and head_ref is not None:
        notes.append(
            f"config says tied, yet {head_ref.name} is stored separately; "
            "transformers re-ties it to the embedding after the resize"
        )
    elif info.tied is False and head_ref is None:
        notes.append(
            "untied head not stored here: transformers draws its new rows the same "
            "way from its own rows"
        )
    if new < old:
        notes.append(
            f"shrink: rows {new}..{old - 1} are removed; ids from {new} on lose their vectors"
        )
    pad = info.pad_token_id
    if pad is not None and pad >= new:
        notes.append(f"pad token {pad} is past the new size: transformers sets padding_idx to None")
    if emb_dist is not None and emb_dist.rows <= dim:
        notes.append(
            f"{emb_dist.rows} rows in {dim} dimensions: the covariance is singular "
            "(rank <= rows - 1), so transformers falls back to the mean"
        )
    if emb_dist is not None:
        notes.append(
            "positive definiteness checked here in float64; transformers checks "
            "1e-9 * cov in float32 (--write reports what it did)"
        )
    return notes


# ---------------------------------------------------------------- --write (torch)


def input_files(source: TableSource) -> list[str]:
    files = []
    for ref in (source.embedding(), source.head()):
        if ref is not None:
            files.append(ref.file)
    if source.info.path is not None:
        files.append(source.info.path)
    return files


def check_writable(source: TableSource) -> None:
    head = source.head() if source.info.tied is not True else None
    for dtype in {source.info.dtype, head.dtype if head is not None else source.info.dtype}:
        if dtype not in WRITABLE:
            raise UsageError(
                f"cannot write a resized {dtype} tensor; --write handles "
                f"{', '.join(WRITABLE)} tensors"
            )


def _resize_like_transformers(
    old: torch.Tensor, new_rows: int, mean_resizing: bool, std: float, head: bool
) -> tuple[torch.Tensor, str]:
    """`_get_resized_embeddings` / `_get_resized_lm_head`: the same RNG calls, in the same order.

    The new module's own init (Embedding: normal_(0, 1); Linear: kaiming_uniform_) draws from
    the generator before mean resizing samples, so it is replayed too.
    """
    import torch
    from torch.distributions import constraints
    from torch.distributions.multivariate_normal import MultivariateNormal

    old_rows, dim = old.shape
    if old_rows == new_rows:
        return old, "none"
    if head:
        module: torch.nn.Linear | torch.nn.Embedding = torch.nn.Linear(
            dim, new_rows, bias=False, dtype=old.dtype
        )
    else:
        module = torch.nn.Embedding(new_rows, dim, dtype=old.dtype)
    w = module.weight.detach()  # shares storage with the module's weight
    how = "none"
    added = new_rows - old_rows
    if added > 0 and not mean_resizing:
        w.normal_(mean=0.0, std=std)  # _init_weights on the whole new module
        how = f"normal(0, {std:g})"
    elif added > 0:
        x = old.to(torch.float32)
        mean = torch.mean(x, dim=0)  # transformers passes axis=0, the same reduction
        centered = x - mean
        cov = centered.T @ centered / old_rows
        if constraints.positive_definite.check(COV_SCALE * cov).all():  # type: ignore[no-untyped-call]
            dist = MultivariateNormal(mean, covariance_matrix=COV_SCALE * cov)
            w[-added:, :] = dist.sample(sample_shape=(added,)).to(old.dtype)
            how = "multivariate-normal"
        else:
            w[-added:, :] = mean[None, :].repeat(added, 1).to(old.dtype)
            how = "mean"
    n = min(old_rows, new_rows)
    w[:n, :] = old[:n, :]
    return w.detach(), how


def resized_tensors(
    source: TableSource,
    requested: int,
    pad_to_multiple_of: int | None,
    mean_resizing: bool,
    seed: int,
) -> tuple[dict[str, torch.Tensor], list[WrittenTensor]]:
    """The tensors `model.resize_token_embeddings` leaves, after `torch.manual_seed(seed)`."""
    import torch

    from emb_cli.sources.built import ensure_buildable

    validate(requested, pad_to_multiple_of)
    check_writable(source)
    info = source.info
    new = final_size(info.vocab_size, requested, pad_to_multiple_of)
    head_ref = source.head() if info.tied is not True else None
    ensure_buildable(max(new, info.vocab_size), info.embed_dim, copies=3 if head_ref is None else 6)
    if new > info.vocab_size and mean_resizing:
        ensure_covariance(info.embed_dim)
    std = info.initializer_range or DEFAULT_STD
    old_embed = source.weight()
    old_head = (
        load_torch(head_ref, getattr(torch, head_ref.dtype)) if head_ref is not None else None
    )

    torch.manual_seed(seed)  # as a script would before model.resize_token_embeddings(...)
    tensors: dict[str, torch.Tensor] = {}
    written: list[WrittenTensor] = []
    embed, how = _resize_like_transformers(old_embed, new, mean_resizing, std, head=False)
    name = info.tensor_name or "model.embed_tokens.weight"
    tensors[name] = embed
    written.append(WrittenTensor(name, list(embed.shape), info.dtype, how))
    if old_head is not None and head_ref is not None:
        h, how = _resize_like_transformers(old_head, new, mean_resizing, std, head=True)
        tensors[head_ref.name] = h
        written.append(WrittenTensor(head_ref.name, list(h.shape), head_ref.dtype, how))
    return tensors, written
