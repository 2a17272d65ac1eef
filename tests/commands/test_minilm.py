"""all-MiniLM-L6-v2 as published: a trained BertModel with a tokenizer.json and no LM head.

Each expectation is read from the files with tokenizers and safetensors directly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

TABLE = "embeddings.word_embeddings.weight"  # BertModel saved without the `bert.` prefix
TEXT = "I love dogs"


def run(emb: Any, *args: str, code: int) -> dict[str, Any]:
    result = emb(*args, "--json")
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    return json.loads(result.stdout)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def tokenizer(minilm_dir: Path) -> Any:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(minilm_dir / "tokenizer.json"))
    # The shipped tokenizer.json pads every encoding to 128 with [PAD] (and truncates at
    # 128), a sentence-transformers batching setting; a lookup wants the text's tokens only.
    assert tok.padding["length"] == 128
    assert len(tok.encode(TEXT).ids) == 128
    tok.no_padding()
    tok.no_truncation()
    return tok


@pytest.fixture(scope="module")
def table(minilm_dir: Path) -> Any:
    from safetensors import safe_open

    with safe_open(str(minilm_dir / "model.safetensors"), "pt") as f:
        assert TABLE in f.keys()  # noqa: SIM118 (safe_open is not a dict)
        return f.get_tensor(TABLE)


def test_lookup_text(emb: Any, minilm_dir: Path, tokenizer: Any, table: Any) -> None:
    enc = tokenizer.encode(TEXT, add_special_tokens=False)
    assert enc.tokens == ["i", "love", "dogs"]  # uncased WordPiece, no [CLS]/[SEP]
    doc = run(emb, "lookup", "--from", str(minilm_dir), "--text", TEXT, code=0)
    assert doc["ids"] == enc.ids
    assert doc["tokens"] == enc.tokens
    assert doc["dtype"] == "float32"
    assert doc["shape"] == [1, 3, 384]
    assert doc["vectors"] == table[enc.ids].tolist()
    assert doc["norms"] == pytest.approx(table[enc.ids].double().norm(dim=1).tolist(), rel=1e-12)
    assert doc["source"]["tensor"] == TABLE
    assert doc["source"]["vocab_size"] == 30522


def test_lookup_text_special(emb: Any, minilm_dir: Path, tokenizer: Any, table: Any) -> None:
    enc = tokenizer.encode(TEXT, add_special_tokens=True)
    plain = tokenizer.encode(TEXT, add_special_tokens=False).ids
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    assert enc.ids == [cls, *plain, sep] == [101, *plain, 102]
    doc = run(emb, "lookup", "--from", str(minilm_dir), "--text", TEXT, "--special", code=0)
    assert doc["ids"] == enc.ids
    assert doc["tokens"] == ["[CLS]", "i", "love", "dogs", "[SEP]"]
    assert doc["vectors"] == table[enc.ids].tolist()


def test_lookup_ids_text_and_more_ids_in_order(
    emb: Any, minilm_dir: Path, tokenizer: Any, table: Any
) -> None:
    plain = tokenizer.encode(TEXT, add_special_tokens=False).ids
    doc = run(
        emb,
        "lookup",
        "7",
        "--from",
        str(minilm_dir),
        "--text",
        TEXT,
        "--ids",
        "0,5",
        "--ids",
        "102",
        code=0,
    )
    ids = [7, *plain, 0, 5, 102]
    assert doc["ids"] == ids
    assert doc["tokens"] == [tokenizer.id_to_token(i) for i in ids]
    assert doc["tokens"][-3:] == ["[PAD]", "[unused4]", "[SEP]"]
    assert doc["vectors"] == table[ids].tolist()


def test_lookup_text_without_tokenizer(emb: Any, arange_file: Path) -> None:
    result = emb("lookup", "--from", str(arange_file), "--text", TEXT)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: --text needs a tokenizer")
    assert "Traceback" not in result.stderr


def test_tie_no_head(emb: Any, minilm_dir: Path) -> None:
    config = json.loads((minilm_dir / "config.json").read_text())
    assert config["architectures"] == ["BertModel"]
    assert "tie_word_embeddings" not in config
    doc = run(emb, "tie", "--from", str(minilm_dir), code=0)
    assert doc["verdict"] == "no-head"
    assert doc["ok"] is True
    assert doc["head_tensor"] is None
    assert doc["embedding_tensor"] == TABLE
    assert doc["config_tied"] is True  # PretrainedConfig's default, as transformers would read it
    assert doc["config_tied_source"] == "default for model_type 'bert'"


def test_padding_pad_row_is_trained(emb: Any, minilm_dir: Path, table: Any, tokenizer: Any) -> None:
    assert tokenizer.token_to_id("[PAD]") == 0
    row = table[0].double()
    assert float(row.abs().max()) > 0
    doc = run(emb, "padding", "--from", str(minilm_dir), code=0)
    assert doc["pad_token_id"] == 0
    assert doc["pad_source"] == "config"
    assert doc["pad_ids_found"] == {"config": 0, "tokenizer": 0}
    assert doc["sources_disagree"] is False
    assert doc["verdict"] == "nonzero"
    assert doc["ok"] is True
    assert doc["row_is_zero"] is False
    assert doc["row_norm"] == pytest.approx(float(row.norm()), rel=1e-12)
    assert doc["row_max_abs"] == float(row.abs().max())
    median = float(table[1:].double().norm(dim=1).median())  # 30521 rows: an exact middle
    assert doc["median_row_norm"] == pytest.approx(median, rel=1e-6)

    strict = run(emb, "padding", "--from", str(minilm_dir), "--strict", code=1)
    assert strict["verdict"] == "nonzero"
    assert strict["ok"] is False


def test_init_stats_trained(emb: Any, minilm_dir: Path, table: Any) -> None:
    live = table[1:].double()  # the pad row is left out of the init statistics
    doc = run(emb, "init-stats", "--from", str(minilm_dir), code=0)
    assert doc["verdict"] == "trained"
    assert doc["expected"]["std"] == 0.02  # config initializer_range
    assert doc["excluded_rows"] == [0]
    assert doc["measured"]["std"] == pytest.approx(float(live.std(unbiased=False)), rel=1e-9)
    assert max(abs(z) for z in doc["z_scores"].values()) > 5
    assert emb("init-stats", "--from", str(minilm_dir), "--expect", "trained").exit_code == 0
    assert emb("init-stats", "--from", str(minilm_dir), "--expect", "init").exit_code == 1
