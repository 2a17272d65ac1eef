"""emb undertrained on a tiny Llama trained here with planted untrained rows, on the real
all-MiniLM-L6-v2 (against a numpy eigh reference), and its numbers against torch.linalg.svd."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.models import tiny_llama

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # build from configs only; never fetch weights

VOCAB, DIM, WORDS = 512, 64, 500  # the tokenizer knows 500 ids: rows 500..511 are padding
NEVER_SEEN = [100, 200, 300, 400, 450]  # never in a training batch: they keep their init
ZERO = [10, 20, 30]  # zeroed in both the table and the head after training
SPECIAL = ["<pad>", "<s>", "</s>"]  # ids 0, 1, 2
TRAINED_SAMPLE = [3, 50, 51, 150, 250, 350, 499]


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel

    model = tiny_llama(VOCAB, DIM, tied=False)
    allowed = torch.tensor([i for i in range(3, WORDS) if i not in NEVER_SEEN + ZERO])
    # Adam, no weight decay: the input rows of ids never in a batch keep their init exactly.
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(1)
    for _ in range(40):
        batch = allowed[torch.randint(len(allowed), (8, 16), generator=g)]
        loss = model(input_ids=batch, labels=batch).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        model.model.embed_tokens.weight[ZERO] = 0
        model.lm_head.weight[ZERO] = 0
    path = tmp_path_factory.mktemp("undertrained") / "llama"
    model.save_pretrained(path)
    vocab = {t: i for i, t in enumerate(SPECIAL)} | {f"w{i}": i for i in range(3, WORDS)}
    tok = Tokenizer(WordLevel(vocab, unk_token="<pad>"))
    tok.add_special_tokens(SPECIAL)
    tok.save(str(path / "tokenizer.json"))
    (path / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "chat_template": "{{ '<s>' }}{% for m in messages %}{{ m['content'] }}{% endfor %}",
                "added_tokens_decoder": {
                    str(i): {"content": t, "special": True} for i, t in enumerate(SPECIAL)
                },
            }
        )
    )
    return path


def test_planted_rows_rank_first(emb: Any, planted: Path) -> None:
    r = emb.json("undertrained", "--from", planted, "--top", "11")
    assert r["cosine_matrix"] == "lm_head.weight" and r["cosine_matrix_role"] == "head"
    # Row 0 too: Llama's init zeroes the pad row (pad_token_id=0) and it never trains.
    assert r["zero_rows"] == 4 and r["zero_row_ids"] == [0, *ZERO]
    assert r["tokenizer_vocab_size"] == WORDS
    assert r["beyond_tokenizer_rows"] == VOCAB - WORDS
    assert r["beyond_tokenizer_ids"] == list(range(WORDS, VOCAB))
    # The WordLevel tokenizer produces every one of its tokens: the evidence is the padding rows.
    assert r["unreachable_rows"] == 0 and r["unreachable_tested"] == WORDS - len(SPECIAL)
    assert r["reference_source"] == "evidence"
    assert r["reference_ids"] == list(range(WORDS, VOCAB)) and r["reference_rows"] == VOCAB - WORDS
    top = {c["id"]: c for c in r["candidates"]}
    ref = {c["id"]: c for c in r["reference_candidates"]}
    assert len(ref) == 11 and set(ref) < set(range(WORDS, VOCAB))
    assert all(c["in_reference"] for c in ref.values())
    assert not any(c["in_reference"] for c in top.values())
    # Outside the reference: the zero rows, then the never-seen rows, found by cosine and norm.
    assert [c["id"] for c in r["candidates"][:4]] == [0, *ZERO]
    # Then the specials <s> and </s>, never in a training batch either; trained rows after.
    assert {c["id"] for c in r["candidates"][4:11]} == {*NEVER_SEEN, 1, 2}
    assert not set(TRAINED_SAMPLE) & set(top)
    for i in ZERO:
        assert top[i]["zero"] and top[i]["score"] == 1.0 and top[i]["norm"] == 0.0
    for c in ref.values():
        assert c["beyond_tokenizer"] and c["token"] is None
    for i in NEVER_SEEN:
        assert top[i]["cosine"] > 0.7 and top[i]["robust_z"] < -4
    assert top[100]["token"] == "w100" and top[100]["decoded"] == "w100"
    assert not top[100]["zero"] and not top[100]["beyond_tokenizer"]
    assert r["pc_method"] == "exact" and r["pc_removed"] and r["pc_gap"] > 0.5
    assert r["flagged"] >= len(NEVER_SEEN + ZERO) + VOCAB - WORDS


def test_reference_given_and_special_tokens(emb: Any, planted: Path) -> None:
    # Only padding rows as reference: the never-seen rows must be found by cosine alone.
    ref = ",".join(map(str, range(WORDS, VOCAB)))
    r = emb.json("undertrained", "--from", planted, "--reference", ref, "--top", "25")
    assert r["reference_source"] == "given" and r["reference_ids"] == list(range(WORDS, VOCAB))
    by_id = {c["id"]: c for c in r["candidates"]}
    assert set(NEVER_SEEN) <= set(by_id)
    for i in NEVER_SEEN:
        assert by_id[i]["cosine"] > 0.5 and not by_id[i]["in_reference"]
    r = emb.json("undertrained", "--from", planted, "--reference", "1 2", "--top", str(VOCAB))
    assert [c["id"] for c in r["reference_candidates"]] in ([1, 2], [2, 1])
    by_id = {c["id"]: c for c in r["candidates"] + r["reference_candidates"]}
    assert len(r["candidates"]) == VOCAB - 2 and len(by_id) == VOCAB
    assert {i for i in by_id if by_id[i]["special"]} == {0, 1, 2}
    assert {i for i in by_id if by_id[i]["in_chat_template"]} == {1}


def _magikarp_reference(
    u: Any, ref: list[int], remove: bool
) -> Any:  # cosines of U's rows to the mean of U[ref], first PC of centred U removed
    import numpy as np
    import torch

    t = torch.from_numpy(np.asarray(u, dtype=np.float64))
    if remove:
        vt = torch.linalg.svd(t - t.mean(0), full_matrices=False).Vh[0]
        t = t - torch.outer(t @ vt, vt)
    proj = t.numpy()
    r = proj[ref].mean(0)
    with np.errstate(all="ignore"):
        return proj @ r / (np.linalg.norm(proj, axis=1) * np.linalg.norm(r))


@pytest.mark.parametrize("dominant", [True, False])
def test_numbers_match_torch_svd(
    emb: Any, write_safetensors: Callable[..., Path], dominant: bool
) -> None:
    """Norms, robust z, cosines and scores against torch's SVD; the first PC is removed only
    when it dominates (gap >= 10%), and the report says which."""
    import numpy as np
    import torch

    g = torch.Generator().manual_seed(5)
    emb_t = torch.randn(64, 48, generator=g)
    head = torch.randn(64, 48, generator=g) + 3 * torch.randn(48, generator=g)  # a common offset
    if dominant:  # a direction of large variance: the first PC
        head += torch.outer(4 * torch.randn(64, generator=g), torch.randn(48, generator=g))
    emb_t[7] = 0
    path = write_safetensors({"model.embed_tokens.weight": emb_t, "lm_head.weight": head})
    r = emb.json("undertrained", "--from", path, "--reference", "3,9,12", "--top", "64")
    got = {c["id"]: c for c in r["candidates"] + r["reference_candidates"]}
    assert len(got) == 64 and r["zero_row_ids"] == [7]
    ev = np.linalg.eigvalsh(np.cov(head.double().numpy().T, bias=True))
    gap = 1 - ev[-2] / ev[-1]
    assert r["pc_method"] == "exact" and r["pc_gap"] == pytest.approx(gap, rel=1e-6)
    assert r["pc_explained"] == pytest.approx(ev[-1] / ev.sum(), rel=1e-6)
    assert r["pc_removed"] is dominant and bool(gap >= 0.1) is dominant
    assert any("no dominant direction" in n for n in r["notes"]) is not dominant

    e = emb_t.double().numpy()
    norms = np.linalg.norm(e, axis=1)
    med = np.median(norms)
    mad = np.median(np.abs(norms - med))
    z = (norms - med) / (1.4826 * mad)
    cos = _magikarp_reference(head.double().numpy(), [3, 9, 12], remove=dominant)
    for i in range(64):
        assert got[i]["norm"] == pytest.approx(norms[i], rel=1e-12)
        assert got[i]["robust_z"] == pytest.approx(z[i], rel=1e-9, abs=1e-12)
        assert got[i]["cosine"] == pytest.approx(cos[i], rel=1e-6, abs=1e-6)
        want = 1.0 if i == 7 else 0.5 * max(cos[i], 0) + 0.5 * min(max(-z[i], 0), 4) / 4
        assert got[i]["score"] == pytest.approx(want, rel=1e-6, abs=1e-6)
    assert r["norm_median"] == pytest.approx(med, rel=1e-12)
    scores = [c["score"] for c in r["candidates"]]
    assert scores == sorted(scores, reverse=True)


def _minilm_expected(minilm_dir: Path, ref: list[int]) -> tuple[Any, Any, Any]:
    """(scores, flagged mask, robust z) computed here in float64 with numpy's eigh."""
    import numpy as np
    from safetensors.numpy import load_file

    x = load_file(str(minilm_dir / "model.safetensors"))[
        "embeddings.word_embeddings.weight"
    ].astype(np.float64)
    norms = np.linalg.norm(x, axis=1)
    med = np.median(norms)
    z = (norms - med) / (1.4826 * np.median(np.abs(norms - med)))
    xc = x - x.mean(0)
    lam, vecs = np.linalg.eigh(xc.T @ xc)
    assert 1 - lam[-2] / lam[-1] > 0.1  # MiniLM's first PC stands out: it is removed
    v = vecs[:, -1]
    proj = x - np.outer(x @ v, v)
    r = proj[ref].mean(0)
    cos = proj @ r / (np.linalg.norm(proj, axis=1) * np.linalg.norm(r))
    score = 0.5 * np.clip(cos, 0, 1) + 0.5 * np.clip(-z, 0, 4) / 4
    return score, score >= 0.75, z


