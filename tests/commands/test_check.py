"""emb check on the command line: exit codes, JSON Lines in order, --jobs, --select/--ignore,
--strict, --data, bad input; MiniLM as published."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from emb_cli.cli import app
from tests.helpers.llama3_like import chat_lines, save_llama3_like
from tests.models import tiny_llama

runner = CliRunner()


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("check")
    out = {
        "base": save_llama3_like(root / "base"),
        "fixed": save_llama3_like(root / "fixed", template_rows="mean"),
        "nan": save_llama3_like(root / "nan", template_rows="mean", nan_row=7),
    }
    tiny = root / "tiny"
    tiny_llama(300, 64, tied=True).save_pretrained(tiny)
    out["tiny"] = tiny
    for name, pads in {"pad-outside": (10000, 10000), "pad-disagree": (5, 0)}.items():
        path = root / name
        tiny_llama(300, 64, tied=True).save_pretrained(path)
        _set(path / "config.json", pad_token_id=pads[0])
        if pads[1] is not None:
            _set(path / "generation_config.json", pad_token_id=pads[1])
        out[name] = path
    chats = root / "train.jsonl"
    chats.write_text("\n".join(chat_lines(50, "<|reserved_special_token_3|>")) + "\n")
    out["reserved.jsonl"] = chats
    return out


def _set(path: Path, **keys: Any) -> None:
    doc = json.loads(path.read_text())
    doc.update(keys)
    path.write_text(json.dumps(doc))


def run(*args: str | Path) -> Any:
    return runner.invoke(app, ["check", *map(str, args)], catch_exceptions=False)


def docs(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def statuses(doc: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["status"] for c in doc["checks"]}


def test_a_clean_checkpoint_exits_0_and_a_failing_one_1(ckpt: dict[str, Path]) -> None:
    good = run(ckpt["fixed"], "--json")
    assert good.exit_code == 0, good.stderr
    [doc] = docs(good.stdout)
    assert list(doc) == ["source", "status", "checks"]
    assert doc["status"] == "pass"
    assert [list(c)[:3] for c in doc["checks"]] == [["name", "status", "summary"]] * 7
    bad = run(ckpt["base"], "--json")
    assert bad.exit_code == 1
    assert statuses(docs(bad.stdout)[0])["special"] == "fail"


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_three_sources_give_three_json_lines_in_order(ckpt: dict[str, Path], jobs: str) -> None:
    paths = [ckpt["fixed"], ckpt["base"], ckpt["tiny"]]
    r = run(*paths, "--json", "--jobs", jobs)
    assert r.exit_code == 1  # base fails special
    got = docs(r.stdout)
    assert [d["source"]["name"] for d in got] == [str(p) for p in paths]
    assert [d["status"] for d in got] == ["pass", "fail", "warn"]


def test_data_fails_with_the_count_and_first_line(ckpt: dict[str, Path]) -> None:
    r = run(ckpt["fixed"], "--data", ckpt["reserved.jsonl"], "--json")
    assert r.exit_code == 1
    data = docs(r.stdout)[0]["checks"][-1]
    assert data["name"] == "data" and data["status"] == "fail"
    assert [(t["token"], t["count"], t["first_line"]) for t in data["untrained"]] == [
        ("<|reserved_special_token_3|>", 5, 1)
    ]


def test_select_ignore_strict(ckpt: dict[str, Path]) -> None:
    r = run(ckpt["tiny"], "--select", "tie,finite", "--json")
    assert r.exit_code == 0
    assert statuses(docs(r.stdout)[0]) == {"tie": "pass", "finite": "pass"}
    r = run(ckpt["tiny"], "--ignore", "trained", "--ignore", "undertrained", "--json")
    assert set(statuses(docs(r.stdout)[0])) == {"vocab", "tie", "padding", "finite", "special"}
    # a tiny random Llama is still at its init: trained warns, and --strict makes that fail
    assert run(ckpt["tiny"], "--select", "trained").exit_code == 0
    strict = run(ckpt["tiny"], "--select", "trained", "--strict", "--json")
    assert strict.exit_code == 1
    assert statuses(docs(strict.stdout)[0]) == {"trained": "fail"}


@pytest.mark.parametrize(
    ("name", "summary"),
    [
        ("pad-outside", "pad id 10000 (from config) has no row: the table has rows 0..299; "
         "nn.Embedding(padding_idx=10000) would raise"),
        ("pad-disagree", "pad ids disagree: config says 5, generation_config says 0"),
    ],
)  # fmt: skip
def test_padding_fails(ckpt: dict[str, Path], name: str, summary: str) -> None:
    r = run(ckpt[name], "--select", "padding", "--json")
    assert r.exit_code == 1
    [check] = docs(r.stdout)[0]["checks"]
    assert (check["status"], check["summary"]) == ("fail", summary)


def test_padding_passes_and_reports_the_row(ckpt: dict[str, Path]) -> None:
    [check] = docs(run(ckpt["tiny"], "--select", "padding", "--json").stdout)[0]["checks"]
    assert (check["status"], check["summary"], check["row_is_zero"]) == (
        "pass",
        "pad row 0 is exactly zero",
        True,
    )


def test_nan_row_fails_finite_in_the_table(ckpt: dict[str, Path]) -> None:
    r = run(ckpt["nan"])
    assert r.exit_code == 1
    assert "finite" in r.stdout and "1 row holds NaN or Inf: 7" in r.stdout
    assert "FAIL: " in r.stdout


def test_minilm_as_published_passes(minilm_dir: Path) -> None:
    r = run(minilm_dir, "--json")
    assert r.exit_code == 0, r.stderr
    got = statuses(docs(r.stdout)[0])
    assert got == {
        "vocab": "pass",
        "tie": "skip",  # an encoder: no LM head
        "padding": "pass",
        "finite": "pass",
        "trained": "pass",
        "undertrained": "warn",  # glyph tokens of BERT's vocabulary, never seen in training
        "special": "pass",
    }


def test_built_table_without_source(ckpt: dict[str, Path]) -> None:
    r = run("--json", "--select", "vocab,tie,special,padding")
    assert r.exit_code == 0
    doc = docs(r.stdout)[0]
    assert doc["source"]["origin"] == "default"
    assert statuses(doc) == {"vocab": "skip", "tie": "skip", "padding": "pass", "special": "skip"}


def test_data_without_a_tokenizer_is_skipped(ckpt: dict[str, Path]) -> None:
    r = run(ckpt["tiny"], "--select", "data", "--data", ckpt["reserved.jsonl"], "--json")
    assert r.exit_code == 0
    [check] = docs(r.stdout)[0]["checks"]
    assert (check["status"], check["summary"]) == ("skip", "no tokenizer to tokenize the data with")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--select", "vocab,nope"], "no check named 'nope'; the checks are: vocab, tie, "
         "padding, finite, trained, undertrained, special, data"),
        (["--data", "missing.jsonl"], "--data missing.jsonl: no such file"),
        (["--jobs", "0"], "--jobs must be at least 1, got 0"),
    ],
)  # fmt: skip
def test_bad_options_exit_2(ckpt: dict[str, Path], args: list[str], message: str) -> None:
    r = run(ckpt["fixed"], *args)
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == f"Error: {message}\n"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 2 is not JSON: Expecting property name enclosed in double quotes"),
        ('{"prompt": "x"}', 'line 2 has neither "text" (a string) nor "messages" (a list)'),
        ('{"messages": ["hi"]}', "line 2: `messages` must be a list of objects (role, content)"),
        (
            '{"messages": [{"role": 1, "content": "x"}]}',
            "line 2: the chat template refused the messages: ",
        ),
    ],
)
def test_bad_data_lines_exit_2(
    ckpt: dict[str, Path], tmp_path: Path, line: str, message: str
) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "fine"}\n' + line + "\n")
    r = run(ckpt["fixed"], "--data", path)
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr.startswith(f"Error: --data {path} {message}")


def test_chat_data_without_a_template_exits_2(tmp_path: Path, ckpt: dict[str, Path]) -> None:
    import shutil

    path = tmp_path / "no-template"
    shutil.copytree(ckpt["fixed"], path)
    (path / "chat_template.jinja").unlink(missing_ok=True)
    cfg = json.loads((path / "tokenizer_config.json").read_text())
    cfg.pop("chat_template", None)
    (path / "tokenizer_config.json").write_text(json.dumps(cfg))
    r = run(path, "--data", ckpt["reserved.jsonl"])
    assert r.exit_code == 2
    assert r.stderr == (
        f"Error: --data {ckpt['reserved.jsonl']} line 1 holds chat `messages` but the "
        "checkpoint has no chat template to render them with; give `text` instead\n"
    )


def test_sources_and_from_together_exit_2(ckpt: dict[str, Path]) -> None:
    r = run(ckpt["fixed"], "--from", ckpt["base"])
    assert r.exit_code == 2
    assert "either as arguments or with --from" in r.stderr
