"""Tokenizer metadata of the wrong type or shape, texts that make tokenizers slow or panic,
and lone surrogates in argv: one `Error:` line and exit 2 each (or the right ids, in time),
every case under the 10 s alarm, through `emb tokenize` and `lookup --text`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.hostile import CASE_SECONDS, run_refused, time_limit

BASE: dict[str, Any] = {
    "tokenizer.ggml.model": "gpt2",
    "tokenizer.ggml.pre": "llama-bpe",
    "tokenizer.ggml.tokens": ["a", "b", "c", "ab"],
    "tokenizer.ggml.token_type": [1, 1, 1, 1],
    "tokenizer.ggml.merges": ["a b"],
}
SPM: dict[str, Any] = {
    "tokenizer.ggml.model": "llama",
    "tokenizer.ggml.tokens": ["<unk>", "<s>", "</s>", "\u2581", "a", "b", "\u2581a"],
    "tokenizer.ggml.token_type": [2, 3, 3, 1, 1, 1, 1],
    "tokenizer.ggml.scores": [0.0, 0.0, 0.0, -1.0, -2.0, -3.0, -0.5],
}


def write_gguf(path: Path, meta: dict[str, Any]) -> Path:
    """A GGUF holding only `meta` (and an 8 x 4 table), each value as gguf-py types it."""
    import numpy as np
    from gguf import GGUFWriter

    writer = GGUFWriter(str(path), "llama")
    for key, value in meta.items():
        if isinstance(value, list):
            writer.add_array(key, value)
        elif isinstance(value, str):
            writer.add_string(key, value)
        elif isinstance(value, int):
            writer.add_uint32(key, value)
        else:
            raise TypeError(key)
    n = len(meta["tokenizer.ggml.tokens"])
    rows = n if isinstance(n, int) and n > 0 else 8
    writer.add_tensor("token_embd.weight", np.zeros((rows, 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


BAD_META: dict[str, tuple[dict[str, Any], str]] = {
    "model-as-array": ({**BASE, "tokenizer.ggml.model": ["gpt2"]}, "tokenizer.ggml.model"),
    "pre-as-array": ({**BASE, "tokenizer.ggml.pre": ["llama-bpe"]}, "tokenizer.ggml.pre"),
    "merges-as-int32": ({**BASE, "tokenizer.ggml.merges": [1, 2]}, "tokenizer.ggml.merges"),
    "tokens-as-int32": ({**BASE, "tokenizer.ggml.tokens": [1, 2, 3, 4]}, "tokenizer.ggml.tokens"),
    "merges-as-arrays": (
        {**BASE, "tokenizer.ggml.merges": [["a", "b"]]},
        "tokenizer.ggml.merges",
    ),
    "tokens-as-arrays": (
        {**BASE, "tokenizer.ggml.tokens": [["a"], ["b"], ["c"], ["ab"]]},
        "tokenizer.ggml.tokens",
    ),
    "scores-as-strings": (
        {**SPM, "tokenizer.ggml.scores": ["0", "0", "0", "-1", "-2", "-3", "-0.5"]},
        "tokenizer.ggml.scores",
    ),
    "token-type-as-floats": (
        {**BASE, "tokenizer.ggml.token_type": [1.0, 1.0, 1.0, 1.0]},
        "tokenizer.ggml.token_type",
    ),
    "token-type-as-strings": (
        {**BASE, "tokenizer.ggml.token_type": ["1", "1", "1", "1"]},
        "tokenizer.ggml.token_type",
    ),
    "merge-result-missing": ({**BASE, "tokenizer.ggml.merges": ["a b", "b c"]}, "'bc'"),
    # merge_ids reads the merges as bytes; one that is no UTF-8 still names itself
    "merge-not-utf8": (
        {**BASE, "tokenizer.ggml.merges": [b"a b", b"a \xffb"]},
        "string 1 of tokenizer.ggml.merges is not UTF-8",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_META))
@pytest.mark.parametrize("how", ["tokenize", "lookup"])
def test_bad_tokenizer_metadata_is_one_error_line(
    emb: Any, tmp_path: Path, case: str, how: str
) -> None:
    meta, needle = BAD_META[case]
    path = str(write_gguf(tmp_path / f"{case}.gguf", meta))
    args = (
        ["tokenize", "--from", path, "abc", "--no-cache"]
        if how == "tokenize"
        else ["lookup", "--text", "abc", "--from", path]
    )
    run_refused(emb, tmp_path, args, needle)


def test_wordpiece_on_one_20k_word_stops_at_the_longest_token(emb: Any, tmp_path: Path) -> None:
    """llama.cpp's WordPiece: at each place the longest token, never longer than the longest
    token there is; was cubic in Rust (103 s)."""
    meta = {
        "tokenizer.ggml.model": "bert",
        "tokenizer.ggml.tokens": [
            "[PAD]",
            "[UNK]",
            "[CLS]",
            "[SEP]",
            "[MASK]",
            "\u2581a",
            "a",
            "aa",
        ],  # fmt: skip
        "tokenizer.ggml.token_type": [3, 2, 3, 3, 3, 1, 1, 1],
        "tokenizer.ggml.unknown_token_id": 1,
    }
    path = str(write_gguf(tmp_path / "wpm.gguf", meta))
    word = "a" * 20_000
    with time_limit(CASE_SECONDS):
        r = emb("tokenize", "--from", path, word, "--json", "--no-cache")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["ids"] == [5] + [7] * 9_999 + [6]


def test_sentencepiece_with_a_million_character_token_builds_in_time(
    emb: Any, tmp_path: Path
) -> None:
    """Building SentencePiece's merge table was quadratic in a token's length (200k: 7 s)."""
    huge = "x" * 1_000_000
    meta = {
        **SPM,
        "tokenizer.ggml.tokens": [*SPM["tokenizer.ggml.tokens"], huge],
        "tokenizer.ggml.token_type": [*SPM["tokenizer.ggml.token_type"], 1],
        "tokenizer.ggml.scores": [*SPM["tokenizer.ggml.scores"], -9.0],
    }
    path = str(write_gguf(tmp_path / "spm.gguf", meta))
    with time_limit(CASE_SECONDS):
        r = emb("tokenize", "--from", path, "a b", "--json", "--no-cache")
    assert r.exit_code == 0, r.stderr
    # "▁a" then "▁" "b": SentencePiece merges by score, llama.cpp adds the space prefix
    assert json.loads(r.stdout)["ids"] == [6, 3, 5]


def _tokenizer_json_dir(tmp: Path, regex: str) -> Path:
    """A safetensors table with a tokenizer.json whose pre-tokenizer splits on `regex`."""
    import numpy as np
    from safetensors.numpy import save_file
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers

    folder = tmp / "model"
    folder.mkdir()
    tok = Tokenizer(models.WordLevel({"a": 0, "[UNK]": 1}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(regex), behavior="isolated")
    tok.save(str(folder / "tokenizer.json"))
    table = np.zeros((2, 4), dtype=np.float32)
    save_file({"model.embed_tokens.weight": table}, str(folder / "model.safetensors"))
    return folder


# Nested quantifiers: Oniguruma gives up past its retry limit, and tokenizers panics
CATASTROPHIC = r"(a+)+b"


@pytest.mark.parametrize("how", ["tokenize", "lookup"])
def test_tokenizer_json_regex_past_onigurumas_limit(emb: Any, tmp_path: Path, how: str) -> None:
    folder = str(_tokenizer_json_dir(tmp_path, CATASTROPHIC))
    text = "a" * 30
    args = (
        ["tokenize", "--from", folder, text]
        if how == "tokenize"
        else ["lookup", "--text", text, "--from", folder]
    )
    run_refused(emb, tmp_path, args, "tokenizer")


@pytest.mark.parametrize("how", ["tokenize", "lookup"])
def test_lone_surrogate_in_argv(emb: Any, tmp_path: Path, how: str) -> None:
    """What Python makes of bytes in argv that are not UTF-8 (surrogateescape)."""
    path = str(write_gguf(tmp_path / "ok.gguf", BASE))
    text = "ab\udcff"
    args = (
        ["tokenize", "--from", path, text]
        if how == "tokenize"
        else ["lookup", "--text", text, "--from", path]
    )
    run_refused(emb, tmp_path, args, "UTF-8")


def _emb_process(*args: str, **kw: Any) -> Any:
    import os
    import subprocess
    import sys

    from tests.helpers.hostile import ROOT

    env = {**os.environ, "PYTHONPATH": str(ROOT), "RUST_BACKTRACE": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "emb_cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kw,
    )


def test_rust_panic_in_a_real_process_is_one_error_line(tmp_path: Path) -> None:
    """Rust's panic hook writes its report (with RUST_BACKTRACE, a backtrace) to the file
    descriptor itself, past Python's sys.stderr: none of it may reach the user."""
    folder = str(_tokenizer_json_dir(tmp_path, CATASTROPHIC))
    p = _emb_process("tokenize", "--from", folder, "a" * 30)
    out, err = p.communicate(timeout=CASE_SECONDS)
    assert p.returncode == 2 and out == "", (p.returncode, out, err)
    assert err.count("\n") == 1 and err.startswith("Error: "), err