@pytest.mark.parametrize("method", ["exact", "randomized"])
def test_minilm_matches_numpy_eigh(minilm_dir: Path, method: str) -> None:
    """On the real MiniLM: the reference comes from the tokenizer ([unusedN] and the tokens it
    cannot produce), and the flagged set and top candidates, inside and outside the reference,
    are those of an exact eigendecomposition, with either way of finding the component."""
    import numpy as np

    from emb_cli.analysis.pca import plan
    from emb_cli.analysis.undertrained import undertrained_rows
    from emb_cli.sources.resolve import SourceArgs, open_source

    p = plan(30522, 384, method)  # randomized: a block of 183, as for a table too big for eigh
    r = undertrained_rows(open_source(SourceArgs(from_=minilm_dir)), top=20, pc_plan=p).report
    assert r.cosine_matrix_role == "input" and r.tokenizer_vocab_size == 30522
    assert r.zero_rows == 0 and r.beyond_tokenizer_rows == 0 and r.nonfinite_rows == 0
    unused = list(range(1, 100)) + list(range(104, 999))  # [unused0..98], [unused99..993]
    assert r.declared_unused_rows == 994 and r.declared_unused_ids == unused[:100]
    assert r.unreachable_rows == 995  # the [unusedN] and "...", split by the pre-tokenizer
    assert r.reference_source == "evidence" and r.reference_rows == 995
    ref = sorted([*unused, 2133])
    score, flagged, z = _minilm_expected(minilm_dir, ref)
    assert r.flagged == int(flagged.sum())
    in_ref = np.zeros(score.size, dtype=bool)
    in_ref[ref] = True
    order = np.argsort(-score, kind="stable")
    assert [c.id for c in r.candidates] == [int(i) for i in order[~in_ref[order]][:20]]
    assert [c.id for c in r.reference_candidates] == [int(i) for i in order[in_ref[order]][:20]]
    for c in r.candidates + r.reference_candidates:
        assert c.score == pytest.approx(score[c.id], abs=1e-5)
        assert c.robust_z == pytest.approx(z[c.id], rel=1e-9)
    assert all(c.token.startswith("[unused") for c in r.reference_candidates if c.token)
    assert not any(c.in_reference for c in r.candidates)
    assert r.pc_removed and r.pc_method == method


