"""--verbose wherever a source can be remote (info and diff too), and no fetch count for a
fetch that failed before any byte."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.helpers import assert_refused
from tests.helpers.range_server import Server

pytestmark = pytest.mark.usefixtures("only_loopback")

FETCHED = re.compile(r"fetched ([\d,]+) bytes in (\d+) requests\n")


def test_info_and_diff_take_verbose(emb: Any, server: Server) -> None:
    url = server.url("files/llama/model.safetensors")
    r = emb("info", url, "--json", "--verbose", ok=True)
    assert r.stdout.startswith("{")
    m = FETCHED.fullmatch(r.stderr)
    assert m and int(m.group(1).replace(",", "")) > 0, r.stderr
    r = emb("diff", url, server.url("files/sharded/model.safetensors.index.json"), "--verbose")
    assert r.exit_code == 0, r.stderr
    assert FETCHED.fullmatch(r.stderr), r.stderr
    assert emb("info", url, "--json", ok=True).stderr == ""


def test_a_fetch_that_failed_at_once_prints_only_its_error(emb: Any, server: Server) -> None:
    missing = server.url("files/nowhere/model.safetensors")
    for argv in (
        ("lookup", "3", "--from", missing, "--verbose"),
        ("info", missing, "--verbose"),
        ("diff", missing, "--init", "--verbose"),
    ):
        r = emb(*argv)
        assert_refused(r, "not found")
        assert "fetched" not in r.stderr