def test_ctrl_c_stops_tokenize_file_within_a_second(tmp_path: Path) -> None:
    import signal
    import time

    from tests.helpers.gguf_vocab import DATA

    text = tmp_path / "prose.txt"
    line = "The quick brown fox jumps over the lazy dog, then naps in the sun.\n"
    text.write_text(line * 400_000, encoding="utf-8")  # 27 MB: tens of seconds of work
    vocab = str(DATA / "ggml-vocab-gpt-2.gguf")
    p = _emb_process("tokenize", "--from", vocab, "--file", str(text), "--count")
    time.sleep(3)
    assert p.poll() is None, p.communicate()
    sent = time.monotonic()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=CASE_SECONDS)
    took = time.monotonic() - sent
    assert p.returncode == 130 and out == "" and "Traceback" not in err, (p.returncode, err)
    assert took < 1.0, took


def test_file_from_a_fifo_is_read_as_a_pipe(emb: Any, tmp_path: Path) -> None:
    import os
    import threading

    from tests.helpers.gguf_vocab import DATA, ids

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    text = "Hello world\n" * 1000

    def feed() -> None:
        with open(fifo, "w", encoding="utf-8") as fh:
            fh.write(text)

    writer = threading.Thread(target=feed)
    writer.start()
    vocab = str(DATA / "ggml-vocab-gpt-2.gguf")
    with time_limit(CASE_SECONDS):
        r = emb("tokenize", "--from", vocab, "--file", str(fifo), "--count")
    writer.join()
    assert r.exit_code == 0, r.stderr
    assert r.stdout.strip() == str(len(ids("gpt-2", text)))


@pytest.mark.parametrize("kind", ["directory", "character device"])
def test_file_that_is_no_text_file_says_what_it_is(emb: Any, tmp_path: Path, kind: str) -> None:
    from tests.helpers.gguf_vocab import DATA

    target = str(tmp_path) if kind == "directory" else "/dev/null"
    vocab = str(DATA / "ggml-vocab-gpt-2.gguf")
    run_refused(emb, tmp_path, ["tokenize", "--from", vocab, "--file", target], f"a {kind}")


def test_file_from_a_fifo_nobody_writes_to_is_refused_in_time(emb: Any, tmp_path: Path) -> None:
    import os

    from tests.helpers.gguf_vocab import DATA

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    vocab = str(DATA / "ggml-vocab-gpt-2.gguf")
    run_refused(emb, tmp_path, ["tokenize", "--from", vocab, "--file", str(fifo)], "FIFO")
