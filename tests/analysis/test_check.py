"""emb check's analysis on the Llama-3-like checkpoint (tests/helpers/llama3_like.py) and
its variants: every check's pass and fail, with the evidence a user reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from emb_cli.analysis.check import CheckOutcome, run_check
from emb_cli.analysis.check_status import CHECK_NAMES
from emb_cli.sources.resolve import SourceArgs, open_source
from tests.helpers.llama3_like import (
    SPECIAL,
    TEMPLATE_TOKENS,
    chat_lines,
    save_llama3_like,
    token_id,
    tokenizer,
)

VARIANTS: dict[str, dict[str, Any]] = {
    "base": {},
    "fixed": {"template_rows": "mean"},
    "tied-config": {"template_rows": "mean", "config_tied": True},
    "short": {"template_rows": "mean", "rows_short": 3},
    "nan": {"template_rows": "mean", "nan_row": 7},
    "padded": {"template_rows": "mean", "rows_short": -11},  # 437 -> 448, a multiple of 64
    "odd-rows": {"template_rows": "mean", "rows_short": -5},
}


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("llama3")
    return {name: save_llama3_like(root / name, **kw) for name, kw in VARIANTS.items()}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("data")
    bad, clean = root / "reserved.jsonl", root / "clean.jsonl"
    bad.write_text("\n".join(chat_lines(50, "<|reserved_special_token_3|>")) + "\n")
    clean.write_text("\n".join(chat_lines(50)) + "\n")
    text = root / "plain.txt"
    text.write_text("hello world\n\nthe quick brown fox <|eot_id|>\n")
    return {"reserved": bad, "clean": clean, "text": text}


def check(path: Path, **kw: Any) -> CheckOutcome:
    return run_check(open_source(SourceArgs(from_=path)), **kw)


def by_name(outcome: CheckOutcome) -> dict[str, Any]:
    return {c.name: c for c in outcome.report.checks}


def test_llama3_base_fails_special_naming_the_chat_template_rows(ckpt: dict[str, Path]) -> None:
    out = check(ckpt["base"])
    checks = by_name(out)
    assert out.report.status == "fail"
    special = checks["special"]
    assert special.status == "fail"
    assert [t.token for t in special.untrained] == list(TEMPLATE_TOKENS)
    assert all(t.zero and t.used_as == ["chat_template"] for t in special.untrained)
    assert special.summary == (
        "3 of 5 special tokens have untrained rows: <|start_header_id|> (zero row; "
        "chat_template), <|end_header_id|> (zero row; chat_template), <|eot_id|> (zero row; "
        "chat_template)"
    )
    # BOS and EOS come from tokenizer_config.json and config.json alike
    bos = next(t for t in special.tokens if t.token == "<|begin_of_text|>")
    assert bos.used_as == ["bos_token (tokenizer_config)", "bos_token_id (config)"]
    # undertrained warns about them too: they are not declared unused
    ut = checks["undertrained"]
    assert ut.status == "warn"
    assert [r.token for r in ut.unexpected] == list(TEMPLATE_TOKENS)
    assert ut.flagged == ut.expected + 3


def test_the_rows_set_to_the_mean_pass(ckpt: dict[str, Path]) -> None:
    out = check(ckpt["fixed"])
    statuses = {c.name: c.status for c in out.report.checks}
    assert statuses == {
        "vocab": "pass",
        "tie": "pass",
        "padding": "skip",  # Llama 3 names no pad token
        "finite": "pass",
        "trained": "pass",
        "undertrained": "pass",
        "special": "pass",
    }
    assert out.report.status == "pass"
    special = by_name(out)["special"]
    assert special.summary == (
        "5 special tokens (3 written by the chat template) all have trained rows"
    )
    ut = by_name(out)["undertrained"]
    reserved = [token_id(t) for t in SPECIAL if "reserved" in t]
    assert ut.flagged == ut.expected == len(reserved)  # the reserved rows, small and aligned
    assert np.flatnonzero(out.measured.flagged).tolist() == sorted(reserved)


def test_measured_holds_the_shared_passes(ckpt: dict[str, Path]) -> None:
    import torch
    from safetensors.torch import load_file

    out = check(ckpt["base"])
    table = load_file(str(ckpt["base"] / "model.safetensors"))["model.embed_tokens.weight"]
    expected = torch.linalg.vector_norm(table.double(), dim=1).numpy()
    np.testing.assert_allclose(out.measured.row_norms, expected, rtol=1e-12)
    m = out.measured
    assert m.init is not None and m.init.verdict == "trained"
    assert m.undertrained is not None and m.undertrained.zero_rows == 3
    assert m.tie is not None and m.tie.verdict == "untied"
    assert m.padding is not None and m.padding.verdict == "no-pad-token"
    ids = {token_id(t): t for t in ("<|begin_of_text|>", "<|end_of_text|>", *TEMPLATE_TOKENS)}
    assert m.special_ids == dict(sorted(ids.items()))


def test_config_tied_with_a_different_head_fails_tie(ckpt: dict[str, Path]) -> None:
    tie = by_name(check(ckpt["tied-config"]))["tie"]
    assert (tie.status, tie.verdict, tie.config_tied) == ("fail", "diverged", True)
    assert tie.summary == (
        "diverged: config ties them but the values differ: transformers will refuse to tie"
    )


def test_a_table_shorter_than_the_tokenizer_fails_vocab(ckpt: dict[str, Path]) -> None:
    vocab = by_name(check(ckpt["short"], select=["vocab"]))["vocab"]
    size = len(tokenizer())  # type: ignore[arg-type]
    assert (vocab.status, vocab.tokenizer_size, vocab.embedding_rows) == ("fail", size, size - 3)
    names = [f"<|reserved_special_token_{i}|>" for i in (13, 14, 15)]
    assert [(r.id, r.token) for r in vocab.ids_past_table] == [
        (size - 3 + k, t) for k, t in enumerate(names)
    ]
    assert vocab.summary == (
        f"the tokenizer has {size} tokens but the table only {size - 3} rows: 3 ids have no "
        f"row: {size - 3} '{names[0]}', {size - 2} '{names[1]}', {size - 1} '{names[2]}'"
    )


def test_rows_past_the_tokenizer_are_explained_or_warned(ckpt: dict[str, Path]) -> None:
    padded = by_name(check(ckpt["padded"], select=["vocab"]))["vocab"]
    assert (padded.status, padded.extra_rows) == ("pass", 11)
    assert padded.summary == (
        "437 tokens, 448 rows: the table is the tokenizer's 437 rounded up to a multiple of 64"
    )
    odd = by_name(check(ckpt["odd-rows"], select=["vocab"]))["vocab"]
    assert (odd.status, odd.extra_rows, odd.extra_rows_reason) == ("warn", 5, None)
    assert "5 rows past the tokenizer's 437 tokens" in odd.summary


def test_a_nan_row_fails_finite(ckpt: dict[str, Path]) -> None:
    finite = by_name(check(ckpt["nan"], select=["finite"]))["finite"]
    assert (finite.status, finite.nonfinite_rows) == ("fail", 1)
    token = tokenizer().convert_ids_to_tokens(7)  # type: ignore[attr-defined]
    assert [(r.id, r.token) for r in finite.rows] == [(7, token)]
    assert finite.summary == f"1 row holds NaN or Inf: 7 {token!r}"


def test_data_using_a_reserved_token_fails_with_count_and_line(
    ckpt: dict[str, Path], data: dict[str, Path]
) -> None:
    out = check(ckpt["fixed"], data=[data["reserved"]])
    d = by_name(out)["data"]
    assert (d.status, d.texts) == ("fail", 50)
    [used] = d.untrained
    assert (used.token, used.count, used.first_file, used.first_line) == (
        "<|reserved_special_token_3|>",
        5,
        str(data["reserved"]),
        1,
    )
    assert used.id == token_id("<|reserved_special_token_3|>") and not used.zero


def test_clean_data_passes_and_counts_every_token(
    ckpt: dict[str, Path], data: dict[str, Path]
) -> None:
    from transformers import AutoTokenizer

    d = by_name(check(ckpt["fixed"], data=[data["clean"]]))["data"]
    assert (d.status, d.untrained) == ("pass", [])
    hf = AutoTokenizer.from_pretrained(ckpt["fixed"])
    import json

    lines = data["clean"].read_text().splitlines()
    rendered = [hf.apply_chat_template(json.loads(x)["messages"], tokenize=False) for x in lines]
    expected = sum(len(hf(t, add_special_tokens=False).input_ids) for t in rendered)
    assert (d.texts, d.tokens) == (50, expected)


def test_base_model_data_hits_the_template_rows(
    ckpt: dict[str, Path], data: dict[str, Path]
) -> None:
    d = by_name(check(ckpt["base"], data=[data["clean"], data["text"]]))["data"]
    counts = {t.token: (t.count, t.first_file, t.first_line) for t in d.untrained}
    clean = str(data["clean"])
    assert counts == {
        "<|start_header_id|>": (100, clean, 1),
        "<|end_header_id|>": (100, clean, 1),
        "<|eot_id|>": (101, clean, 1),  # and once in plain.txt, line 3
    }
    assert d.texts == 52  # the empty line is no text


def test_chat_rendering_is_transformers(ckpt: dict[str, Path]) -> None:
    import json

    from transformers import AutoTokenizer

    from emb_cli.analysis.chat_template import compile_chat_template

    chat = compile_chat_template(open_source(SourceArgs(from_=ckpt["base"])))
    assert chat is not None
    hf = AutoTokenizer.from_pretrained(ckpt["base"])
    for line in chat_lines(3, "<|reserved_special_token_3|>", every=2):
        messages = json.loads(line)["messages"]
        assert chat.render(messages) == hf.apply_chat_template(messages, tokenize=False)


def test_select_ignore_and_strict(ckpt: dict[str, Path]) -> None:
    out = check(ckpt["fixed"], select=["vocab", "tie", "data"])
    assert [c.name for c in out.report.checks] == ["vocab", "tie"]  # data needs --data
    out = check(ckpt["fixed"], ignore=["special", "undertrained", "trained"])
    assert [c.name for c in out.report.checks] == ["vocab", "tie", "padding", "finite"]
    odd = check(ckpt["odd-rows"], select=["vocab"], strict=True)
    assert (odd.report.checks[0].status, odd.report.status) == ("fail", "fail")
    assert CHECK_NAMES[-1] == "data"


def test_a_gguf_chat_template_is_read(tmp_path: Path) -> None:
    """llama.cpp keeps the template in `tokenizer.chat_template`; special sees its tokens'
    ids from the GGUF metadata (eos, here) and the table's zero row."""
    import gguf

    from emb_cli.analysis.chat_template import template_text

    path = tmp_path / "m.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_embedding_length(8)
    w.add_token_list([f"tok{i}" for i in range(16)])
    w.add_eos_token_id(3)
    w.add_chat_template("{% for m in messages %}{{ m['content'] }}tok3{% endfor %}")
    rows = np.random.default_rng(0).normal(0, 0.02, (16, 8)).astype(np.float32)
    rows[3] = 0
    w.add_tensor("token_embd.weight", rows)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    source = open_source(SourceArgs(from_=path))
    assert template_text(source) == "{% for m in messages %}{{ m['content'] }}tok3{% endfor %}"
    special = by_name(run_check(source, select=["special"]))["special"]
    assert special.status == "fail"
    assert [(t.id, t.used_as, t.zero) for t in special.untrained] == [
        (3, ["eos_token_id (gguf)"], True)
    ]
