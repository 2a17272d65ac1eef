"""The table checks of emb check: vocab, tie, padding, finite, trained, undertrained.

Each is a short step from the reports of the shared passes (check.py measures them once)
to one frozen dataclass: name, status, summary, then its evidence (the JSON keys).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from emb_cli.analysis.check_status import LISTED, Status, shown
from emb_cli.analysis.ties import VERDICTS_OK
from emb_cli.errors import InputError
from emb_cli.sources.base import TableSource

if TYPE_CHECKING:
    import numpy as np
    from tokenizers import Tokenizer

    from emb_cli.analysis.init_stats import InitStatsReport
    from emb_cli.analysis.padding import PaddingReport
    from emb_cli.analysis.ties import TieReport
    from emb_cli.analysis.undertrained import UndertrainedReport

# Tables are padded to a multiple of these (Megatron: 128; nanoGPT's 50304 = 64 x 786).
PAD_MULTIPLES: Final = (8, 64, 128)


@dataclass(frozen=True)
class TokenRow:
    """A row named by the check: its id and token."""

    id: int
    token: str | None


def tokenizer_of(source: TableSource) -> tuple[Tokenizer | None, str | None]:
    """The checkpoint's tokenizer, or None and why (a GGUF one emb cannot run exactly)."""
    try:
        return source.tokenizer(), None
    except InputError as exc:
        return None, exc.message


def token_rows(source: TableSource, ids: list[int]) -> list[TokenRow]:
    """The first LISTED ids with their tokens (from the tokenizer, or GGUF's vocabulary)."""
    ids = ids[:LISTED]
    vocab = source.vocab(fetch=True)
    tokens: list[str | None] = vocab.tokens(ids) if vocab is not None else [None] * len(ids)
    return [TokenRow(i, t) for i, t in zip(ids, tokens, strict=True)]


def _rows(n: int) -> str:
    return f"{n:,} row" + ("" if n == 1 else "s")


def _named(rows: list[TokenRow], total: int | None = None) -> str:
    return shown((f"{r.id} {r.token!r}" if r.token is not None else str(r.id) for r in rows), total)


@dataclass(frozen=True)
class VocabCheck:
    name: str
    status: Status
    summary: str
    tokenizer_size: int | None  # tokens with added ones (or GGUF tokens); None: no tokenizer
    config_vocab_size: int | None
    embedding_rows: int
    head_rows: int | None  # None: no head stored
    ids_past_table: list[TokenRow]  # tokens whose id has no row (the first LISTED)
    extra_rows: int  # rows past the tokenizer
    extra_rows_reason: str | None  # why the table has them, when known


def _tokenizer_ids(source: TableSource) -> tuple[int | None, list[int]]:
    """The tokenizer's size, and every id it holds in increasing order."""
    tok, _ = tokenizer_of(source)
    if tok is not None:
        ids = sorted(set(tok.get_vocab(with_added_tokens=True).values()))
        return max(len(ids), ids[-1] + 1 if ids else 0), ids
    vocab = source.vocab(fetch=True)
    if vocab is None:
        return None, []
    return vocab.size, list(range(vocab.size))


def _extra_rows_reason(tok_size: int, rows: int) -> str | None:
    for m in PAD_MULTIPLES:
        if rows % m == 0 and rows - tok_size < m:
            return f"the table is the tokenizer's {tok_size:,} rounded up to a multiple of {m}"
    return None


def check_vocab(source: TableSource) -> VocabCheck:
    """The tokenizer's ids, the config's vocab_size, the embedding's and the head's rows."""
    info = source.info
    rows = info.vocab_size
    head = source.head()
    head_rows = int(head.shape[0]) if head is not None else None
    tok_size, ids = _tokenizer_ids(source)
    past = [i for i in ids if i >= rows]
    extra = rows - tok_size if tok_size is not None and tok_size < rows else 0
    reason = _extra_rows_reason(tok_size, rows) if tok_size is not None and extra else None
    named = token_rows(source, past)
    status, summary = _vocab_verdict(tok_size, rows, head_rows, past, named, extra, reason)
    cfg = info.config_vocab_size
    if status == "pass" and cfg is not None and cfg != rows:
        status = "warn"
        summary = f"config.json says vocab_size {cfg:,}; the table has {rows:,} rows"
    return VocabCheck(
        "vocab", status, summary, tok_size, cfg, rows, head_rows, named, extra, reason
    )


def _vocab_verdict(
    tok_size: int | None,
    rows: int,
    head_rows: int | None,
    past: list[int],
    named: list[TokenRow],
    extra: int,
    reason: str | None,
) -> tuple[Status, str]:
    if head_rows is not None and head_rows != rows:
        return "fail", f"the head has {head_rows:,} rows and the embedding {rows:,}"
    if tok_size is None:
        if head_rows is None:
            return "skip", "no tokenizer and no head to compare the table's rows with"
        return "pass", f"embedding and head both have {rows:,} rows (no tokenizer)"
    if past:
        return "fail", (
            f"the tokenizer has {tok_size:,} tokens but the table only {rows:,} rows: "
            f"{len(past):,} ids have no row: {_named(named, len(past))}"
        )
    if extra and reason is None:
        return "warn", (
            f"{extra:,} rows past the tokenizer's {tok_size:,} tokens, not padding to a "
            f"multiple of {', '.join(map(str, PAD_MULTIPLES))}: unexplained"
        )
    if extra:
        return "pass", f"{tok_size:,} tokens, {rows:,} rows: {reason}"
    return "pass", f"{tok_size:,} tokens, one row each"


@dataclass(frozen=True)
class TieCheck:
    name: str
    status: Status
    summary: str
    verdict: str | None  # emb tie's verdict
    config_tied: bool | None
    config_tied_source: str | None
    head_tensor: str | None
    evidence: list[str]


