"""merge_ids: the merges' ids found from the file's bytes are the ones the string path finds,
on every vendored BPE vocabulary, and a hash collision never gives a wrong id."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from emb_cli.errors import InputError
from emb_cli.sources.gguf.header import read_gguf_header
from emb_cli.sources.gguf.merge_ids import (
    _from_bytes,
    _joined,
    _PrefixHash,
    bpe_merge_ids,
    bpe_pairs,
)
from tests.helpers.gguf_vocab import DATA, NAMES, read_meta

WITH_MERGES = [n for n in NAMES if "tokenizer.ggml.merges" in read_meta(n)]


def by_strings(merges: list[str], tokens: list[str]) -> np.ndarray:
    ids = dict(zip(tokens, range(len(tokens)), strict=True))
    pairs = bpe_pairs(merges, ids, "m.gguf")
    return np.array([[ids[a], ids[b], ids[a + b]] for a, b in pairs], dtype=np.int32).reshape(-1, 3)


def table(merges: Any, tokens: list[str]) -> np.ndarray:
    return bpe_merge_ids(merges, tokens, dict(zip(tokens, range(len(tokens)), strict=True)), "m")


def test_every_bpe_file_is_covered() -> None:
    assert len(WITH_MERGES) == 12  # the 15 sets less llama-spm, phi-3, bert-bge


@pytest.mark.parametrize("name", WITH_MERGES)
def test_the_files_bytes_give_the_string_paths_ids(name: str) -> None:
    header = read_gguf_header(DATA / f"ggml-vocab-{name}.gguf")
    merges = header.kv["tokenizer.ggml.merges"]
    tokens = read_meta(name)["tokenizer.ggml.tokens"]
    want = by_strings(read_meta(name)["tokenizer.ggml.merges"], tokens)
    # the fast path takes every real vocabulary, from the file's array or from a list
    assert _from_bytes(merges, tokens) is not None
    assert _from_bytes(read_meta(name)["tokenizer.ggml.merges"], tokens) is not None
    np.testing.assert_array_equal(table(merges, tokens), want)
    np.testing.assert_array_equal(table(read_meta(name)["tokenizer.ggml.merges"], tokens), want)


TOKENS = ["a", "b", "c", "ab", "bc", "abc", "ĠĠ"]


@pytest.mark.parametrize(
    ("merges", "want"),
    [
        (["a b", "ab c"], [[0, 1, 3], [3, 2, 5]]),
        # a pair written twice keeps its first rank
        (["b c", "a b", "b c", "ab c"], [[1, 2, 4], [0, 1, 3], [3, 2, 5]]),
        # no space: ignored; a half that is no token: left out, the others keep their order
        (["ab", "a b", "xy yz", "ab c"], [[0, 1, 3], [3, 2, 5]]),
        # two spaces: split at the first after the first character, as llama.cpp
        (["a  b"], []),
        (["Ġ Ġ", "a b"], [[0, 1, 3]]),
    ],
)
def test_merges_the_fast_path_leaves_to_the_strings(
    merges: list[str], want: list[list[int]]
) -> None:
    tokens = [*TOKENS, "Ġ"] if "Ġ Ġ" in merges else TOKENS
    got = table(merges, tokens)
    if "Ġ Ġ" in merges:
        want = [[7, 7, 6], *want]
    np.testing.assert_array_equal(got, np.array(want, dtype=np.int32).reshape(-1, 3))
    np.testing.assert_array_equal(got, by_strings(merges, tokens))


def test_a_join_that_is_no_token_is_refused() -> None:
    with pytest.raises(InputError, match="makes 'ac', which is no token"):
        table(["a c"], TOKENS)


def thue_morse(n: int, letters: str) -> str:
    return "".join(letters[bin(i).count("1") % 2] for i in range(n))


def test_a_hash_collision_never_gives_a_wrong_id() -> None:
    # Thue-Morse strings and their complements collide mod 2**64 for every odd base: the
    # join of this merge hashes to the token `same`, which it is not
    same, other = thue_morse(1024, "ab"), thue_morse(1024, "ba")
    tokens = ["a", "b", same, other[:512], other[512:]]
    found = _joined([same, other])
    assert found is not None
    hashes = _PrefixHash(found.buf).at(found.starts, found.lengths)
    assert hashes[0] == hashes[1]
    with pytest.raises(InputError, match="which is no token"):
        table([f"{other[:512]} {other[512:]}"], tokens)
    # with `other` a token too, the two tokens share a hash: the strings give the ids
    both = [*tokens, other]
    np.testing.assert_array_equal(table([f"{other[:512]} {other[512:]}"], both), [[3, 4, 5]])
