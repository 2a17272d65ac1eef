"""emb undertrained on a tiny Llama trained here with planted untrained rows, on the real
all-MiniLM-L6-v2, and its numbers against torch.linalg.svd."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
    r = emb.json("undertrained", "--from", planted, "--top", "30")
    assert r["cosine_matrix"] == "lm_head.weight" and r["cosine_matrix_role"] == "head"
    # Row 0 too: Llama's init zeroes the pad row (pad_token_id=0) and it never trains.
    assert r["zero_rows"] == 4 and r["zero_row_ids"] == [0, *ZERO]
    assert r["tokenizer_vocab_size"] == WORDS
    assert r["beyond_tokenizer_rows"] == VOCAB - WORDS
    assert r["beyond_tokenizer_ids"] == list(range(WORDS, VOCAB))
    top = {c["id"]: c for c in r["candidates"]}
    assert set(NEVER_SEEN + ZERO + list(range(WORDS, VOCAB))) <= set(top)
    assert not set(TRAINED_SAMPLE) & set(top)
    for i in ZERO:
        assert top[i]["zero"] and top[i]["score"] == 1.0 and top[i]["norm"] == 0.0
    for i in range(WORDS, VOCAB):
        assert top[i]["beyond_tokenizer"] and top[i]["token"] is None
    assert top[100]["token"] == "w100" and top[100]["decoded"] == "w100"
    assert not top[100]["zero"] and not top[100]["beyond_tokenizer"]
    assert r["reference_source"] == "seeded"
    assert set(ZERO + list(range(WORDS, VOCAB))) <= set(r["reference_ids"])
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
    by_id = {c["id"]: c for c in r["candidates"]}
    assert len(by_id) == VOCAB
    assert [i for i in by_id if by_id[i]["special"]] == sorted(
        i for i in range(3) if by_id[i]["special"]
    )
    assert {i for i in by_id if by_id[i]["special"]} == {0, 1, 2}
    assert {i for i in by_id if by_id[i]["in_chat_template"]} == {1}


def test_numbers_match_torch_svd(emb: Any, write_safetensors: Callable[..., Path]) -> None:
    import numpy as np
    import torch

    g = torch.Generator().manual_seed(5)
    emb_t = torch.randn(64, 16, generator=g)
    head = torch.randn(64, 16, generator=g) + 3 * torch.randn(16, generator=g)  # a shared direction
    emb_t[7] = 0
    path = write_safetensors({"model.embed_tokens.weight": emb_t, "lm_head.weight": head})
    r = emb.json("undertrained", "--from", path, "--reference", "3,9,12", "--top", "64")
    got = {c["id"]: c for c in r["candidates"]}
    assert len(got) == 64 and r["zero_row_ids"] == [7]

    e = emb_t.double().numpy()
    norms = np.linalg.norm(e, axis=1)
    med = np.median(norms)
    mad = np.median(np.abs(norms - med))
    z = (norms - med) / (1.4826 * mad)
    u = head.double()
    vt = torch.linalg.svd(u - u.mean(0), full_matrices=False).Vh[0]
    proj = (u - torch.outer(u @ vt, vt)).numpy()
    ref = proj[[3, 9, 12]].mean(0)
    cos = proj @ ref / (np.linalg.norm(proj, axis=1) * np.linalg.norm(ref))
    for i in range(64):
        assert got[i]["norm"] == pytest.approx(norms[i], rel=1e-12)
        assert got[i]["robust_z"] == pytest.approx(z[i], rel=1e-9, abs=1e-12)
        assert got[i]["cosine"] == pytest.approx(cos[i], rel=1e-6, abs=1e-6)
        want = 1.0 if i == 7 else 0.5 * max(cos[i], 0) + 0.5 * min(max(-z[i], 0), 4) / 4
        assert got[i]["score"] == pytest.approx(want, rel=1e-6, abs=1e-6)
    assert r["norm_median"] == pytest.approx(med, rel=1e-12)
    assert [c["score"] for c in r["candidates"]] == sorted(
        (c["score"] for c in r["candidates"]), reverse=True
    )


def test_minilm_unused_tokens_rank_high(emb: Any, minilm_dir: Path) -> None:
    r = emb.json("undertrained", "--from", minilm_dir)
    assert (
        r["cosine_matrix_role"] == "input"
        and r["cosine_matrix"] == "embeddings.word_embeddings.weight"
    )
    assert (
        r["zero_rows"] == 0
        and r["beyond_tokenizer_rows"] == 0
        and r["tokenizer_vocab_size"] == 30522
    )
    tokens = [c["token"] for c in r["candidates"]]
    assert len(tokens) == 20
    # Measured: 14 of the top 20 are [unusedN], the rest CJK word pieces (##野, ##戦 ...).
    assert sum(t.startswith("[unused") for t in tokens) >= 10
    assert all(c["cosine"] > 0.85 and c["robust_z"] < -3 for c in r["candidates"])


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
    "reference_source",
    "reference_ids",
    "reference_detail",
    "pc_iterations",
    "pc_explained",
    "flag_score",
    "flagged",
    "candidates",
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
]


def test_json_keys_and_check(emb: Any, planted: Path) -> None:
    r = emb.json("undertrained", "--vocab", "1000", "--dim", "256", "--top", "3")
    assert list(r) == KEYS and list(r["candidates"][0]) == CANDIDATE_KEYS
    assert r["cosine_matrix_role"] == "input" and r["tokenizer_vocab_size"] is None
    assert r["candidates"][0]["token"] is None
    # A freshly drawn Gaussian table: nothing under-trained relative to itself except the pad row.
    assert r["zero_row_ids"] == [0] and r["flagged"] == 1
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
