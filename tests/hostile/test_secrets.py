"""Credentials in a URL (`https://user:s3cretPW@host/...`) are never echoed: not in the
source line, the JSON, TSV, an error line, nor --verbose; the userinfo is shown as `***@`.
"""

from __future__ import annotations

import pytest

from tests.helpers import assert_refused
from tests.helpers.hostile import CASE_SECONDS, time_limit
from tests.helpers.range_server import Server

pytestmark = pytest.mark.usefixtures("only_loopback", "quick_retries")

SECRET = "s3cretPW"


def _with_userinfo(url: str, userinfo: str = f"user:{SECRET}") -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{userinfo}@{rest}"


def _no_secret(result: object) -> str:
    text = result.stdout + result.stderr  # type: ignore[attr-defined]
    assert SECRET not in text and "user:" not in text, text
    return text


# Commands that succeed on the served llama: each shows the source somewhere.
OK_CASES = {
    "lookup-human": ["lookup", "0"],
    "lookup-json": ["lookup", "0", "--json"],
    "lookup-verbose": ["lookup", "0", "--verbose"],
    "stats-json": ["stats", "--json"],
    "tie": ["tie"],
    "info-json": ["info"],
}


@pytest.mark.parametrize("case", OK_CASES)
def test_a_password_in_a_url_is_never_printed(emb, server: Server, case: str) -> None:
    url = _with_userinfo(server.url("files/llama/model.safetensors"))
    args = OK_CASES[case]
    argv = [*args, url, "--json"] if args[0] == "info" else [*args, "--from", url]
    with time_limit(CASE_SECONDS):
        result = emb(*argv)
    assert result.exit_code in (0, 1), (result.exit_code, result.stdout, result.stderr)
    text = _no_secret(result)
    assert "***@127.0.0.1" in text, text


def test_the_password_still_reaches_the_server(emb, server: Server) -> None:
    """Redacting the name does not drop the credentials from the request (HTTP Basic)."""
    server.clear()
    url = _with_userinfo(server.url("files/llama/model.safetensors"))
    emb("lookup", "0", "--from", url, ok=True)
    assert any(h.auth and h.auth.startswith("Basic ") for h in server.hits), server.hits


def test_a_sharded_index_names_its_shards_without_the_password(emb, server: Server) -> None:
    url = _with_userinfo(server.url("files/sharded/model.safetensors.index.json"))
    result = emb("info", url, "--json")
    assert result.exit_code == 0, result.stderr
    text = _no_secret(result)
    assert "***@" in text


ERROR_CASES = {
    "not-found": "files/llama/nothing.safetensors",
    "needs-token": "private/llama/model.safetensors",
    "forbidden": "forbidden/llama/model.safetensors",
    "not-a-weights-file": "files/llama/model.bin",
}


@pytest.mark.parametrize("case", ERROR_CASES)
def test_an_error_about_a_url_hides_its_password(emb, server: Server, case: str) -> None:
    url = _with_userinfo(server.url(ERROR_CASES[case]))
    with time_limit(CASE_SECONDS):
        result = emb("lookup", "0", "--from", url, "--verbose")
    assert_refused(result)
    _no_secret(result)


def test_an_unreachable_host_hides_the_password(emb) -> None:
    """httpx's ConnectError may quote the URL: the message is redacted too."""
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://user:{SECRET}@127.0.0.1:{port}/m.safetensors"
    with time_limit(CASE_SECONDS):
        result = emb("info", url, "--verbose")
    assert_refused(result)
    _no_secret(result)


@pytest.mark.parametrize(
    "userinfo", [f"user:{SECRET}", f":{SECRET}", f"user%3A:{SECRET}", f"u:{SECRET}%40x"]
)
def test_redact_keeps_no_part_of_the_userinfo(userinfo: str) -> None:
    from emb_cli.sources.remote.addresses import redact

    shown = redact(f"see https://{userinfo}@host:8443/a/m.safetensors?x=1 and more")
    assert shown == "see https://***@host:8443/a/m.safetensors?x=1 and more"
