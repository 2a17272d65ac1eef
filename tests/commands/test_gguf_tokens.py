"""GGUF files as llama.cpp users hold them: token strings and types, --text through the
file's own tokenizer, vocab-only files, and GGUF over HTTP ranges."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.helpers import assert_refused
from tests.helpers.gguf_vocab import DATA, cases, ids
from tests.helpers.range_server import Server

pytestmark = pytest.mark.usefixtures("only_loopback")

VOCAB = DATA / "ggml-vocab-gpt-2.gguf"
DIM = 8


def with_table(src: Path, dest: Path, output: bool = False) -> np.ndarray:
    """A copy of a vocab-only file with a token_embd table (and an output head) added."""
    import gguf

    from emb_cli.sources.gguf.header import GGUFArray, read_gguf_header

    header = read_gguf_header(src)
    arch = header.str_value("general.architecture") or "gpt2"
    w = gguf.GGUFWriter(str(dest), arch)
    for key, value in header.kv.items():
        if key in ("general.architecture",):
            continue
        if isinstance(value, GGUFArray):
            w.add_array(key, value.values())
        else:
            w.add_key_value(key, value, gguf.GGUFValueType(header.types[key]))
    n = len(header.array("tokenizer.ggml.tokens") or [])
    table = np.random.default_rng(0).normal(0, 0.02, (n, DIM)).astype(np.float32)
    w.add_tensor("token_embd.weight", table)
    if output:
        w.add_tensor("output.weight", table * 2)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return table


@pytest.fixture(scope="module")
def gpt2_gguf(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    path = tmp_path_factory.mktemp("gg") / "gpt2-tiny.gguf"
    return path, with_table(VOCAB, path)


def test_lookup_shows_tokens_and_types(emb: Any, gpt2_gguf: tuple[Path, np.ndarray]) -> None:
    path, table = gpt2_gguf
    doc = emb.json("lookup", "15496", "50256", "--from", str(path))
    assert doc["tokens"] == ["Hello", "<|endoftext|>"]
    assert doc["token_types"] == ["normal", "control"]
    assert np.array(doc["vectors"], np.float32).tobytes() == table[[15496, 50256]].tobytes()


def test_lookup_text_uses_the_files_tokenizer(emb: Any, gpt2_gguf: tuple[Path, np.ndarray]) -> None:
    path, table = gpt2_gguf
    text, want = next((t, i) for t, i in cases("gpt-2") if len(i) > 3)
    assert ids("gpt-2", text) == want  # llama.cpp's ids
    doc = emb.json("lookup", "--text", text, "--from", str(path))
    assert doc["ids"] == want
    assert np.array(doc["vectors"], np.float32).tobytes() == table[want].tobytes()
    nb = emb.json("neighbors", "--text", "Hello", "--from", str(path), "-k", "3")
    assert nb["queries"][0]["terms"][0]["ids"] == [15496]


def test_vocab_only_file(emb: Any) -> None:
    doc = emb.json("info", str(VOCAB))
    assert doc["tensor_count"] == 0 and doc["tensors"] == []
    tk = doc["tokenizer"]
    assert (tk["model"], tk["pre"], tk["tokens"]) == ("gpt2", "gpt-2", 50257)
    assert tk["merges"] == 50000 and tk["token_types"] is True
    assert tk["special_tokens"]["eos_token"] == {
        "id": 50256,
        "token": "<|endoftext|>",
        "type": "control",
    }
    r = emb("info", str(VOCAB), ok=True)
    assert "no tensors" in r.stdout and "50,257 tokens" in r.stdout
    for argv in (["lookup", "1"], ["init-stats"], ["tie"], ["stats"]):
        assert_refused(emb(*argv, "--from", str(VOCAB)), "holds a tokenizer only")


def test_tie_reason_says_what_the_file_holds(emb: Any, tmp_path: Path) -> None:
    path = tmp_path / "two.gguf"
    with_table(VOCAB, path, output=True)
    doc = emb.json("tie", "--from", str(path))
    assert doc["config_tied_source"] == (
        "gguf: no tie flag; llama.cpp uses the stored output.weight as the head, and its "
        "converter writes one for some tied models (GPT-2)"
    )
    assert (doc["verdict"], doc["config_tied"]) == ("untied", None)
    one = tmp_path / "one.gguf"
    with_table(VOCAB, one)
    assert emb.json("tie", "--from", str(one))["config_tied_source"] == (
        "gguf: no output.weight, so llama.cpp uses token_embd as the head"
    )


def test_remote_gguf_by_ranges(
    emb: Any,
    server: Server,
    gpt2_gguf: tuple[Path, np.ndarray],
) -> None:
    path, table = gpt2_gguf
    folder = server.root / "gguf"
    folder.mkdir(exist_ok=True)
    shutil.copy(path, folder / "m.gguf")
    server.clear()
    url = server.url("files/gguf/m.gguf")
    r = emb("lookup", "15496", "--from", url, "--json", "--verbose")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["tokens"] == ["Hello"]
    assert np.array(doc["vectors"], np.float32).tobytes() == table[[15496]].tobytes()
    assert "fetched" in r.stderr
    size = (folder / "m.gguf").stat().st_size
    fetched = int(r.stderr.split("fetched ")[1].split(" bytes")[0].replace(",", ""))
    assert fetched < size  # the header and one row, not the file


EVERY = ("gpt-2", "llama-spm", "bert-bge", "phi-3", "falcon", "mpt", "command-r",
         "deepseek-coder", "deepseek-llm", "gemma-4", "llama-bpe", "qwen2", "qwen35", "refact",
         "starcoder")  # fmt: skip


@pytest.mark.parametrize("name", EVERY)
def test_emb_tokenize_gives_llama_cpps_ids_for_each_case(emb: Any, name: str) -> None:
    """Through `emb tokenize` itself, every case of every set, the empty text included (the
    tokenizer is built on the first call and loads from emb's cache on the others)."""
    vocab = str(DATA / f"ggml-vocab-{name}.gguf")
    for text, want in cases(name):
        r = emb("tokenize", "--from", vocab, text, "--json", ok=True)
        doc = json.loads(r.stdout)
        assert doc["ids"] == want and doc["count"] == len(want), (name, text)


def test_empty_text_gives_zero_ids_and_lookup_keeps_its_refusal(
    emb: Any, gpt2_gguf: tuple[Path, np.ndarray]
) -> None:
    r = emb("tokenize", "--from", str(VOCAB), "", ok=True)
    assert "0 tokens" in r.stdout
    assert emb("tokenize", "--from", str(VOCAB), "", "--count", ok=True).stdout.strip() == "0"
    assert_refused(emb("lookup", "--text", "", "--from", str(gpt2_gguf[0])), "no tokens")


def test_tokenize_file_counts_and_refuses_what_is_not_a_file(emb: Any, tmp_path: Path) -> None:
    text = "".join(t + "\n" for t, _ in cases("gpt-2"))
    path = tmp_path / "t.txt"
    path.write_text(text, encoding="utf-8")
    want = ids("gpt-2", text)
    got = emb("tokenize", "--from", str(VOCAB), "--file", str(path), "--count", ok=True)
    assert got.stdout.strip() == str(len(want))
    assert_refused(emb("tokenize", "--from", str(VOCAB), "--file", str(tmp_path)), "directory")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok \xff")
    assert_refused(emb("tokenize", "--from", str(VOCAB), "--file", str(bad)), "not UTF-8")


def test_no_cache_and_emb_cache_clear(emb: Any) -> None:
    emb("tokenize", "--from", str(VOCAB), "Hello", ok=True)
    note = emb("cache", "--cache-dir", str(DATA), ok=True).stderr
    assert "built GGUF tokenizer" in note and "--clear-tokenizers" in note
    assert emb("tokenize", "--from", str(VOCAB), "Hello", "--no-cache", ok=True).exit_code == 0
    cleared = json.loads(emb("cache", "--clear-tokenizers", "--json", ok=True).stdout)
    assert set(cleared) == {"folder", "entries", "header_indexes", "bytes"}
    assert cleared["entries"] >= 1 and cleared["header_indexes"] >= 1
    assert json.loads(emb("cache", "--clear-tokenizers", "--json").stdout)["entries"] == 0
