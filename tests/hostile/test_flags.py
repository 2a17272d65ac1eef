"""Table options on the command line: out of range, not numbers, contradicting --from, and
sizes too large to build (which `stats` still answers by arithmetic)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.hostile import ALL, BUILDING, COMMANDS, GOOD, _file, run_refused

FLAG_CASES: dict[str, list[str]] = {
    "vocab-zero": ["--vocab", "0"],
    "vocab-negative": ["--vocab", "-5"],
    "dim-zero": ["--dim", "0"],
    "dim-negative": ["--dim", "-1"],
    "vocab-not-int": ["--vocab", "many"],
    "dim-float": ["--dim", "8.5"],
    "pad-outside": ["--pad", "5000"],
    "pad-negative": ["--pad", "-1"],
    "pad-word": ["--pad", "zero"],
    "std-zero": ["--init-std", "0"],
    "std-nan": ["--init-std", "nan"],
    "std-inf": ["--init-std", "inf"],
    "uniform-reversed": ["--init", "uniform", "--low", "1", "--high", "-1"],
    "uniform-inf": ["--init", "uniform", "--low", "-inf", "--high", "1"],
    "uniform-nan": ["--init", "uniform", "--low", "nan"],
    "seed-negative": ["--seed", "-1"],
    "seed-huge": ["--seed", str(2**64)],
    "unknown-preset": ["--preset", "no-such-model"],
    "preset-escapes": ["--preset", "../configs/default"],
    "preset-name-too-long": ["--preset", "p" * 300],
    "preset-and-config": ["--preset", "gpt2", "--config", "x.json"],
    "tensor-without-from": ["--tensor", "wte.weight"],
    "unknown-init": ["--init", "magic"],
    "unknown-dtype": ["--dtype", "int4"],
    "seed-10**30": ["--seed", str(10**30)],
    "std-1e308": ["--init-std", "1e308"],
    "std-1e308-bfloat16": ["--init-std", "1e308", "--dtype", "bfloat16"],
    "std-1e5-float16": ["--init-std", "1e5", "--dtype", "float16"],
    "std-tiny": ["--init-std", "1e-320"],
    "uniform-1e308": ["--init", "uniform", "--low", "-1e308", "--high", "1e308"],
    "uniform-narrower-than-float": ["--init", "uniform", "--low", "1", "--high", "1.0000000001"],
    "uniform-subnormal": ["--init", "uniform", "--low", "0", "--high", "5e-324"],
    "vocab-4000-digits": ["--vocab", "9" * 4000, "--dim", "8"],
    "dim-4000-digits": ["--dim", "9" * 4000],
    "pad-underscore": ["--pad", "1_0"],
    "pad-plus": ["--pad", "+5"],
}
# Absurd sizes: arithmetic for `stats`, a refusal for commands that build the table.
TOO_LARGE: dict[str, list[str]] = {
    "vocab-10**15": ["--vocab", "1000000000000000", "--dim", "8"],
    "dim-10**12": ["--dim", "1000000000000"],
    "vocab-2**70": ["--vocab", str(2**70), "--dim", "8"],
}
# Tables that fit, with scratch that does not: the check counts every array, not the table.
SCRATCH_TOO_LARGE: dict[str, list[str]] = {
    "lookup-dim-10**9": ["lookup", "0", "--vocab", "1", "--dim", "1000000000", "--pad", "none"],
    "lookup-batch-dim-10**9": [
        "lookup",
        "--batch",
        "0",
        "--vocab",
        "1",
        "--dim",
        "1000000000",
        "--pad",
        "none",
    ],
}
# Flags that describe a build, given with --from: contradictory.
FROM_CONFLICTS: dict[str, list[str]] = {
    "from-and-vocab": ["--vocab", "8"],
    "from-and-preset": ["--preset", "gpt2"],
    "from-and-tie": ["--tie"],
    "from-pad-word": ["--pad", "zero"],
}


@pytest.mark.parametrize("command", ALL)
@pytest.mark.parametrize("case", sorted(FLAG_CASES))
def test_bad_flags(emb: Any, tmp_path: Path, case: str, command: str) -> None:
    run_refused(emb, tmp_path, [*COMMANDS[command], *FLAG_CASES[case]])


@pytest.mark.parametrize("command", BUILDING)
@pytest.mark.parametrize("case", sorted(TOO_LARGE))
def test_too_large_to_build(emb: Any, tmp_path: Path, case: str, command: str) -> None:
    run_refused(emb, tmp_path, [*COMMANDS[command], *TOO_LARGE[case]], "memory")


@pytest.mark.parametrize("case", sorted(TOO_LARGE))
def test_too_large_is_arithmetic_for_stats(emb: Any, case: str) -> None:
    result = emb("stats", "--json", *TOO_LARGE[case], ok=True)
    report = json.loads(result.stdout)
    vocab = (
        int(TOO_LARGE[case][TOO_LARGE[case].index("--vocab") + 1])
        if "--vocab" in TOO_LARGE[case]
        else None
    )
    if vocab is not None:
        assert json.dumps(report).count(str(vocab * 8)) >= 1


@pytest.mark.parametrize("case", sorted(SCRATCH_TOO_LARGE))
def test_scratch_too_large(emb: Any, tmp_path: Path, case: str) -> None:
    run_refused(emb, tmp_path, SCRATCH_TOO_LARGE[case], "memory")


def test_resize_write_seed_out_of_range(emb: Any, tmp_path: Path) -> None:
    src = _file(tmp_path, GOOD)
    for seed in (str(2**64), str(10**30), "-1"):
        out = tmp_path / f"out-{seed[:3]}.safetensors"
        run_refused(emb, tmp_path, ["resize", "10", *src, "--write", str(out), "--seed", seed])
        assert not out.exists()


def test_stats_of_10_to_15_rows(emb: Any) -> None:
    result = emb("stats", "--vocab", "1000000000000000", "--dim", "8", ok=True)
    assert result.stderr == ""


def test_lookup_of_10_to_15_rows_names_memory(emb: Any, tmp_path: Path) -> None:
    run_refused(
        emb, tmp_path, ["lookup", "1", "--vocab", "1000000000000000"], "memory", "emb stats"
    )


@pytest.mark.parametrize("command", ALL)
@pytest.mark.parametrize("case", sorted(FROM_CONFLICTS))
def test_from_conflicts(emb: Any, tmp_path: Path, case: str, command: str) -> None:
    src = _file(tmp_path, GOOD)
    run_refused(emb, tmp_path, [*COMMANDS[command], *src, *FROM_CONFLICTS[case]])


def test_pad_5000_names_the_table(emb: Any, tmp_path: Path) -> None:
    run_refused(emb, tmp_path, ["padding", "--pad", "5000"], "5000", "2999")
