"""Tokenizer evidence of unused rows: declared names and types, Magikarp's unreachable test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from emb_cli.analysis.unused_tokens import evidence, is_declared_unused, unreachable


@pytest.mark.parametrize(
    "token",
    [
        "[unused0]",  # BERT
        "[unused993]",
        "<unused12>",  # Gemma
        "<|reserved_special_token_7|>",  # Llama 3
        "<|unused_token_3|>",  # Yi
        "<madeupword0>",  # XGLM
        "<｜place▁holder▁no▁12｜>",  # DeepSeek V3
    ],
)
def test_declared_unused(token: str) -> None:
    assert is_declared_unused(token)


@pytest.mark.parametrize(
    "token",
    ["unused", "[unused]", "[UNK]", "<|endoftext|>", "reserved3", "▁unused1", "[CLS]", "<s>", ""],
)
def test_not_declared_unused(token: str) -> None:
    assert not is_declared_unused(token)


def metaspace_bpe() -> Any:
    """A SentencePiece-style tokenizer: a leading space is added to the text, so a piece
    without "▁" comes back as "▁piece" alone, and is reached only after other text."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab = {
        "<unk>": 0,
        "▁": 1,
        "a": 2,
        "b": 3,
        "«": 4,
        "▁«": 5,
        "ab": 6,
        "▁ab": 7,
        "ba": 8,
        "c": 9,
    }
    merges = [("a", "b"), ("▁", "«"), ("▁", "ab")]
    tok = Tokenizer(models.BPE(vocab, merges, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="always")
    tok.decoder = decoders.Metaspace(prepend_scheme="always")
    tok.add_special_tokens(["<unk>"])
    return tok


def test_unreachable_after_a_prefix() -> None:
    tok = metaspace_bpe()
    assert tok.encode("ab", add_special_tokens=False).ids == [7]  # "ab" alone is "▁ab"
    assert tok.encode("«ab", add_special_tokens=False).ids == [5, 6]  # after «, "ab" itself
    # "ba": no merge makes it, whatever the text. <unk> is special: not tested.
    assert unreachable(tok, 10) == ([8], 9, frozenset({0}))


def test_token_types() -> None:
    tok = metaspace_bpe()
    types = ["control", "normal", "normal", "normal", "normal", "normal", "normal", "normal"]
    types += ["byte", "unused"]
    ev = evidence(tok, types)
    assert ev is not None
    assert ev.declared_unused == [9] and ev.unreachable == [] and ev.tested == 8
    # Types alone (a GGUF file without tokenizer.json): declared unused, nothing tested.
    ev = evidence(None, types)
    assert ev is not None and ev.declared_unused == [9] and ev.tested == 0
    assert ev.special == frozenset({0}) and ev.vocab_size == 10
    assert evidence(None, None) is None


def test_minilm(minilm_dir: Path) -> None:
    """BERT's [unusedN] are declared and unreachable; so is "...", which the pre-tokenizer
    splits into three "."; the ## pieces and the specials are not put to the test."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(minilm_dir / "tokenizer.json"))
    vocab = tok.get_vocab(with_added_tokens=True)
    unused = sorted(i for t, i in vocab.items() if t.startswith("[unused"))
    assert len(unused) == 994
    special = {i for i, t in tok.get_added_tokens_decoder().items() if t.special}
    tested = [i for t, i in vocab.items() if not t.startswith("##") and i not in special]
    ev = evidence(tok)
    assert ev is not None and ev.vocab_size == 30522
    assert ev.declared_unused == unused
    assert ev.unreachable == sorted([*unused, vocab["..."]])
    assert ev.tested == len(tested) and ev.special == frozenset(special)


def test_reference_from_token_types() -> None:
    """A built table (no tokenizer) with GGUF-style types: the declared rows are the reference."""
    from emb_cli.analysis.undertrained import undertrained_rows
    from emb_cli.sources.config.spec import Overrides
    from emb_cli.sources.resolve import SourceArgs, open_source

    src = open_source(SourceArgs(overrides=Overrides(vocab_size=400, embed_dim=64, pad="none")))
    types = ["normal"] * 400
    for i in (7, 8, 9):
        types[i] = "unused"
    r = undertrained_rows(src, top=5, token_types=types).report
    assert r.reference_source == "evidence" and r.reference_ids == [7, 8, 9]
    assert r.declared_unused_rows == 3 and r.unreachable_rows is None
    assert sorted(c.id for c in r.reference_candidates) == [7, 8, 9]
    assert all(c.declared_unused for c in r.reference_candidates)
    assert not np.isin([c.id for c in r.candidates], [7, 8, 9]).any()
