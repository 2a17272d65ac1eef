"""tokenizer_from_gguf against llama.cpp.

The vocab-only GGUF files and expected ids in tests/data/gguf-vocab are llama.cpp's own
(models/ggml-vocab-*.gguf{,.inp,.out}, what its tests/test-tokenizer-0 checks): every text,
the empty one included, must give exactly those ids. Every pre-tokenizer name llama.cpp knows
is held to ids recorded from llama.cpp itself (tests/data/llama-cpp-pre-ids.json) and to a
line-by-line port of llama.cpp's splitter (llama_cpp_reference.py).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emb_cli.errors import InputError
from emb_cli.sources.gguf.pre_tokenizers import MODELS
from emb_cli.sources.gguf.pre_tokenizers import PRE_TOKENIZERS as BPE_PRE_TOKENIZERS
from emb_cli.sources.gguf.tokenizer import is_supported, tokenizer_from_gguf
from emb_cli.sources.gguf.vocab_keys import TOKEN_TYPES, token_type_name
from tests.helpers import llama_cpp_reference as ref
from tests.helpers.gguf_vocab import DATA, NAMES, built, cases, ids, read_meta

ALL_CASES = [(name, i) for name in NAMES for i in range(len(cases(name)))]


@pytest.mark.parametrize(("name", "index"), ALL_CASES, ids=[f"{n}-{i}" for n, i in ALL_CASES])
def test_llama_cpp_ids(name: str, index: int) -> None:
    text, want = cases(name)[index]
    assert ids(name, text) == want, text


def test_every_file_has_its_texts() -> None:
    counts = {name: len(cases(name)) for name in NAMES}
    assert counts == {**dict.fromkeys(NAMES, 46), "qwen35": 50}
    assert all(cases(name)[2] == ("", []) for name in NAMES)  # llama.cpp's empty text


def test_token_type_names_are_ggufs() -> None:
    from gguf import TokenType

    for t in TokenType:
        assert token_type_name(t.value) == t.name.lower().replace("_", "-")
    assert token_type_name(9) == "type-9" and len(TOKEN_TYPES) == 7


def test_token_types_counts() -> None:
    types = read_meta("phi-3")["tokenizer.ggml.token_type"]
    assert Counter(map(token_type_name, types)) == {
        "normal": 31741,
        "byte": 256,
        "unknown": 53,
        "control": 13,
        "user-defined": 1,
    }


@pytest.mark.parametrize("name", NAMES)
def test_vocabulary_and_ids_are_the_files(name: str) -> None:
    tokens = read_meta(name)["tokenizer.ggml.tokens"]
    tok = built(name)
    assert tok.get_vocab_size() == len(tokens)
    for i in (0, 1, len(tokens) // 2, len(tokens) - 1):
        assert tok.id_to_token(i) == tokens[i]
        assert tok.token_to_id(tokens[i]) == i


@pytest.mark.parametrize(
    ("name", "before", "after"),
    [
        ("llama-spm", [1], []),  # add_bos_token true, add_eos_token false
        ("phi-3", [1], []),
        ("bert-bge", [101], [102]),  # WordPiece: CLS ... SEP
        ("gpt-2", [], []),  # BPE adds nothing unless the file or the pre name asks
        ("falcon", [], []),
        ("mpt", [], []),
    ],
)
def test_add_special_tokens(name: str, before: list[int], after: list[int]) -> None:
    text, want = cases(name)[11]  # "Hello world"
    assert text == "Hello world"
    assert built(name).encode(text, add_special_tokens=True).ids == before + want + after


@pytest.mark.parametrize(("name", "index"), ALL_CASES, ids=[f"{n}-{i}" for n, i in ALL_CASES])
def test_decode_gives_llama_cpps_text(name: str, index: int) -> None:
    """llama.cpp's detokenize(ids, special=true) of the expected ids.

    SentencePiece gives the text back exactly (llama.cpp's test-tokenizer-1-spm relies on it);
    byte-level BPE gives it back through detokenize's clean_spaces passes; WordPiece gives
    each word's U+2581 as a space.
    """
    text, want = cases(name)[index]
    got = built(name).decode(want, skip_special_tokens=False)
    if name in ("llama-spm", "phi-3"):
        assert got == text
    elif name == "bert-bge":
        tokens = read_meta(name)["tokenizer.ggml.tokens"]
        assert got == ref.clean_spaces("".join(tokens[i] for i in want).replace("\u2581", " "))
    elif not BPE_PRE_TOKENIZERS[read_meta(name).get("tokenizer.ggml.pre", "gemma4")].clean_spaces:
        assert got == text  # pre names that set clean_spaces = false
    else:
        assert got == ref.clean_spaces(text)


def test_control_tokens_are_text_unless_special_tokens_are_parsed() -> None:
    assert ids("gpt-2", "<|endoftext|>", parse_special=True) == [50256]
    plain = ids("gpt-2", "<|endoftext|>")
    assert len(plain) > 1 and 50256 not in plain
    # phi-3 types "</s>" user-defined, which llama.cpp matches whole even then, but its own
    # end-of-generation list makes it control: left to the text unless parsed
    assert read_meta("phi-3")["tokenizer.ggml.token_type"][2] == 4
    assert 2 not in ids("phi-3", "a</s>b")
    assert 2 in ids("phi-3", "a</s>b", parse_special=True)


def test_phi3_special_tokens_eat_the_spaces_after_them() -> None:
    # llama.cpp sets RSTRIP on phi-3's special tokens (by general.name), and a text fragment
    # after a special token gets the SentencePiece prefix space again
    got = ids("phi-3", "<|user|>   Hello", parse_special=True)
    assert got == [32010, *ids("phi-3", "Hello")]
    assert ids("phi-3", "<|user|>   Hello") != got


def test_mpt_space_runs_are_user_defined_tokens() -> None:
    # types 4: matched whole in the text before the regex split, longest first
    assert ids("mpt", " " * 30 + "x")[:2] == [50254, 50272]  # 24 + 6 spaces


def byte_level(piece: str) -> str:
    table = _bytes_to_unicode()
    return "".join(table[b] for b in piece.encode("utf-8"))


@cache
def _bytes_to_unicode() -> dict[int, str]:
    keep = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    out, n = {b: chr(b) for b in keep}, 0
    for b in range(256):
        if b not in out:
            out[b] = chr(256 + n)
            n += 1
    return out


def tiny_bpe(pre: str, **extra: Any) -> dict[str, Any]:
    """A byte-level vocabulary of the 256 byte symbols: enough to run any pre-tokenizer."""
    tokens = [_bytes_to_unicode()[b] for b in range(256)]
    return {
        "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.pre": pre,
        "tokenizer.ggml.tokens": tokens,
        "tokenizer.ggml.token_type": [1] * 256,
        "tokenizer.ggml.merges": [],
        "tokenizer.ggml.bos_token_id": 0,
        "tokenizer.ggml.seperator_token_id": 1,  # jina-v1-en and roberta-bpe add SEP
        **extra,
    }


EXTRA_TEXTS = [
    "I'M 'S 'ſ 'Ll 'RE we're",  # contractions: case, and U+017F which (?i) would take
    "a\u00a0b\u3000c\u2028d\x85e  \t\n\r\n \r",  # Unicode whitespace, CR/LF runs
    "٣٤٥٦ ⅫⅣ ½¾ 12345678 x1y22z333",  # Nd in other scripts, Nl, No
    "~~ .~ $$ ++ <=> ^^ `` || ¿¡ «» „“ — … 、。",  # symbols (llama.cpp's lack "~"), punctuation
    "e\u0301 n\u0303 \u0915\u093f \u200d\u200b \ufeff x\u0300\u0301y",  # marks, format chars
    "🦙🚀 😶\u200d🌫️ \U0001f9d1\u200d\U0001f4bb",  # emoji, ZWJ sequences
    "   leading and trailing   ",
    "\n\n\nx\n \n y \n",
]


def texts_for_split() -> list[str]:
    return [t for t, _ in cases("gpt-2")] + EXTRA_TEXTS


@pytest.mark.parametrize("pre", sorted(ref.PRE_TYPES))
def test_split_matches_llama_cpp(pre: str) -> None:
    """Each pre name the port knows splits text as llama.cpp's unicode_regex_split does."""
    exprs = ref.REGEXES[ref.PRE_TYPES[pre]]
    pre_tok = _tiny_pre(pre)
    for text in texts_for_split():
        got = [p for p, _ in pre_tok.pre_tokenize_str(text)]
        assert got == [byte_level(p) for p in ref.split(text, exprs) if p], (pre, text)


# Common characters of every class the regexes tell apart, where tokenizers' Unicode tables
# and llama.cpp's agree.
ALPHABET = (
    "aAzZ sStTmMdDlLrReEvV'\"0189٣½Ⅻ\t\n\r\u00a0\u3000.,!?$+<=>^~|`-_()[]{}éñ中文🦙\u0301\u200d"
)


@settings(max_examples=150, deadline=None)
@given(text=st.text(alphabet=ALPHABET, max_size=24))
def test_split_matches_llama_cpp_on_random_text(text: str) -> None:
    seen: set[tuple[str, ...]] = set()
    for pre, spec in sorted(BPE_PRE_TOKENIZERS.items()):
        if spec.regexes in seen or pre not in ref.PRE_TYPES:
            continue
        seen.add(spec.regexes)
        pre_tok = _tiny_pre(pre)
        got = [p for p, _ in pre_tok.pre_tokenize_str(text)]
        want = ref.split(text, ref.REGEXES[ref.PRE_TYPES[pre]])
        assert got == [byte_level(p) for p in want if p], pre


@cache
def _tiny_pre(pre: str) -> Any:
    rust = tokenizer_from_gguf(tiny_bpe(pre), "tiny.gguf").rust
    assert rust is not None and rust.pre_tokenizer is not None
    return rust.pre_tokenizer


def abc_meta(pre: str) -> dict[str, Any]:
    return {
        "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.pre": pre,
        "tokenizer.ggml.tokens": ["a", "b", "c", "bc", "abc", "<|begin_of_text|>"],
        "tokenizer.ggml.token_type": [1, 1, 1, 1, 1, 3],
        "tokenizer.ggml.merges": ["b c"],
        "tokenizer.ggml.bos_token_id": 5,
    }


def test_llama3_takes_a_word_that_is_a_token_whole() -> None:
    # llama-bpe sets ignore_merges and add_bos; dbrx has the same regex and neither
    llama3 = tokenizer_from_gguf(abc_meta("llama-bpe"), "m.gguf")
    dbrx = tokenizer_from_gguf(abc_meta("dbrx"), "m.gguf")
    assert llama3.encode("abc", add_special_tokens=False).ids == [4]
    assert dbrx.encode("abc", add_special_tokens=False).ids == [0, 3]
    assert llama3.encode("abc").ids == [5, 4]
    assert dbrx.encode("abc").ids == [0, 3]


def test_add_bos_without_a_bos_id_is_refused() -> None:
    meta = abc_meta("llama-bpe")
    del meta["tokenizer.ggml.bos_token_id"]  # the default, 11, is past this vocabulary
    tok = tokenizer_from_gguf(meta, "m.gguf")  # llama.cpp loads it, and tokenizes plainly
    assert tok.encode_ids("abc") == [4]
    with pytest.raises(InputError, match="add_bos_token is true"):
        tok.encode_ids("abc", add_special=True)  # where llama.cpp's GGML_ASSERT fires


@pytest.mark.parametrize(
    ("model", "pre", "needle"),
    [
        ("no_vocab", None, "'no_vocab'"),
        ("none", None, "'none'"),
        ("sentencepiece", None, "'sentencepiece'"),
        (None, None, "missing"),
        ("gpt2", "no-such-pre", "'no-such-pre'"),
    ],
)
def test_unknown_names_are_refused(model: str | None, pre: str | None, needle: str) -> None:
    meta = {**tiny_bpe(pre or "gpt-2"), "tokenizer.ggml.model": model, "tokenizer.ggml.pre": pre}
    with pytest.raises(InputError) as err:
        tokenizer_from_gguf(meta, "x.gguf")
    msg = err.value.message
    assert "\n" not in msg and needle in msg and msg.startswith("x.gguf: ")
    assert not is_supported(str(model), pre)


NAMES_FILE = DATA.parent / "llama-cpp-tokenizer-names.txt"


def llama_cpp_names(kind: str) -> list[str]:
    rows = [line.split(" ", 1) for line in NAMES_FILE.read_text("utf-8").splitlines()]
    return [name for k, name in rows if k == kind]


def test_the_name_list_is_llama_cpps() -> None:
    assert len(llama_cpp_names("pre")) == 91
    assert {"kimi-k2", "deepseek-llm", "bloom", "superbpe", "whitespace"} <= set(
        llama_cpp_names("pre")
    )


@pytest.mark.parametrize("pre", llama_cpp_names("pre"))
def test_every_llama_cpp_pre_name_is_handled(pre: str) -> None:
    assert pre in BPE_PRE_TOKENIZERS and is_supported("gpt2", pre)
    tok = tokenizer_from_gguf(tiny_bpe(pre), "tiny.gguf")
    assert tok.encode_ids("Hello, world 1234!\n") != []


@pytest.mark.parametrize("model", llama_cpp_names("model"))
def test_every_llama_cpp_model_is_handled_or_names_no_vocabulary(model: str) -> None:
    if model in ("no_vocab", "none"):
        assert not is_supported(model, None)  # llama.cpp's "no vocab": nothing to tokenize
    else:
        assert model in MODELS and is_supported(model, None)


def test_supported_table() -> None:
    assert set(MODELS) == set(llama_cpp_names("model")) - {"no_vocab", "none"}
    assert set(BPE_PRE_TOKENIZERS) == set(llama_cpp_names("pre"))
    assert is_supported("gpt2", "llama-bpe") and is_supported("gpt2", None)
    assert is_supported("llama", "anything") and is_supported("bert", "bert-bge")


def test_bad_vocabularies_are_refused() -> None:
    with pytest.raises(InputError, match="no tokenizer.ggml.tokens"):
        tokenizer_from_gguf({"tokenizer.ggml.model": "llama"}, "m.gguf")
    with pytest.raises(InputError, match="appears twice"):
        tokenizer_from_gguf({**abc_meta("gpt-2"), "tokenizer.ggml.tokens": ["a", "b", "a"]}, "m")
    with pytest.raises(InputError, match="joins a character that is no token"):
        tokenizer_from_gguf({**abc_meta("gpt-2"), "tokenizer.ggml.merges": ["a x"]}, "m.gguf")
    with pytest.raises(InputError, match="token_type has 2 entries"):
        tokenizer_from_gguf({**abc_meta("gpt-2"), "tokenizer.ggml.token_type": [1, 1]}, "m")
    spm = {
        "tokenizer.ggml.model": "llama",
        "tokenizer.ggml.tokens": ["<unk>", "<s>", "</s>", "b", "xb"],
        "tokenizer.ggml.scores": [0.0, 0.0, 0.0, -1.0, -2.0],
        "tokenizer.ggml.token_type": [2, 3, 3, 1, 1],
    }
    # llama.cpp merges "x" + "b" though "x" is no token: so does emb's SentencePiece port
    spm["tokenizer.ggml.add_space_prefix"] = False
    assert tokenizer_from_gguf(spm, "m.gguf").encode_ids("xb") == [4]


def test_sentencepiece_without_scores_or_types() -> None:
    meta = {
        "tokenizer.ggml.model": "llama",
        "tokenizer.ggml.tokens": ["<unk>", "<s>", "</s>", "\u2581", "a", "\u2581a", "<0x62>"],
    }
    tok = tokenizer_from_gguf(meta, "m.gguf")
    # "b" is no token: its byte, <0x62>; the prefix space merges with "a"
    assert tok.encode("ab", add_special_tokens=False).ids == [5, 6]
    assert tok.encode("ab").ids == [1, 5, 6]
    # without a token_type array "<0x62>" is a normal token, which renders as its text
    assert tok.decode([5, 6]) == "a<0x62>"
    # without a token_type array "<s>" is a normal token, so llama.cpp renders it, and only
    # the first piece loses its prefix space
    assert tok.decode([1, 5, 6]) == "<s> a<0x62>"


@pytest.mark.parametrize("name", NAMES)
def test_the_checkpoint_path_gives_llama_cpps_ids(name: str) -> None:
    """What `emb tokenize` and `lookup --text` run: the source opened from the file."""
    from emb_cli.sources.resolve import open_checkpoint_source

    source = open_checkpoint_source(str(DATA / f"ggml-vocab-{name}.gguf"), tokenizer_only=True)
    tok = source.tokenizer()
    assert tok is not None
    for text, want in cases(name):
        assert tok.encode(text, add_special_tokens=False).ids == want, text


@pytest.mark.parametrize("name", NAMES)
def test_emb_tokenize_on_each_file(emb: Any, name: str, tmp_path: Path) -> None:
    text, want = next((t, i) for t, i in cases(name) if len(i) > 3)
    path = tmp_path / "text.txt"
    path.write_text(text, encoding="utf-8")
    doc = emb.json("tokenize", "--from", str(DATA / f"ggml-vocab-{name}.gguf"), "--file", str(path))
    assert doc["ids"] == want and doc["count"] == len(want)
    assert len(doc["tokens"]) == len(want) and len(doc["token_types"]) == len(want)


def fim_meta(*extra: tuple[str, int]) -> dict[str, Any]:
    meta = tiny_bpe("gpt-2")
    meta["tokenizer.ggml.tokens"] = meta["tokenizer.ggml.tokens"] + [t for t, _ in extra]
    meta["tokenizer.ggml.token_type"] = meta["tokenizer.ggml.token_type"] + [k for _, k in extra]
    return meta


def test_fim_tokens_are_control_by_their_text() -> None:
    # a user-defined token would be matched whole in text; llama.cpp makes "<PRE>" control
    tok = tokenizer_from_gguf(fim_meta(("<PRE>", 4), ("<user>", 4)), "m.gguf")
    assert tok.encode("<user>", add_special_tokens=False).ids == [257]
    assert 256 not in tok.encode("<PRE>", add_special_tokens=False).ids
    with_special = tokenizer_from_gguf(fim_meta(("<PRE>", 4)), "m.gguf", parse_special=True)
    assert with_special.encode("<PRE>", add_special_tokens=False).ids == [256]
    # unless the file names its FIM token: then the text rule does not run
    named = {**fim_meta(("<PRE>", 4)), "tokenizer.ggml.fim_pre_token_id": 0}
    assert tokenizer_from_gguf(named, "m.gguf").encode("<PRE>", add_special_tokens=False).ids == [
        256
    ]


def test_two_fim_candidates_that_matter_are_refused() -> None:
    # llama.cpp marks one of them, picked in hash-map order
    with pytest.raises(InputError, match="several fim_pre tokens"):
        tokenizer_from_gguf(fim_meta(("<PRE>", 4), ("<fim_prefix>", 4)), "m.gguf")
    normal = fim_meta(("<PRE>", 1), ("<fim_prefix>", 1))
    tokenizer_from_gguf(normal, "m.gguf")  # normal tokens: the same ids either way
    with pytest.raises(InputError, match="several fim_pre tokens"):
        tokenizer_from_gguf(normal, "m.gguf", parse_special=True)


PRE_IDS = DATA.parent / "llama-cpp-pre-ids.json"


@cache
def pre_ids() -> dict[str, Any]:
    import json

    doc: dict[str, Any] = json.loads(PRE_IDS.read_text("utf-8"))
    return doc


def _groups() -> list[list[str]]:
    return [g["names"] for g in pre_ids()["groups"]]


@pytest.mark.parametrize("names", _groups(), ids=lambda names: names[0])
def test_every_pre_name_gives_llama_cpps_ids(names: list[str]) -> None:
    """llama.cpp's ids, recorded from llama.cpp itself, for each pre name on a real vocabulary:
    gpt-2's for byte-level names, Gemma 4's (as model gpt2) for the UTF-8 ones. Names in one
    group give the same ids on these texts; one of them is built, the others must share its
    llama.cpp behaviour (regexes and flags)."""
    doc = pre_ids()
    group = next(g for g in doc["groups"] if g["names"] == names)
    vocab = group["vocab"]
    distinct = {dataclasses.replace(BPE_PRE_TOKENIZERS[n], name=""): n for n in names}
    for name in distinct.values():  # one build per distinct behaviour
        meta = {**read_meta(vocab), "tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": name}
        got = tokenizer_from_gguf(meta, f"{vocab} as {name}").encode_many(doc["texts"])
        for text, want, got_ids in zip(doc["texts"], group["ids"], got, strict=True):
            if want is not None:  # None: llama.cpp crashed on this text
                assert got_ids == want, (name, text)


def test_the_recorded_ids_cover_every_pre_name() -> None:
    recorded = {n for names in _groups() for n in names}
    assert recorded == set(llama_cpp_names("pre"))
