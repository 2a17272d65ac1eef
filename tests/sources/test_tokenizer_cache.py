"""emb's on-disk cache of built GGUF tokenizers and of GGUF header string-array ends: what
comes back from it is what a fresh build gives, and a damaged, foreign or misleading entry is
rebuilt, never used."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from emb_cli.sources.gguf.header import GGUFArray, read_gguf_header
from tests.helpers.gguf_vocab import DATA, cases


@pytest.fixture
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "emb" / "tokenizers"


def copy_vocab(name: str, dest: Path) -> Path:
    path = dest / f"ggml-vocab-{name}.gguf"
    shutil.copyfile(DATA / path.name, path)
    return path


def tokenize(emb: Any, path: Path, text: str) -> list[int]:
    doc = json.loads(emb("tokenize", "--from", str(path), text, "--json", ok=True).stdout)
    ids: list[int] = doc["ids"]
    return ids


def entries(folder: Path, prefix: str = "") -> list[Path]:
    return sorted(
        p for p in folder.glob(f"{prefix}*.json") if prefix or not p.name.startswith("ends-")
    )


def test_an_entry_gives_the_built_tokenizers_ids(emb: Any, own_cache: Path, tmp_path: Path) -> None:
    path = copy_vocab("llama-bpe", tmp_path)
    text, want = cases("llama-bpe")[30]
    assert tokenize(emb, path, text) == want  # built, then kept
    (entry,) = entries(own_cache)
    before = entry.read_bytes()
    assert tokenize(emb, path, text) == want  # from the entry
    assert entry.read_bytes() == before  # read, not rewritten
    head = json.loads(before.partition(b"\n")[0])
    assert head["key"]["path"] == str(path.resolve())
    assert sum(head["parts"]) == len(before.partition(b"\n")[2])


@pytest.mark.parametrize(
    "damage",
    ["flip-body-byte", "truncate", "garbage-head", "wrong-parts", "empty"],
)
def test_a_damaged_entry_is_rebuilt(emb: Any, own_cache: Path, tmp_path: Path, damage: str) -> None:
    path = copy_vocab("gpt-2", tmp_path)
    text, want = cases("gpt-2")[11]
    tokenize(emb, path, text)
    (entry,) = entries(own_cache)
    good = entry.read_bytes()
    head, _, body = good.partition(b"\n")
    bad = {
        "flip-body-byte": head + b"\n" + body[:-100] + bytes([body[-100] ^ 1]) + body[-99:],
        "truncate": good[: len(good) // 2],
        "garbage-head": b"{not json\n" + body,
        "wrong-parts": json.dumps({**json.loads(head), "parts": [1, 2]}).encode() + b"\n" + body,
        "empty": b"",
    }[damage]
    entry.write_bytes(bad)
    assert tokenize(emb, path, text) == want
    assert entry.read_bytes() == good  # rewritten as it was built


def test_an_entry_of_another_file_is_not_used(emb: Any, own_cache: Path, tmp_path: Path) -> None:
    """An entry renamed to another file's key still names its own file inside: rebuilt."""
    gpt2 = copy_vocab("gpt-2", tmp_path)
    falcon = copy_vocab("falcon", tmp_path)  # a BPE too, other ids
    text, want = cases("gpt-2")[11]
    tokenize(emb, gpt2, text)
    (gpt2_entry,) = entries(own_cache)
    tokenize(emb, falcon, text)
    (falcon_entry,) = (p for p in entries(own_cache) if p != gpt2_entry)
    shutil.copyfile(gpt2_entry, falcon_entry)
    falcon_text, falcon_want = cases("falcon")[11]
    assert tokenize(emb, falcon, falcon_text) == falcon_want
    assert tokenize(emb, gpt2, text) == want


def test_a_changed_file_gets_a_new_entry(emb: Any, own_cache: Path, tmp_path: Path) -> None:
    path = copy_vocab("gpt-2", tmp_path)
    text, want = cases("gpt-2")[11]
    tokenize(emb, path, text)
    shutil.copyfile(DATA / "ggml-vocab-llama-bpe.gguf", path)  # same name, other vocabulary
    llama_text, llama_want = cases("llama-bpe")[11]
    assert tokenize(emb, path, llama_text) == llama_want
    assert len(entries(own_cache)) == 2


def header_facts(path: Path) -> tuple[Any, ...]:
    h = read_gguf_header(path)
    arrays = {k: v.values() if isinstance(v, GGUFArray) else v for k, v in h.kv.items()}
    return arrays, h.tensors, h.header_size, h.data_offset


def test_header_string_ends_are_kept_and_jumped_to(own_cache: Path, tmp_path: Path) -> None:
    path = copy_vocab("llama-bpe", tmp_path)
    walked = header_facts(path)
    (ends_entry,) = entries(own_cache, "ends-")
    ends = json.loads(ends_entry.read_text())["ends"]
    h = read_gguf_header(path)
    tokens, merges = h.array("tokenizer.ggml.tokens"), h.array("tokenizer.ggml.merges")
    assert tokens is not None and merges is not None
    # one kept end per big string array: where its strings start -> where they end
    assert {int(k): v for k, v in ends.items()} == {
        tokens.offset: tokens.offset + tokens.nbytes,
        merges.offset: merges.offset + merges.nbytes,
    }
    assert header_facts(path) == walked  # read with the kept ends
    assert len(tokens.values()) == 128_256 and len(merges.values()) == 280_147


@pytest.mark.parametrize("shift", [-1, 8, 1_000])
def test_a_misleading_string_end_is_walked_again(
    own_cache: Path, tmp_path: Path, shift: int
) -> None:
    path = copy_vocab("llama-bpe", tmp_path)
    walked = header_facts(path)
    (ends_entry,) = entries(own_cache, "ends-")
    doc = json.loads(ends_entry.read_text())
    doc["ends"] = {k: v + shift for k, v in doc["ends"].items()}
    ends_entry.write_text(json.dumps(doc))
    assert header_facts(path) == walked
    fixed = json.loads(ends_entry.read_text())["ends"]
    assert fixed != doc["ends"]  # the walk's ends replaced the misleading ones


def test_no_cache_reads_and_writes_nothing(emb: Any, own_cache: Path, tmp_path: Path) -> None:
    path = copy_vocab("gpt-2", tmp_path)
    text, want = cases("gpt-2")[11]
    r = emb("tokenize", "--from", str(path), text, "--json", "--no-cache", ok=True)
    assert json.loads(r.stdout)["ids"] == want
    assert not own_cache.exists() or not list(own_cache.iterdir())
