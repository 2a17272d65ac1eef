"""The README's examples run: every ```text block that starts with `$ emb` is executed and
its output compared, so a stale sample fails the suite.

A block holds one or more `$ emb ARGS` lines, each followed by the stdout it prints (as in a
pipe: whole lines, no styles). Without a `...` line the output must match exactly (trailing
spaces aside); with one, the block is an excerpt and the lines shown must appear in order,
`...` standing for any number of lines. The commands run in a folder holding what the
README tells a reader to make: `./all-MiniLM-L6-v2` (the model the dev extra installs) and
`./tiny-llama` (the Llama the README's one-liner saves), and for `emb check` a Llama-3-like
checkpoint with `train.jsonl` (tests/helpers/llama3_like.py).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from emb_cli.cli import app

README = Path(__file__).resolve().parent.parent / "README.md"
GAP = "..."


@dataclass(frozen=True)
class Example:
    line: int  # of the `$ emb` line in the README, for the failure message
    argv: list[str]
    expected: list[str]


def examples(text: str) -> list[Example]:
    found: list[Example] = []
    for block in re.finditer(r"^```text\n(.*?)^```", text, flags=re.M | re.S):
        body = block.group(1).splitlines()
        if not body or not body[0].startswith("$ emb"):
            continue
        first = text[: block.start()].count("\n") + 2
        current: Example | None = None
        for offset, line in enumerate(body):
            if line.startswith("$ emb"):
                current = Example(first + offset, shlex.split(line[2:])[1:], [])
                found.append(current)
            else:
                assert current is not None
                current.expected.append(line.rstrip())
    return found


EXAMPLES = examples(README.read_text())


def matches(expected: list[str], actual: list[str]) -> bool:
    if GAP not in expected:
        return expected == actual
    it = iter(actual)  # each shown line found after the one before it
    return all(any(a == e for a in it) for e in expected if e != GAP)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory, minilm_dir: Path) -> Path:
    from tests.models import tiny_llama

    root = tmp_path_factory.mktemp("readme")
    (root / "all-MiniLM-L6-v2").symlink_to(minilm_dir)
    # the README's one-liner: LlamaConfig(vocab_size=96, hidden_size=16, ...), seed 0
    tiny_llama(96, 16, tied=False, seed=0).save_pretrained(root / "tiny-llama")
    # emb check's example: Llama-3-like, zero chat-template rows, 5 of 50 chats reserved
    from tests.helpers.llama3_like import chat_lines, save_llama3_like

    save_llama3_like(root / "llama-3-like")
    lines = chat_lines(50, "<|reserved_special_token_3|>")
    (root / "train.jsonl").write_text("\n".join(lines) + "\n")
    return root


def test_the_readme_has_examples() -> None:
    commands = {e.argv[0] for e in EXAMPLES}
    assert len(EXAMPLES) >= 10, EXAMPLES
    assert {"lookup", "stats", "tie", "neighbors", "info", "presets", "resize"} <= commands


def test_excerpt_matching() -> None:
    assert matches(["a", GAP, "c"], ["a", "b", "c"])
    assert not matches(["c", GAP, "a"], ["a", "b", "c"])
    assert not matches(["a", "c"], ["a", "b", "c"])


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: f"README:{e.line}")
def test_readme_example_output(
    example: Example, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(workdir)
    result = CliRunner().invoke(app, example.argv, env={"NO_COLOR": None, "COLUMNS": None})
    assert result.exit_code in (0, 1), (result.exit_code, result.stderr, result.exception)
    actual = [line.rstrip() for line in result.stdout.splitlines()]
    assert matches(example.expected, actual), (
        f"README line {example.line}: `emb {shlex.join(example.argv)}` now prints:\n"
        + "\n".join(actual)
    )