def check_tie(tie: TieReport | None) -> TieCheck:
    """The config's tie statement against what is stored (emb tie's verdict)."""
    if tie is None:
        why = "a table built from flags has no stored head; `emb tie` runs it in PyTorch"
        return TieCheck("tie", "skip", why, None, None, None, None, [])
    status: Status = "pass" if VERDICTS_OK[tie.verdict] else "fail"
    if tie.verdict == "no-head":
        status = "skip"
    elif tie.verdict == "untied-identical":
        status = "warn"
    reasons = [e for e in tie.evidence if not e.startswith("config:")]
    summary = f"{tie.verdict}: {reasons[-1]}" if reasons else tie.verdict
    return TieCheck(
        "tie",
        status,
        summary,
        tie.verdict,
        tie.config_tied,
        tie.config_tied_source,
        tie.head_tensor,
        tie.evidence,
    )


@dataclass(frozen=True)
class PaddingCheck:
    name: str
    status: Status
    summary: str
    pad_token_id: int | None
    pad_ids_found: dict[str, int | None]  # config / generation_config / tokenizer
    row_is_zero: bool | None
    row_norm: float | None


def check_pad(source: TableSource, pad: PaddingReport | None) -> PaddingCheck:
    """The pad ids agree and name a row; the row's state is reported, not judged."""
    found = dict(source.facts.pad.found)
    if pad is None:  # a built table: its pad id and row as the spec made them
        return _built_pad(source, found)
    status: Status = "pass"
    if pad.sources_disagree or pad.verdict == "missing-row":
        status = "fail"
    elif pad.verdict == "no-pad-token":
        status = "skip"
    summary = pad.detail.split(". ")[0]
    if pad.sources_disagree:
        summary = "pad ids disagree: " + ", ".join(f"{k} says {v}" for k, v in found.items())
    return PaddingCheck(
        "padding", status, summary, pad.pad_token_id, found, pad.row_is_zero, pad.row_norm
    )


def _built_pad(source: TableSource, found: dict[str, int | None]) -> PaddingCheck:
    pad = source.info.pad_token_id
    if pad is None:
        return PaddingCheck("padding", "skip", "no pad token", None, found, None, None)
    row = source.rows([pad])[0]
    norm = float((row.astype("float64") ** 2).sum() ** 0.5)
    state = "exactly zero" if norm == 0 else f"not zero (norm {norm:.4g})"
    return PaddingCheck("padding", "pass", f"pad row {pad} is {state}", pad, found, norm == 0, norm)


@dataclass(frozen=True)
class FiniteCheck:
    name: str
    status: Status
    summary: str
    nonfinite_rows: int
    rows: list[TokenRow]  # the first LISTED rows holding NaN or Inf


def check_finite(source: TableSource, ids: list[int], count: int) -> FiniteCheck:
    """Rows holding NaN or Inf, in the embedding (or the head beside it)."""
    if not count:
        return FiniteCheck("finite", "pass", "no row holds NaN or Inf", 0, [])
    named = token_rows(source, ids)
    summary = f"{_rows(count)} hold{'s' if count == 1 else ''} NaN or Inf: {_named(named, count)}"
    return FiniteCheck("finite", "fail", summary, count, named)


@dataclass(frozen=True)
class TrainedCheck:
    name: str
    status: Status
    summary: str
    verdict: str  # emb init-stats' verdict
    reference: str | None


_TRAINED_STATUS: Final[dict[str, Status]] = {
    "trained": "pass",
    "init-like": "warn",
    "consistent-with-init": "warn",
    "inconsistent-with-init": "warn",
    "unknown": "skip",
}


def check_trained(init: InitStatsReport) -> TrainedCheck:
    """init-stats' verdict: a checkpoint still at its init warns."""
    status = _TRAINED_STATUS[init.verdict]
    summary = f"{init.verdict}: {init.verdict_detail}"
    return TrainedCheck("trained", status, summary, init.verdict, init.reference)


@dataclass(frozen=True)
class UndertrainedCheck:
    name: str
    status: Status
    summary: str
    flagged: int  # undertrained's flagged rows
    expected: int  # of them: declared unused, past the tokenizer or unreachable
    unexpected: list[TokenRow]  # flagged rows of tokens in use (the first LISTED)
    top: list[TokenRow]  # undertrained's top candidates


def check_undertrained(
    source: TableSource, ut: UndertrainedReport, flagged: np.ndarray, known: np.ndarray
) -> UndertrainedCheck:
    """Information: flagged rows of ordinary tokens warn; unused or unreachable ones pass.
    `known`: per row, declared unused, unreachable or past the tokenizer."""
    import numpy as np

    ids = np.flatnonzero(flagged)
    expected = known.copy()
    pad = source.info.pad_token_id
    if pad is not None and 0 <= pad < expected.size:
        expected[pad] = True  # a zero pad row is what padding_idx makes
    unexpected = np.flatnonzero(flagged & ~expected).tolist()
    top = [TokenRow(c.id, c.token) for c in ut.candidates[:5]]
    n = int(ids.size)
    if unexpected:
        named = token_rows(source, unexpected)
        status: Status = "warn"
        summary = (
            f"{_rows(n)} flagged; {len(unexpected):,} of them neither declared unused, "
            "unreachable, past the tokenizer nor the pad: "
            f"{_named(named, len(unexpected))}"
        )
    else:
        named = []
        status = "pass"
        summary = (
            f"{_rows(n)} flagged, all declared unused, unreachable, past the tokenizer or the pad"
            if n
            else "no row flagged"
        )
    return UndertrainedCheck("undertrained", status, summary, n, n - len(unexpected), named, top)
