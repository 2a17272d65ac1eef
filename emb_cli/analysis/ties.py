"""emb tie: is the LM head the input embedding? Evidence from the config, the stored
tensors, safetensors metadata, a streamed comparison, or (built tables) PyTorch itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from emb_cli.analysis.common import SourceSummary, summarize
from emb_cli.sources.base import TableSource, check_ids, rows_per_chunk
from emb_cli.sources.config.spec import states_config
from emb_cli.sources.roles import ROLE_HEAD, classify

if TYPE_CHECKING:
    from emb_cli.sources.base import TensorRef

Verdict = Literal[
    "tied", "tied-duplicated", "untied", "untied-identical", "no-head", "diverged", "missing-head"
]
# Whether each verdict passes (exit 0) or fails the check (exit 1).
VERDICTS_OK: dict[Verdict, bool] = {
    "tied": True,
    "tied-duplicated": True,
    "untied": True,
    "untied-identical": True,  # suspicious, reported, not a failure
    "no-head": True,
    "diverged": False,
    "missing-head": False,
}
_BASE_MODEL_SUFFIXES = ("Model", "Encoder")
_HEAD_ARCH_MARKERS = (
    "ForCausalLM",
    "LMHead",
    "ForMaskedLM",
    "ForConditionalGeneration",
    "ForPreTraining",
)


@dataclass(frozen=True)
class Comparison:
    shape_equal: bool
    bitwise_equal: bool | None
    max_abs_diff: float | None
    differing_rows: int | None
    compared_rows: int
    stopped_early: bool  # differences found; the rest was not read (pass --all-rows)


@dataclass(frozen=True)
class TorchTie:
    """What PyTorch shows for a built table with an nn.Linear head."""

    same_object: bool  # lm_head.weight is embed.weight
    same_storage: bool
    logits_shape: list[int]  # (1, T, V)
    grad_accumulated: bool  # the shared grad == grad from the embedding use + from the head use
    grad_max_abs_error: float


@dataclass(frozen=True)
class TieReport:
    source: SourceSummary
    verdict: Verdict
    ok: bool
    config_tied: bool | None
    config_tied_source: str | None
    embedding_tensor: str | None
    head_tensor: str | None
    metadata_pointers: dict[str, str]  # safetensors `save_model`: dropped name -> kept name
    comparison: Comparison | None
    wasted_bytes: int
    torch: TorchTie | None
    evidence: list[str] = field(default_factory=list)


def _compare(a: TensorRef, b: TensorRef, all_rows: bool) -> Comparison:
    import numpy as np

    if tuple(a.shape) != tuple(b.shape):
        return Comparison(False, None, None, None, 0, False)
    n = rows_per_chunk(a.shape[1], max(1, a.nbytes // max(1, a.shape[0] * a.shape[1])))
    diff_rows, max_diff, compared, bitwise = 0, 0.0, 0, True
    same_dtype = a.dtype == b.dtype
    # Quantized tables yield their stored bytes (codes, scales, biases) per row when raw.
    packed = a.scheme is not None or b.scheme is not None
    for (start, x), (_, y) in zip(
        a.iter_chunks(n, raw=True), b.iter_chunks(n, raw=True), strict=True
    ):
        compared = start + x.shape[0]
        if same_dtype and x.tobytes() == y.tobytes():
            continue
        bitwise = False
        if packed:  # the stored words and scales differ: compare the values they stand for
            x = a.read_rows(range(start, compared))
            y = b.read_rows(range(start, compared))
        xf, yf = x.astype(np.float64), y.astype(np.float64)
        d = np.abs(xf - yf)
        row_differs = (d > 0).any(axis=1) | (np.isnan(xf) != np.isnan(yf)).any(axis=1)
        diff_rows += int(row_differs.sum())
        finite = d[np.isfinite(d)]
        max_diff = max(max_diff, float(finite.max()) if finite.size else 0.0)
        if not all_rows:
            return Comparison(True, False, max_diff, diff_rows, compared, compared < a.shape[0])
    return Comparison(True, bitwise, max_diff, diff_rows, compared, False)


def _shared_storage(a: TensorRef, b: TensorRef) -> bool:
    """Whether the format says both views are one stored weight (a torch zip's single
    `data/N` record: torch.save of a tied model stores it once). Formats without storage
    sharing (safetensors refuses it) have no `storage_key`."""
    ka, kb = a.storage_key, b.storage_key
    return ka is not None and ka == kb and tuple(a.shape) == tuple(b.shape)


def has_lm_head(source: TableSource) -> bool | None:
    """False for a base model (BertModel, GPT2Model ...): its architectures name no LM-head
    class and no head tensor is stored (then `tie` says no-head, `stats` counts one table
    and `cache` lists no head); None when unknown."""
    facts = source.facts
    if facts.config is None:
        return None
    arch = _has_lm_head_arch(facts.config.architectures)
    if arch is False and any(classify(n) == ROLE_HEAD for n in facts.tensor_names):
        return True
    return arch


def _has_lm_head_arch(archs: Any) -> bool | None:
    if not isinstance(archs, list) or not archs:
        return None
    return any(any(m in str(a) for m in _HEAD_ARCH_MARKERS) for a in archs)


def verify_tie(
    source: TableSource, token_ids: Sequence[int] = (), all_rows: bool = False
) -> TieReport:
    """The evidence first (config, stored tensors, metadata, a streamed comparison), then the
    verdict from it; built tables ask PyTorch instead."""
    info = source.info
    if token_ids:  # --ids index the table: refuse, as lookup does, before torch sees them
        check_ids(token_ids, info.vocab_size)
    if info.built:
        return _built_tie(source, token_ids)
    stored = _gather_evidence(source, all_rows)
    decision = _decide(stored)
    return TieReport(
        source=summarize(info),
        verdict=decision.verdict,
        ok=VERDICTS_OK[decision.verdict],
        config_tied=stored.config_tied,
        config_tied_source=stored.config_tied_source,
        embedding_tensor=stored.embedding.name if stored.embedding is not None else None,
        head_tensor=stored.head.name if stored.head is not None else None,
        metadata_pointers=stored.pointers,
        comparison=stored.comparison,
        wasted_bytes=decision.wasted_bytes,
        torch=None,
        evidence=_evidence_lines(stored) + decision.reasons,
    )


@dataclass(frozen=True)
class StoredTie:
    """Step 1: what the checkpoint says and stores, gathered before any verdict."""

    config_tied: bool | None
    config_tied_source: str | None
    embedding: TensorRef | None
    head: TensorRef | None
    architectures: Any  # config.json's, as written
    pointers: dict[str, str]
    comparison: Comparison | None  # with a head stored
    shared_storage: bool  # the format stores one weight for both

    @property
    def embedding_is_head(self) -> bool:
        """The one stored table has a head's name: the embedding's was dropped at save."""
        return self.embedding is not None and classify(self.embedding.name) == ROLE_HEAD


def _gather_evidence(source: TableSource, all_rows: bool) -> StoredTie:
    emb = source.embedding()
    head = source.head()
    facts = source.facts  # after head(): a shard's header adds its metadata pointers
    cmp = shared = None
    if head is not None:
        assert emb is not None
        cmp, shared = _compare(emb, head, all_rows), _shared_storage(emb, head)
    return StoredTie(
        config_tied=source.info.tied,
        config_tied_source=source.info.tied_source,
        embedding=emb,
        head=head,
        architectures=facts.config.architectures if facts.config is not None else None,
        pointers=facts.metadata_pointers,
        comparison=cmp,
        shared_storage=bool(shared),
    )


def _evidence_lines(stored: StoredTie) -> list[str]:
    """What was found, in words; the verdict's reasons follow them."""
    emb, head, cmp, tied = stored.embedding, stored.head, stored.comparison, stored.config_tied
    src = stored.config_tied_source
    if src is None:
        lines = ["no config.json: the tie flag is unknown"]
    elif states_config(src):
        lines = [f"config: tied={tied} ({src})"]
    else:  # the format's own rule (GGUF: no flag, what llama.cpp does)
        lines = [f"tie: {src}"]
    if stored.pointers:
        lines.append(
            "safetensors metadata back-pointers (dropped -> kept): "
            + ", ".join(f"{k} -> {v}" for k, v in stored.pointers.items())
        )
    if head is None:
        if emb is not None and stored.embedding_is_head:
            lines.append(
                f"one stored tensor serves both: {emb.name} "
                "(the embedding's name was dropped at save)"
            )
        else:
            lines.append("no LM head tensor stored")
        return lines
    assert emb is not None and cmp is not None
    lines.append(f"head tensor stored: {head.name} {list(head.shape)} {head.dtype}")
    if not cmp.shape_equal:
        lines.append(f"shapes differ: {list(emb.shape)} vs {list(head.shape)}")
    elif cmp.bitwise_equal and emb.scheme is not None:
        lines.append(
            "embedding and head are bitwise equal: the same stored words, scales and biases"
        )
    elif cmp.bitwise_equal:
        lines.append("embedding and head are bitwise equal")
    else:
        lines.append(
            f"values differ: {cmp.differing_rows} rows"
            f"{' at least (stopped at the first differing block)' if cmp.stopped_early else ''}"
            ", "
            f"max |diff| {cmp.max_abs_diff:.4g}"
        )
    return lines