@pytest.fixture(scope="module")
def planted_direction(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """8000 x 512: every row has a large random multiple of one direction u (the dominant
    first PC, 25x any other's variance); rows 100..159 are "untrained": small, and sharing a
    drift d, the Magikarp signature."""
    import torch
    from safetensors.torch import save_file

    rng = np.random.default_rng(3)
    n, dim = 8000, 512
    u = rng.standard_normal(dim)
    u /= np.linalg.norm(u)
    x = rng.standard_normal((n, dim)) * 0.02 + np.outer(rng.standard_normal(n) * 0.1, u)
    drift = rng.standard_normal(dim) * 0.003
    x[100:160] = (
        rng.standard_normal((60, dim)) * 0.008 + drift + np.outer(rng.standard_normal(60) * 0.1, u)
    )
    x = x.astype(np.float32)
    path = tmp_path_factory.mktemp("planted_direction") / "model.safetensors"
    save_file({"model.embed_tokens.weight": torch.from_numpy(x)}, str(path))
    return path, x


def test_planted_direction_randomized_equals_exact(planted_direction: tuple[Path, Any]) -> None:
    """A block of 8 in 512 dimensions, 3 passes: the same flagged set and candidates, in the
    same order, as numpy's eigh, and the planted untrained rows found by cosine."""
    from emb_cli.analysis.pca import Plan, plan
    from emb_cli.analysis.undertrained import undertrained_rows
    from emb_cli.sources.resolve import SourceArgs, open_source

    path, x = planted_direction
    ref = list(range(100, 130))
    src = open_source(SourceArgs(from_=path))
    fast = undertrained_rows(src, top=40, reference=ref, pc_plan=Plan("randomized", 8, 3)).report
    exact = undertrained_rows(src, top=40, reference=ref, pc_plan=plan(8000, 512, "exact")).report
    assert fast.pc_method == "randomized" and exact.pc_method == "exact"
    assert fast.pc_removed and exact.pc_removed and fast.pc_gap > 0.9
    assert fast.pc_angle_bound < 1e-3
    # numpy, float64: eigh of the covariance, the component removed, cosines and scores.
    x64 = x.astype(np.float64)
    lam, vecs = np.linalg.eigh(np.cov(x64.T, bias=True))
    v = vecs[:, -1]
    proj = x64 - np.outer(x64 @ v, v)
    r = proj[ref].mean(0)
    cos = proj @ r / (np.linalg.norm(proj, axis=1) * np.linalg.norm(r))
    norms = np.linalg.norm(x64, axis=1)
    med = np.median(norms)
    z = (norms - med) / (1.4826 * np.median(np.abs(norms - med)))
    score = 0.5 * np.clip(cos, 0, 1) + 0.5 * np.clip(-z, 0, 4) / 4
    order = [int(i) for i in np.argsort(-score, kind="stable") if i not in ref]
    for rep in (fast, exact):
        assert rep.flagged == int((score >= 0.75).sum())
        assert [c.id for c in rep.candidates] == order[:40]
        for c in rep.candidates:
            assert c.cosine == pytest.approx(cos[c.id], abs=1e-4)
    assert {c.id for c in fast.candidates[:30]} == set(range(130, 160))


KEYS = [
    "source",
    "rows",
    "cosine_matrix",
    "cosine_matrix_role",
    "tokenizer_vocab_size",
    "norm_median",
    "norm_mad",
    "zero_rows",
    "zero_row_ids",
    "beyond_tokenizer_rows",
    "beyond_tokenizer_ids",
    "nonfinite_rows",
    "nonfinite_row_ids",
    "declared_unused_rows",
    "declared_unused_ids",
    "unreachable_rows",
    "unreachable_ids",
    "unreachable_tested",
    "reference_source",
    "reference_rows",
    "reference_ids",
    "reference_detail",
    "cosine_computed",
    "pc_method",
    "pc_passes",
    "pc_width",
    "pc_explained",
    "pc_gap",
    "pc_angle_bound",
    "pc_removed",
    "flag_score",
    "flagged",
    "candidates",
    "reference_candidates",
    "notes",
]
CANDIDATE_KEYS = [
    "id",
    "score",
    "token",
    "decoded",
    "norm",
    "norm_percentile",
    "robust_z",
    "cosine",
    "zero",
    "beyond_tokenizer",
    "special",
    "in_chat_template",
    "in_reference",
    "declared_unused",
    "unreachable",
]


def test_json_keys_and_check(emb: Any, planted: Path) -> None:
    r = emb.json("undertrained", "--vocab", "1000", "--dim", "256", "--top", "3")
    assert list(r) == KEYS and list(r["candidates"][0]) == CANDIDATE_KEYS
    assert r["cosine_matrix_role"] == "input" and r["tokenizer_vocab_size"] is None
    assert r["candidates"][0]["token"] is None
    # A freshly drawn Gaussian table: nothing under-trained relative to itself except the pad row.
    assert r["zero_row_ids"] == [0] and r["flagged"] == 1
    # No tokenizer: the lowest-norm rows are the reference, said so, and listed apart.
    assert r["reference_source"] == "lowest-norm" and r["unreachable_rows"] is None
    assert any("rank high by construction" in n for n in r["notes"])
    assert all(c["in_reference"] for c in r["reference_candidates"])
    # An isotropic table has no dominant direction: nothing is projected out.
    assert r["pc_removed"] is False and r["pc_gap"] < 0.1
    assert (
        emb("undertrained", "--vocab", "1000", "--dim", "256", "--pad", "none", "--check").exit_code
        == 0
    )
    assert emb("undertrained", "--vocab", "1000", "--dim", "256", "--check").exit_code == 1
    res = emb("undertrained", "--from", planted, "--check")
    assert res.exit_code == 1 and "flagged:" in res.stdout and "lm_head.weight" in res.stdout
    assert emb("undertrained", "--from", planted, ok=True).stderr == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--top", "0"], "--top must be at least 1"),
        (["--reference", "512"], "token id 512 is out of range"),
        (["--reference", "x"], "token id 'x' is not an integer"),
    ],
)
def test_bad_input(emb: Any, planted: Path, args: list[str], message: str) -> None:
    res = emb("undertrained", "--from", planted, *args)
    assert res.exit_code == 2 and res.stdout == ""
    assert (
        res.stderr.startswith("Error: ") and message in res.stderr and res.stderr.count("\n") == 1
    )


