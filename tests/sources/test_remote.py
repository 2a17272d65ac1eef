"""Remote checkpoints over HTTP range requests, against servers on 127.0.0.1 in this process.

The handler serves a tmp folder with `Range: bytes=a-b` (206 + Content-Range, 416 past the
end), counts the bytes it sends, and has routes for the cases a real host produces:
/files/ (ranges), /norange/ (ignores Range: 200), /redirect/ (302 to /files/), /private/
(401 without a token), /forbidden/ (403), /chunked/ (Transfer-Encoding: chunked), /drop/
and /dropmid/ (the first request for each range loses its connection), /flaky/ (503 once),
the misbehaving servers of /hostile/NAME/, and /ORG/REPO/resolve/REV/FILE (the Hub: 302 to
a "CDN" on another host name, localhost, so a token must not follow; org "ghost" is a repo
the Hub does not know). The same handler also runs over TLS with a certificate made here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from emb_cli.sources.checkpoint import open_checkpoint
from emb_cli.sources.loaded import LoadedSource
from tests.helpers import assert_refused
from tests.helpers.range_server import BIG_DIM, DIM, EMBED, VOCAB, Server, _start

pytestmark = pytest.mark.usefixtures("only_loopback", "quick_retries")


@dataclass
class TlsServer:
    server: Server
    cert: Path  # trust this (SSL_CERT_FILE) to talk to it


@pytest.fixture(scope="session")
def tls_server(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    """The same files over https, with a self-signed certificate for 127.0.0.1 and localhost."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command makes the test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=emb-test",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv = Server(server.root, 0, scheme="https")
    httpd = _start(srv, ctx)
    yield TlsServer(srv, cert)
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def trust_tls(tls_server: TlsServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[TlsServer]:
    """huggingface_hub's session trusts the test certificate (SSL_CERT_FILE, read at creation)."""
    from huggingface_hub import close_session

    monkeypatch.setenv("SSL_CERT_FILE", str(tls_server.cert))
    close_session()
    yield tls_server
    monkeypatch.delenv("SSL_CERT_FILE")
    close_session()


def _doc(emb: Any, *args: str, code: int = 0, env: dict[str, str] | None = None) -> Any:
    r = emb(*args, "--json", env=env)
    assert r.exit_code == code, (r.exit_code, r.stdout, r.stderr)
    return json.loads(r.stdout)


def _without_names(doc: Any) -> Any:
    """The document less what names the source (a path here, a URL there)."""
    if isinstance(doc, dict):
        skip = ("path", "name", "origin", "kind", "file", "files")
        return {k: _without_names(v) for k, v in doc.items() if k not in skip}
    if isinstance(doc, list):
        return [_without_names(v) for v in doc]
    return doc


# ---------------------------------------------------------------- single file


def test_lookup_matches_local_exactly(emb: Any, server: Server) -> None:
    ids = ["0", "1", "7", "300", "511"]
    local = _doc(emb, "lookup", *ids, "--from", str(server.root / "llama" / "model.safetensors"))
    server.clear()
    remote = _doc(emb, "lookup", *ids, "--from", server.url("files/llama/model.safetensors"))
    assert remote["vectors"] == local["vectors"]
    assert remote["ids"] == local["ids"]
    assert not any(h.path.endswith(".safetensors") and h.range is None for h in server.hits)


def test_ids_only_lookup_does_not_fetch_the_tokenizer(emb: Any, server: Server) -> None:
    server.clear()
    doc = _doc(emb, "lookup", "5", "--from", server.url("files/llama/model.safetensors"))
    assert doc["tokens"] is None  # strings would cost the whole tokenizer.json
    _doc(emb, "info", server.url("files/llama/model.safetensors"))
    assert not any(p.endswith("tokenizer.json") for p in server.paths())


def test_big_table_costs_kilobytes(emb: Any, server: Server) -> None:
    path = server.root / "big" / "model.safetensors"
    ids = ["0", "5", "12345", "19999"]
    local = _doc(emb, "lookup", *ids, "--from", str(path))
    server.clear()
    r = emb(
        "lookup", *ids, "--from", server.url("files/big/model.safetensors"), "--json", "--verbose"
    )
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["vectors"] == local["vectors"]
    # 64 KiB speculative header read + rows (0 and 5 share a request) + 404s for the JSONs
    sent = server.sent()
    assert sent < 64 * 2**10 + 8 * BIG_DIM * 4 + 2**10, sent
    assert sent < path.stat().st_size / 200
    requested = [h for h in server.hits if h.path.endswith(".safetensors")]
    assert len(requested) == 3  # header (rows 0-5 lie in its 64 KiB), 12345, 19999
    # What the urllib client fetched before huggingface_hub's session: 67,592 bytes in 6
    # requests (benchmarks/bench_remote_requests.py); the client's count is the server's.
    m = re.fullmatch(r"fetched ([\d,]+) bytes in (\d+) requests\n", r.stderr)
    assert m, r.stderr
    fetched, requests = int(m.group(1).replace(",", "")), int(m.group(2))
    assert (fetched, requests) == (sent, len(server.hits))
    assert fetched <= 67_592 and requests <= 6


def test_info_and_stats_match_local(emb: Any, server: Server) -> None:
    local_path = str(server.root / "llama")  # a folder: config.json read, as remote does
    url = server.url("files/llama/model.safetensors")
    for cmd in ("info", "stats"):
        args = (cmd, local_path) if cmd == "info" else (cmd, "--from", local_path)
        local = _doc(emb, *args)
        server.clear()
        args = (cmd, url) if cmd == "info" else (cmd, "--from", url)
        remote = _doc(emb, *args)
        assert not any(h.path.endswith(".safetensors") and h.range is None for h in server.hits)
        if cmd == "stats":
            assert _without_names(remote) == _without_names(local)
        else:
            assert remote["path"] == url
            assert remote["embedding"] == local["embedding"] == EMBED
            assert remote["table_rows"] == VOCAB
            assert remote["config"]["vocab_size"] == VOCAB  # config.json fetched beside it


def test_full_table_commands_stream(emb: Any, server: Server) -> None:
    local_path = str(server.root / "llama")
    url = server.url("files/llama/model.safetensors")
    for cmd in ("tie", "init-stats", "padding"):
        a = emb(cmd, "--from", local_path, "--json")
        b = emb(cmd, "--from", url, "--json")
        assert a.exit_code == b.exit_code, (b.stdout, b.stderr)
        assert _without_names(json.loads(a.stdout)) == _without_names(json.loads(b.stdout))


# ---------------------------------------------------------------- sharded


def test_sharded_touches_only_the_table_shard(emb: Any, server: Server) -> None:
    index = json.loads((server.root / "sharded" / "model.safetensors.index.json").read_text())
    table_shard = index["weight_map"][EMBED]
    ids = ["0", "3", "511"]
    local = _doc(emb, "lookup", *ids, "--from", str(server.root / "sharded"))
    server.clear()
    remote = _doc(
        emb, "lookup", *ids, "--from", server.url("files/sharded/model.safetensors.index.json")
    )
    assert remote["vectors"] == local["vectors"]
    assert remote["dtype"] == "bfloat16"
    shards = {p.rsplit("/", 1)[-1] for p in server.paths() if p.endswith(".safetensors")}
    assert shards == {table_shard}
    assert sum(p.endswith("index.json") for p in server.paths()) == 1


# ---------------------------------------------------------------- hf:// and redirects


def test_hf_repo_through_redirect(emb: Any, server: Server) -> None:
    env = {"HF_ENDPOINT": server.base, "HF_TOKEN": "sesame"}
    local = _doc(emb, "lookup", "2", "9", "--from", str(server.root / "llama"))
    for spec in ("hf://org/tiny-llama", "hf://org/tiny-llama@main/model.safetensors"):
        server.clear()
        remote = _doc(emb, "lookup", "2", "9", "--from", spec, env=env)
        assert remote["vectors"] == local["vectors"]
        resolves = [h for h in server.hits if "/resolve/" in h.path]
        cdn = [h for h in server.hits if h.path.startswith("/files/")]
        assert resolves and cdn
        # HF_TOKEN travels only over https: not to this http:// endpoint, nor to the CDN
        assert all(h.auth is None for h in server.hits)
        assert all(h.range for h in cdn if h.path.endswith(".safetensors"))
    assert any(p.endswith("model.safetensors.index.json") for p in server.paths()) is False
    info = _doc(emb, "info", "hf://org/tiny-llama", env=env)
    assert info["path"] == "hf://org/tiny-llama" and info["table_rows"] == VOCAB


def test_redirect_keeps_range(emb: Any, server: Server) -> None:
    local = _doc(emb, "lookup", "4", "--from", str(server.root / "llama" / "model.safetensors"))
    remote = _doc(emb, "lookup", "4", "--from", server.url("redirect/llama/model.safetensors"))
    assert remote["vectors"] == local["vectors"]


def test_hf_repo_without_weights(emb: Any, server: Server) -> None:
    env = {"HF_ENDPOINT": f"http://127.0.0.1:{server.port}"}
    r = emb("info", "hf://org/nothing-here", env=env)
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "neither model.safetensors.index.json" in r.stderr


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("route", "needle"),
    [
        ("norange/big/model.safetensors", "ignores byte ranges"),
        ("files/missing/model.safetensors", "not found (HTTP 404)"),
        ("files/missing/model.safetensors.index.json", "not found (HTTP 404)"),
        ("private/llama/model.safetensors", "needs a token (HTTP 401)"),
        ("forbidden/llama/model.safetensors", "needs a token (HTTP 403)"),
        ("files/llama/config.json", "remote checkpoints are .safetensors"),
    ],
)
def test_remote_errors_are_one_line(emb: Any, server: Server, route: str, needle: str) -> None:
    server.clear()
    r = emb("lookup", "1", "--from", server.url(route))
    assert r.exit_code == 2, (r.stdout, r.stderr)
    assert r.stdout == ""
    assert r.stderr.startswith("Error: ") and r.stderr.count("\n") == 1
    assert needle in r.stderr
    # a server that ignores Range is not read to the end (20 MB)
    assert server.sent() < 4 * 2**20