@dataclass(frozen=True)
class Decision:
    """Step 2: the verdict, the reasons for it, and the bytes a duplicate head wastes."""

    verdict: Verdict
    reasons: list[str]
    wasted_bytes: int = 0


def _decide(stored: StoredTie) -> Decision:
    tied, head, cmp = stored.config_tied, stored.head, stored.comparison
    if head is None or cmp is None:
        return _decide_without_head(stored)
    if stored.shared_storage:
        reasons = ["one storage for both in the file: the weight is stored once"]
        if tied is False:
            reasons.append("the config says untied, but the model was tied when saved")
        return Decision("tied", reasons)
    if cmp.bitwise_equal and tied is False:
        return Decision(
            "untied-identical", ["untied by config yet identical: copied at save or never trained?"]
        )
    if cmp.bitwise_equal:
        wasted = head.nbytes
        reasons = [f"the duplicate head wastes {wasted:,} bytes"]
        if tied is None:
            reasons.insert(0, "no flag states a tie, but the stored head is a copy of the table")
        return Decision("tied-duplicated", reasons, wasted)
    if tied:
        return Decision(
            "diverged", ["config ties them but the values differ: transformers will refuse to tie"]
        )
    return Decision("untied", [])


def _decide_without_head(stored: StoredTie) -> Decision:
    tied, archs = stored.config_tied, stored.architectures
    src = stored.config_tied_source
    how = "transformers re-ties it at load" if src is None or states_config(src) else src
    re_tied = Decision("tied", [f"the head is the embedding: {how}"])
    if stored.embedding_is_head and tied is not False:
        return re_tied
    if _has_lm_head_arch(archs) is False:
        why = f"architectures {archs}: a base model without an LM head; nothing to tie"
        return Decision("no-head", [why])
    if tied is False:
        return Decision(
            "missing-head", ["config says untied, so the head should be stored and is not"]
        )
    if tied is None:
        # a bare table: nothing says a head exists, so nothing says it is tied
        why = "no config" if src is None else f"no tie flag ({src})"
        return Decision("no-head", [f"{why} and no head tensor: a bare table, nothing to tie"])
    return re_tied