def test_scratch_larger_than_memory_is_refused_first(emb: Any) -> None:
    """A 400 MB table whose principal component needs far more: exit 2, before any pass."""
    from tests.helpers import assert_refused

    assert_refused(emb("undertrained", "--vocab", "1", "--dim", "100000000"), "memory", "scratch")


def test_declared_unused_rows_all_zero_are_said_so(emb: Any, tmp_path: Path) -> None:
    """Evidence that names only zero rows leaves nothing to average: the note says that,
    not that the tokenizer declares no unused token."""
    import torch
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel

    unused = list(range(3, 13))
    model = tiny_llama(64, 32, tied=True)
    with torch.no_grad():
        model.model.embed_tokens.weight[unused] = 0
    model.save_pretrained(tmp_path)
    vocab = {f"w{i}": i for i in range(64)} | {f"[unused{n}]": i for n, i in enumerate(unused)}
    for i in unused:
        del vocab[f"w{i}"]
    Tokenizer(WordLevel(vocab, unk_token="w0")).save(str(tmp_path / "tokenizer.json"))
    r = emb.json("undertrained", "--from", tmp_path)
    assert r["declared_unused_ids"] == unused and r["reference_source"] == "lowest-norm"
    (note,) = [n for n in r["notes"] if "lowest-norm rows" in n]
    assert note.startswith(
        "the 10 rows known unused (10 declared unused or reserved) are all zero or hold "
        "NaN/Inf: the reference is the 8 lowest-norm rows"
    )
    assert "declares no unused token" not in note