def test_token_never_sent_over_http(emb: Any, server: Server) -> None:
    """Issue 15: HF_TOKEN went to any URL, plain http://127.0.0.1 included."""
    server.clear()
    url = server.url("private/llama/model.safetensors")
    for endpoint in ("https://huggingface.co", server.base):
        r = emb("lookup", "1", "--from", url, env={"HF_TOKEN": "sesame", "HF_ENDPOINT": endpoint})
        assert_refused(r, "needs a token (HTTP 401)", "only over https to the Hub")
    assert server.hits and all(h.auth is None for h in server.hits)


def test_token_goes_to_the_https_hub_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from emb_cli.sources.remote.http import sends_token

    monkeypatch.setenv("HF_ENDPOINT", "https://hub.example:8443")
    assert sends_token("https://hub.example:8443/a/b/resolve/main/x.safetensors")
    assert sends_token("https://HUB.example:8443/x")
    assert not sends_token("http://hub.example:8443/x")  # clear text
    assert not sends_token("https://hub.example/x")  # another port, another origin
    assert not sends_token("https://cdn.example:8443/x")
    assert not sends_token("https://hub.example:8443.evil.example/x")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    assert not sends_token("http://127.0.0.1:9/x")  # an http endpoint never gets it


def test_private_with_token_over_https(emb: Any, trust_tls: TlsServer) -> None:
    srv = trust_tls.server
    local = _doc(emb, "lookup", "1", "--from", str(srv.root / "llama" / "model.safetensors"))
    srv.clear()
    env = {"HF_TOKEN": "sesame", "HF_ENDPOINT": srv.base}
    doc = _doc(emb, "lookup", "1", "--from", srv.url("private/llama/model.safetensors"), env=env)
    assert doc["vectors"] == local["vectors"]
    assert srv.hits and all(h.auth == "Bearer sesame" for h in srv.hits)