def _built_tie(source: TableSource, token_ids: Sequence[int]) -> TieReport:
    """A built table: what PyTorch shows (_torch_tie), then the verdict from it."""
    info = source.info
    t = _torch_tie(source, token_ids)
    evidence = [
        f"lm_head.weight is embed.weight: {t.same_object}",
        f"one storage: {t.same_storage} (data_ptr)",
        f"logits shape {tuple(t.logits_shape)} from embed -> "
        f"nn.Linear({info.embed_dim}, {info.vocab_size}, bias=False)",
    ]
    verdict: Verdict
    if info.tied:
        evidence.append(
            "one .grad holds both uses: embedding lookup + output projection "
            f"(max |error| vs the two computed apart: {t.grad_max_abs_error:.3g})"
        )
        tied = t.same_object and t.same_storage and t.grad_accumulated
        verdict = "tied" if tied else "diverged"
    else:
        evidence.append("--no-tie: the head has its own weight and its own gradient")
        verdict = "untied" if not t.same_storage else "diverged"
    return TieReport(
        source=summarize(info),
        verdict=verdict,
        ok=VERDICTS_OK[verdict],
        config_tied=info.tied,
        config_tied_source=info.tied_source,
        embedding_tensor=None,
        head_tensor=None,
        metadata_pointers={},
        comparison=None,
        wasted_bytes=0,
        torch=t,
        evidence=evidence,
    )


def _torch_tie(source: TableSource, token_ids: Sequence[int]) -> TorchTie:
    """embed -> nn.Linear head, tied as PreTrainedModel.tie_weights() ties it (or not), one
    backward pass; then the same two uses on separate copies, whose grads must add up."""
    import torch

    from emb_cli.sources.built import ensure_buildable

    info = source.info
    v, d = info.vocab_size, info.embed_dim
    ensure_buildable(v, d, copies=4)  # weight, its grad, and two untied copies for the check
    ids = list(token_ids) or [t for t in (73, 786, 2934) if t < v] or [0]
    x = torch.tensor([ids])
    weight = source.weight().float()
    embed = torch.nn.Embedding.from_pretrained(
        weight.clone(), freeze=False, padding_idx=info.pad_token_id
    )  # type: ignore[no-untyped-call]
    head = torch.nn.Linear(d, v, bias=False)
    if info.tied:
        head.weight = embed.weight  # what PreTrainedModel.tie_weights() does
    logits = head(embed(x))
    gen = torch.Generator().manual_seed(0)
    r = torch.randn(logits.shape, generator=gen)
    (logits * r).sum().backward()
    assert embed.weight.grad is not None
    # The same two uses on separate copies: their grads must add up to the shared one.
    e2 = torch.nn.Embedding.from_pretrained(
        weight.clone(), freeze=False, padding_idx=info.pad_token_id
    )  # type: ignore[no-untyped-call]
    h2 = torch.nn.Linear(d, v, bias=False)
    h2.weight = torch.nn.Parameter(weight.clone() if info.tied else head.weight.detach().clone())
    (h2(e2(x)) * r).sum().backward()
    assert e2.weight.grad is not None and h2.weight.grad is not None
    expected = e2.weight.grad + (h2.weight.grad if info.tied else 0)
    err = float((embed.weight.grad - expected).abs().max())
    return TorchTie(
        same_object=head.weight is embed.weight,
        same_storage=head.weight.data_ptr() == embed.weight.data_ptr(),
        logits_shape=list(logits.shape),
        grad_accumulated=bool(info.tied and err <= 1e-5 * max(1.0, float(expected.abs().max()))),
        grad_max_abs_error=err,
    )
