"""Remote checkpoints over HTTP range requests, against a server on 127.0.0.1 in this process.

The handler serves a tmp folder with `Range: bytes=a-b` (206 + Content-Range, 416 past the
end), counts the bytes it sends, and has routes for the cases a real host produces:
/files/ (ranges), /norange/ (ignores Range: 200), /redirect/ (302 to /files/), /private/
(401 without a token) and /ORG/REPO/resolve/REV/FILE (the Hub: 302 to a "CDN" on another
host name, localhost, so a token must not follow).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from emb_cli.sources.checkpoint import open_checkpoint
from emb_cli.sources.loaded import LoadedSource
from tests.models import tiny_llama

VOCAB, DIM = 512, 64
BIG_ROWS, BIG_DIM = 20000, 256  # 20 MB of float32
EMBED = "model.embed_tokens.weight"


@dataclass
class Hit:
    path: str
    range: str | None
    status: int
    sent: int
    auth: str | None


@dataclass
class Server:
    root: Path
    port: int
    hits: list[Hit] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, route: str) -> str:
        return f"http://127.0.0.1:{self.port}/{route}"

    def clear(self) -> None:
        with self.lock:
            self.hits.clear()

    def sent(self) -> int:
        return sum(h.sent for h in self.hits)

    def paths(self) -> list[str]:
        return [h.path for h in self.hits]


def _handler(server: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _log(self, status: int, sent: int) -> None:
            with server.lock:
                server.hits.append(
                    Hit(
                        self.path,
                        self.headers.get("Range"),
                        status,
                        sent,
                        self.headers.get("Authorization"),
                    )
                )

        def _plain(self, status: int, headers: dict[str, str] | None = None) -> None:
            self._log(status, 0)
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            route, _, rest = self.path.lstrip("/").partition("/")
            if route == "redirect":
                return self._plain(302, {"Location": f"/files/{rest}"})
            if route == "private":
                if self.headers.get("Authorization") != "Bearer sesame":
                    return self._plain(401)
                return self._serve(rest, ranges=True)
            if route in ("files", "norange"):
                return self._serve(rest, ranges=route == "files")
            parts = self.path.lstrip("/").split("/")
            if len(parts) >= 5 and parts[2] == "resolve":  # /ORG/REPO/resolve/REV/FILE
                org, repo, _, _rev, *file = parts
                cdn = f"http://localhost:{server.port}/files/hub/{org}/{repo}/{'/'.join(file)}"
                return self._plain(302, {"Location": cdn})
            self._plain(404)

        def _serve(self, rel: str, ranges: bool) -> None:
            path = server.root / rel
            if ".." in rel or not path.is_file():
                return self._plain(404)
            data = path.read_bytes()
            size = len(data)
            spec = self.headers.get("Range")
            if ranges and spec:
                a_s, _, b_s = spec.removeprefix("bytes=").partition("-")
                a, b = int(a_s), min(int(b_s), size - 1)
                if a >= size:
                    return self._plain(416, {"Content-Range": f"bytes */{size}"})
                body, status = data[a : b + 1], 206
                extra = {"Content-Range": f"bytes {a}-{b}/{size}"}
            else:
                body, status, extra = data, 200, {}
            if ranges:
                # logged before the body: the client may finish before this thread goes on
                self._log(status, len(body))
            self.send_response(status)
            for k, v in extra.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            sent = 0
            try:
                for i in range(0, len(body), 2**16):
                    self.wfile.write(body[i : i + 2**16])
                    sent += len(body[i : i + 2**16])
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client refused a 200 and hung up: what it got is counted
            if not ranges:  # /norange/: what a refusing client took before hanging up
                self._log(status, sent)

    return Handler


@pytest.fixture(autouse=True)
def only_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every connection these tests open goes to this machine; proxies are bypassed."""
    real = socket.create_connection

    def guarded(address: Any, *a: Any, **kw: Any) -> socket.socket:
        assert address[0] in ("127.0.0.1", "localhost"), f"connection to {address}"
        return real(address, *a, **kw)

    monkeypatch.setattr(socket, "create_connection", guarded)
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "HF_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def _llama(tied: bool, seed: int) -> Any:
    return tiny_llama(VOCAB, DIM, tied=tied, seed=seed).eval()


def _tokenizer(path: Path) -> None:
    """A word-level tokenizer.json over the 512 ids: "w0".."w511"."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    tok = Tokenizer(WordLevel({f"w{i}": i for i in range(VOCAB)}, unk_token="w1"))
    tok.pre_tokenizer = Whitespace()
    tok.save(str(path / "tokenizer.json"))


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    import torch
    from safetensors.torch import save_file

    root = tmp_path_factory.mktemp("remote")
    _llama(tied=False, seed=1).save_pretrained(root / "llama")
    _tokenizer(root / "llama")
    _llama(tied=False, seed=5).to(torch.bfloat16).save_pretrained(
        root / "sharded", max_shard_size="70KB"
    )
    assert (root / "sharded" / "model.safetensors.index.json").is_file()
    shutil.copytree(root / "llama", root / "hub" / "org" / "tiny-llama")
    (root / "big").mkdir()
    g = torch.Generator().manual_seed(0)
    save_file(
        {EMBED: torch.randn(BIG_ROWS, BIG_DIM, generator=g)},
        str(root / "big" / "model.safetensors"),
    )
    srv = Server(root, 0)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(srv))
    srv.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield srv
    httpd.shutdown()
    httpd.server_close()


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
    remote = _doc(emb, "lookup", *ids, "--from", server.url("files/big/model.safetensors"))
    assert remote["vectors"] == local["vectors"]
    # 64 KiB speculative header read + rows (0 and 5 share a request) + 404s for the JSONs
    sent = server.sent()
    assert sent < 64 * 2**10 + 8 * BIG_DIM * 4 + 2**10, sent
    assert sent < path.stat().st_size / 200
    requested = [h for h in server.hits if h.path.endswith(".safetensors")]
    assert len(requested) == 3  # header (rows 0-5 lie in its 64 KiB), 12345, 19999


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
    env = {"HF_ENDPOINT": f"http://127.0.0.1:{server.port}", "HF_TOKEN": "sesame"}
    local = _doc(emb, "lookup", "2", "9", "--from", str(server.root / "llama"))
    for spec in ("hf://org/tiny-llama", "hf://org/tiny-llama@main/model.safetensors"):
        server.clear()
        remote = _doc(emb, "lookup", "2", "9", "--from", spec, env=env)
        assert remote["vectors"] == local["vectors"]
        resolves = [h for h in server.hits if "/resolve/" in h.path]
        cdn = [h for h in server.hits if h.path.startswith("/files/")]
        assert resolves and cdn
        assert all(h.auth == "Bearer sesame" for h in resolves)
        # the "CDN" is another host name: the token stays behind, the Range goes along
        assert all(h.auth is None for h in cdn)
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
        ("private/llama/model.safetensors", "needs a token (HTTP 401): set HF_TOKEN"),
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


def test_private_with_token(emb: Any, server: Server) -> None:
    r = emb(
        "lookup",
        "1",
        "--from",
        server.url("private/llama/model.safetensors"),
        "--json",
        env={"HF_TOKEN": "sesame"},
    )
    assert r.exit_code == 0, r.stderr


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
    from emb_cli.sources.remote import HfSpec, hf_url, parse_hf

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
    server: Server,  # noqa: F811
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


def test_remote_header_over_64_kib(emb: Any, server: Server) -> None:  # noqa: F811
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