def test_hub_token_stays_behind_at_the_cdn(emb: Any, trust_tls: TlsServer) -> None:
    srv = trust_tls.server
    srv.clear()
    env = {"HF_TOKEN": "sesame", "HF_ENDPOINT": srv.base}
    doc = _doc(emb, "lookup", "2", "--from", "hf://org/tiny-llama", env=env)
    assert doc["shape"] == [1, 1, DIM]
    resolves = [h for h in srv.hits if "/resolve/" in h.path]
    cdn = [h for h in srv.hits if h.path.startswith("/files/")]
    assert resolves and cdn
    assert all(h.auth == "Bearer sesame" for h in resolves)
    assert all(h.auth is None for h in cdn)  # https://localhost is another origin


def test_token_from_the_login_file(tls_server: TlsServer, tmp_path: Path, server: Server) -> None:
    """`hf auth login` stores the token in $HF_HOME/token; emb reads it there (no HF_TOKEN)."""
    srv = tls_server.server
    home = tmp_path / "hf-home"
    home.mkdir()
    (home / "token").write_text("from-the-login-file\n")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HUB_OFFLINE")
        and not k.lower().endswith("_proxy")
    }
    env.update(
        HF_HOME=str(home),
        HF_ENDPOINT=srv.base,
        SSL_CERT_FILE=str(tls_server.cert),
        no_proxy="127.0.0.1,localhost",
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
    )
    srv.clear()
    argv = ["lookup", "2", "--from", "hf://org/tiny-llama", "--json"]
    r = subprocess.run(
        [sys.executable, "-m", "emb_cli", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    local = subprocess.run(
        [sys.executable, "-m", "emb_cli", "lookup", "2", "--from", str(server.root / "llama"),
         "--json"], env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert json.loads(r.stdout)["vectors"] == json.loads(local.stdout)["vectors"]
    resolves = [h for h in srv.hits if "/resolve/" in h.path]
    assert resolves and all(h.auth == "Bearer from-the-login-file" for h in resolves)
    assert all(h.auth is None for h in srv.hits if h.path.startswith("/files/"))


def test_truncated_remote_file(emb: Any, server: Server) -> None:
    src = server.root / "big" / "model.safetensors"
    cut = server.root / "cut" / "model.safetensors"
    cut.parent.mkdir(exist_ok=True)
    cut.write_bytes(src.read_bytes()[: 2**20])
    r = emb("lookup", "19999", "--from", server.url("files/cut/model.safetensors"))
    assert r.exit_code == 2 and r.stderr.count("\n") == 1
    assert "truncated" in r.stderr or "not a valid safetensors" in r.stderr


# ---------------------------------------------------------------- --verbose, tokenizer


def test_verbose_counts_on_stderr_only(emb: Any, server: Server) -> None:
    url = server.url("files/big/model.safetensors")
    server.clear()
    r = emb("lookup", "3", "--from", url, "--json", "--verbose")
    assert r.exit_code == 0
    json.loads(r.stdout)  # stdout is the document alone
    m = re.fullmatch(r"fetched ([\d,]+) bytes in (\d+) requests\n", r.stderr)
    assert m, r.stderr
    # the server logs a request after its last byte: the client may be ahead of the log
    assert 64 * 2**10 < int(m.group(1).replace(",", "")) < 80 * 2**10
    assert int(m.group(2)) == 4  # header (row 3 inside), 3 JSON siblings (404s); no tokenizer
    quiet = emb("lookup", "3", "--from", url, "--json")
    assert quiet.stderr == ""
    local = emb(
        "lookup", "3", "--from", str(server.root / "big" / "model.safetensors"), "--verbose"
    )
    assert local.exit_code == 0 and local.stderr == ""


def test_text_fetches_the_tokenizer_only_when_needed(emb: Any, server: Server) -> None:
    url = server.url("files/llama/model.safetensors")
    server.clear()
    _doc(emb, "stats", "--from", url)
    assert not any(p.endswith("tokenizer.json") for p in server.paths())
    server.clear()
    doc = _doc(emb, "lookup", "--text", "w5 w6 w500", "--from", url)
    assert doc["ids"] == [5, 6, 500]
    assert doc["tokens"] == ["w5", "w6", "w500"]
    assert sum(p.endswith("/tokenizer.json") for p in server.paths()) == 1
    local = _doc(emb, "lookup", "5", "6", "500", "--from", str(server.root / "llama"))
    assert doc["vectors"] == local["vectors"]


def test_no_tokenizer_remote(emb: Any, server: Server) -> None:
    r = emb("lookup", "--text", "hi", "--from", server.url("files/big/model.safetensors"))
    assert r.exit_code == 2 and "tokenizer" in r.stderr


def test_parse_hf() -> None:
    from emb_cli.errors import UsageError
    from emb_cli.sources.remote.urls import HfSpec, hf_url, parse_hf

    assert parse_hf("hf://a/b") == HfSpec("a/b", "main", None)
    assert parse_hf("hf://a/b@v1.0/sub/x.safetensors") == HfSpec("a/b", "v1.0", "sub/x.safetensors")
    os.environ.pop("HF_ENDPOINT", None)
    assert hf_url(parse_hf("hf://a/b@refs%2Fpr%2F1"), "m.safetensors") == (
        "https://huggingface.co/a/b/resolve/refs%2Fpr%2F1/m.safetensors"
    )
    for bad in ("hf://a", "hf://a/b@", "hf:///b"):
        with pytest.raises(UsageError):
            parse_hf(bad)


def test_remote_pad_lookup_does_not_fetch_the_tokenizer(
    emb: Any,
    server: Server,
) -> None:
    """A tokenizer_config pad named by string must not cost the whole tokenizer.json."""
    import shutil

    folder = server.root / "padtok"
    if not folder.exists():
        shutil.copytree(server.root / "llama", folder)
        (folder / "tokenizer_config.json").write_text(json.dumps({"pad_token": "w7"}))
    server.clear()
    r = emb("lookup", "5", "--from", server.url("files/padtok/model.safetensors"), "--json")
    assert r.exit_code == 0, r.stderr
    assert not any(p.endswith("tokenizer.json") for p in server.paths())
    local = LoadedSource(
        open_checkpoint(folder), None, None, False
    )  # locally the tokenizer costs no download: the pad is found
    assert (local.info.pad_token_id, local.facts.pad.found["tokenizer"]) == (0, 7)


def test_remote_header_over_64_kib(emb: Any, server: Server) -> None:
    import torch
    from safetensors.torch import save_file

    folder = server.root / "wide-header"
    path = folder / "model.safetensors"
    if not path.exists():
        folder.mkdir()
        g = torch.Generator().manual_seed(3)
        tensors = {f"model.layers.{i}.mlp.gate_proj.weight": torch.zeros(1) for i in range(2000)}
        tensors[EMBED] = torch.randn(100, 8, generator=g)
        save_file(tensors, str(path))
    header_len = int.from_bytes(path.read_bytes()[:8], "little")
    assert header_len > 64 * 2**10
    ids = ["0", "42", "99"]
    local = json.loads(emb("lookup", *ids, "--from", str(path), "--json").stdout)
    server.clear()
    r = emb("lookup", *ids, "--from", server.url("files/wide-header/model.safetensors"), "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["vectors"] == local["vectors"]
    header_reads = [h for h in server.hits if h.path.endswith(".safetensors")]
    assert len(header_reads) <= 4  # first 64 KiB, the rest of the header, the rows


# ---------------------------------------------------------------- servers as they exist


def test_chunked_json_and_chunked_shards(emb: Any, server: Server) -> None:
    """Transfer-Encoding: chunked (legal HTTP/1.1) for the index, the JSON and the ranges."""
    ids = ["0", "3", "511"]
    local = _doc(emb, "lookup", *ids, "--from", str(server.root / "sharded"))
    server.clear()
    url = server.url("chunked/sharded/model.safetensors.index.json")
    remote = _doc(emb, "lookup", *ids, "--from", url)
    assert remote["vectors"] == local["vectors"]
    info = _doc(emb, "info", server.url("chunked/llama/model.safetensors"))
    assert info["config"]["vocab_size"] == VOCAB  # config.json came chunked


def test_retry_after_a_dropped_connection(emb: Any, server: Server) -> None:
    """drop/ closes the first connection for each range without a word; dropmid/ mid-body."""
    path = server.root / "big" / "model.safetensors"
    local = _doc(emb, "lookup", "3", "12345", "--from", str(path))
    for route in ("drop", "dropmid"):
        server.clear()
        url = server.url(f"{route}/big/model.safetensors")
        r = emb("lookup", "3", "12345", "--from", url, "--json", "--verbose")
        assert r.exit_code == 0, r.stderr
        assert json.loads(r.stdout)["vectors"] == local["vectors"]
        m = re.fullmatch(r"fetched ([\d,]+) bytes in (\d+) requests\n", r.stderr)
        assert m, r.stderr
        # header, row 12345, 3 JSON 404s: each asked twice (dropmid/ cuts bodies: not 404s)
        assert int(m.group(2)) == len(server.hits) == {"drop": 10, "dropmid": 7}[route]
        assert int(m.group(1).replace(",", "")) == server.sent()


def test_503_is_retried(emb: Any, server: Server) -> None:
    server.clear()
    doc = _doc(emb, "lookup", "1", "--from", server.url("flaky/llama/model.safetensors"))
    assert doc["shape"] == [1, 1, DIM]
    assert [h.status for h in server.hits[:2]] == [503, 206]


def test_retries_wait_within_the_deadline(
    emb: Any, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The waits are huggingface_hub's 0.5 s, 1 s; a server down for good costs 2 retries."""
    from emb_cli.sources.remote import http as remote

    monkeypatch.setattr(remote, "BACKOFF_S", 0.2)
    t0 = time.monotonic()
    r = emb("info", server.url("hostile/garbage/model.safetensors"))
    elapsed = time.monotonic() - t0
    assert_refused(r, "hostile/garbage/model.safetensors", "not valid HTTP")
    assert 0.6 <= elapsed < 5, elapsed  # 0.2 + 0.4 s of waiting, three attempts


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("garbage", "not valid HTTP"),
        ("cr-status", "not valid HTTP"),
        ("huge-header", "not valid HTTP"),
        ("status-299", "HTTP 299 Odd"),
        ("control-reason", "HTTP 418 Bad\\x1b[2J\\x07Thing"),
    ],
)
def test_misbehaving_servers_exit_2(emb: Any, server: Server, name: str, needle: str) -> None:
    """Issue 15: each of these was an internal error (exit 3), some on two stderr lines."""
    url = server.url(f"hostile/{name}/model.safetensors")
    for args in (("info", url), ("lookup", "1", "--from", url)):
        r = emb(*args)
        assert_refused(r, url, needle)
        assert not any(c in r.stderr[:-1] for c in "\r\x1b\x07\x85")


def test_many_and_long_headers_are_read(emb: Any, server: Server) -> None:
    """A 70 KiB header line and 150 headers are legal HTTP: the file is read."""
    local = _doc(emb, "info", str(server.root / "llama" / "model.safetensors"))
    remote = _doc(emb, "info", server.url("hostile/many-headers/llama/model.safetensors"))
    assert remote["tensors"] == [dict(t, file=t["file"]) for t in remote["tensors"]]
    assert remote["table_rows"] == local["table_rows"] == VOCAB


@pytest.mark.parametrize(
    ("name", "needle"),
    [("trickle-body", "did not finish within 2 s"), ("trickle-headers", "no answer within 2 s")],
)
def test_a_trickling_server_is_cut_off(
    emb: Any, server: Server, monkeypatch: pytest.MonkeyPatch, name: str, needle: str
) -> None:
    """A byte every 0.2 s never trips a per-read timeout; the request's total time is bounded."""
    from emb_cli.sources.remote import http as remote

    monkeypatch.setattr(remote, "TIMEOUT_S", 2.0)
    url = server.url(f"hostile/{name}/model.safetensors")
    t0 = time.monotonic()
    r = emb("info", url)
    elapsed = time.monotonic() - t0
    assert_refused(r, url, needle, "try again")
    assert 2.0 <= elapsed < 4.0, elapsed


def test_offline_mode_refuses_urls(
    emb: Any, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    server.clear()
    url = server.url("files/llama/model.safetensors")
    assert_refused(emb("info", url), url, "HF_HUB_OFFLINE=1")
    assert server.hits == []


def test_repo_the_hub_does_not_know(emb: Any, server: Server) -> None:
    r = emb("info", "hf://ghost/nothing", env={"HF_ENDPOINT": server.base})
    assert_refused(r, "no such repo on the Hub (HTTP 401)", "hf auth login")


def test_server_text_is_escaped() -> None:
    from emb_cli.sources.remote.http import clean

    assert clean("a\rb\nc\x1b[0m\x85\u2028ok") == "a\\x0db\\x0ac\\x1b[0m\\x85\\u2028ok"
    assert clean("plain text") == "plain text"
