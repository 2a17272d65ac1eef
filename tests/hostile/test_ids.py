"""Token ids: out of range, negative, not ASCII digits, missing, or from a tokenizer that is
not there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers.hostile import GOOD, _file, run_refused

# Bad ids per command, against the default 3000-row table and the 8-row file.
ID_CASES: dict[str, list[str]] = {
    "lookup-no-ids": ["lookup"],
    "lookup-out-of-range": ["lookup", "3000"],
    "lookup-way-out-of-range": ["lookup", str(2**70)],
    "lookup-negative": ["lookup", "-1"],
    "lookup-negative-comma": ["lookup", "1,-2"],
    "lookup-not-int": ["lookup", "abc"],
    "lookup-float": ["lookup", "1.5"],
    "lookup-hex": ["lookup", "0x10"],
    "lookup-empty-string": ["lookup", ""],
    "lookup-commas-only": ["lookup", ",,,"],
    "lookup-ids-not-int": ["lookup", "1", "--ids", "x"],
    "lookup-underscore": ["lookup", "1_0"],
    "lookup-plus": ["lookup", "+5"],
    "lookup-arabic-indic": ["lookup", "\u0663"],
    "lookup-fullwidth": ["lookup", "\uff15"],
    "lookup-superscript": ["lookup", "\u00b2"],
    "lookup-ids-underscore": ["lookup", "--ids", "1_0"],
    "lookup-batch-plus": ["lookup", "--batch", "1,+2"],
    "padding-ids-underscore": ["padding", "--ids", "1_0"],
    "tie-ids-plus": ["tie", "--ids", "+1"],
    "neighbors-underscore": ["neighbors", "1_0"],
    "lookup-text-no-tokenizer": ["lookup", "--text", "hello"],
    "padding-ids-out-of-range": ["padding", "--ids", "5000"],
    "padding-ids-negative": ["padding", "--ids", "-3"],
    "padding-ids-not-int": ["padding", "--ids", "x"],
    "tie-ids-out-of-range": ["tie", "--ids", "3000"],
    "tie-ids-negative": ["tie", "--ids", "-1"],
    "tie-ids-not-int": ["tie", "--ids", "1.0"],
    "unknown-option": ["stats", "--frobnicate"],
    "presets-extra-arg": ["presets", "extra"],
    "presets-unknown-option": ["presets", "--vocab", "8"],
}
FILE_ID_CASES: dict[str, list[str]] = {
    "lookup-out-of-range": ["lookup", "8"],
    "lookup-negative": ["lookup", "-8"],
    "lookup-no-ids": ["lookup"],
    "lookup-text-no-tokenizer": ["lookup", "--text", "hi"],
    "padding-pad-outside": ["padding", "--pad", "-1"],
    "tie-ids-out-of-range": ["tie", "--ids", "99"],
}


@pytest.mark.parametrize("case", sorted(ID_CASES))
def test_bad_ids_built(emb: Any, tmp_path: Path, case: str) -> None:
    run_refused(emb, tmp_path, ID_CASES[case])


@pytest.mark.parametrize("case", sorted(FILE_ID_CASES))
def test_bad_ids_file(emb: Any, tmp_path: Path, case: str) -> None:
    src = _file(tmp_path, GOOD)
    run_refused(emb, tmp_path, [*FILE_ID_CASES[case], *src])


@given(st.text(max_size=12))
def test_token_ids_are_ascii_digits_only(text: str) -> None:
    import re

    from emb_cli.sources.config.spec import parse_token_id

    plain = re.fullmatch(r"-?[0-9]+", text) is not None
    assert parse_token_id(text) == (int(text) if plain else None)
