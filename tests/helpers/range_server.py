"""The range server of the remote tests, on 127.0.0.1 in the test process.

The handler serves a tmp folder with `Range: bytes=a-b` (206 + Content-Range, 416 past the
end), counts the bytes it sends, and has routes for the cases a real host produces:
/files/ (ranges), /norange/ (ignores Range: 200), /redirect/ (302 to /files/), /private/
(401 without a token), /forbidden/ (403), /chunked/ (Transfer-Encoding: chunked), /drop/
and /dropmid/ (the first request for each range loses its connection), /flaky/ (503 once),
the misbehaving servers of /hostile/NAME/, and /ORG/REPO/resolve/REV/FILE (the Hub: 302 to
a "CDN" on another host name, localhost, so a token must not follow; org "ghost" is a repo
the Hub does not know). The same handler also runs over TLS with a certificate made here.

The `server` fixture (tests/conftest.py) serves tiny checkpoints built here with it.
"""

from __future__ import annotations

import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

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
    scheme: str = "http"
    hits: list[Hit] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    dropped: set[tuple[str, str | None]] = field(default_factory=set)  # drop/: asked once

    @property
    def base(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def url(self, route: str) -> str:
        return f"{self.base}/{route}"

    def clear(self) -> None:
        with self.lock:
            self.hits.clear()
            self.dropped.clear()

    def sent(self) -> int:
        return sum(h.sent for h in self.hits)

    def paths(self) -> list[str]:
        return [h.path for h in self.hits]


# /hostile/NAME/...: what real servers have sent, as raw bytes after the request.
TRICKLE_S = 0.2  # one byte per this long, until the client hangs up (or 20 s)
HOSTILE: dict[str, bytes] = {
    "garbage": b"GARBAGE\r\n\r\n",
    "cr-status": b"HTTP/1.1 418 I'm\ra teapot\r\nContent-Length: 0\r\n\r\n",
    "control-reason": b"HTTP/1.1 418 Bad\x1b[2J\x07Thing\x85\r\nContent-Length: 0\r\n\r\n",
    "status-299": b"HTTP/1.1 299 Odd\r\nContent-Length: 0\r\n\r\n",
    "huge-header": b"HTTP/1.1 206 Partial\r\nX-Big: " + b"a" * 300_000 + b"\r\n\r\n",
}


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

        def _first_time(self) -> bool:
            key = (self.path, self.headers.get("Range"))
            with server.lock:
                first = key not in server.dropped
                server.dropped.add(key)
            return first

        def do_GET(self) -> None:
            route, _, rest = self.path.lstrip("/").partition("/")
            if route == "redirect":
                return self._plain(302, {"Location": f"/files/{rest}"})
            if route == "private":
                if self.headers.get("Authorization") != "Bearer sesame":
                    return self._plain(401)
                return self._serve(rest, ranges=True)
            if route == "forbidden":
                return self._plain(403)
            if route in ("files", "norange", "chunked"):
                return self._serve(rest, ranges=route != "norange", chunked=route == "chunked")
            if route == "drop" and self._first_time():
                self._log(0, 0)
                self.close_connection = True  # no status line: "Server disconnected"
                return None
            if route == "dropmid" and self._first_time():
                return self._serve(rest, ranges=True, cut=True)
            if route in ("drop", "dropmid"):
                return self._serve(rest, ranges=True)
            if route == "flaky" and self._first_time():
                return self._plain(503, {"Retry-After": "0"})
            if route == "flaky":
                return self._serve(rest, ranges=True)
            if route == "hostile":
                return self._hostile(rest)
            parts = self.path.lstrip("/").split("/")
            if len(parts) >= 5 and parts[2] == "resolve":  # /ORG/REPO/resolve/REV/FILE
                org, repo, _, _rev, *file = parts
                if org == "ghost":
                    return self._plain(401, {"X-Error-Code": "RepoNotFound"})
                cdn = f"{server.scheme}://localhost:{server.port}/files/hub/{org}/{repo}"
                return self._plain(302, {"Location": f"{cdn}/{'/'.join(file)}"})
            self._plain(404)

        def _hostile(self, rest: str) -> None:
            name, _, file = rest.partition("/")
            self._log(0, 0)
            self.close_connection = True
            if name in HOSTILE:
                self.wfile.write(HOSTILE[name])
                return
            if name == "many-headers":  # a 70 KiB header line and 150 more: legal, served
                if not (server.root / file).is_file():
                    return self._plain(404)
                self.send_response(206)
                self.send_header("X-Long", "b" * 70_000)
                for i in range(150):
                    self.send_header(f"X-Extra-{i}", str(i))
                return self._serve(file, ranges=True, status_sent=True)
            # trickle-body: headers, then a byte at a time; trickle-headers: the same, earlier
            if name == "trickle-body":
                self.wfile.write(
                    b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-65543/99999\r\n"
                    b"Content-Length: 65544\r\n\r\n"
                )
            elif name == "trickle-headers":
                self.wfile.write(b"HTTP/1.1 206 Partial Content\r\n")
            end = time.monotonic() + 20
            try:
                while time.monotonic() < end:
                    self.wfile.write(b"X" if name == "trickle-body" else b"Y")
                    self.wfile.flush()
                    time.sleep(TRICKLE_S)
            except OSError:
                pass  # the client gave up: what this test wants

        def _serve(
            self,
            rel: str,
            ranges: bool,
            chunked: bool = False,
            cut: bool = False,
            status_sent: bool = False,
        ) -> None:
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
            if cut:  # half the body, then the connection drops
                self.close_connection = True
                self._log(status, len(body) // 2)
            elif ranges:
                # logged before the body: the client may finish before this thread goes on
                self._log(status, len(body))
            if not status_sent:
                self.send_response(status)
            for k, v in extra.items():
                self.send_header(k, v)
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            if cut:
                self.wfile.write(body[: len(body) // 2])
                return
            sent = 0
            try:
                for i in range(0, len(body), 2**16):
                    piece = body[i : i + 2**16]
                    if chunked:
                        self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                    else:
                        self.wfile.write(piece)
                    sent += len(piece)
                if chunked:
                    self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client refused a 200 and hung up: what it got is counted
            if not ranges:  # /norange/: what a refusing client took before hanging up
                self._log(status, sent)

    return Handler


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


def _start(srv: Server, wrap: ssl.SSLContext | None = None) -> ThreadingHTTPServer:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(srv))
    httpd.daemon_threads = True  # a trickling handler must not hold the session's end
    if wrap is not None:
        httpd.socket = wrap.wrap_socket(httpd.socket, server_side=True)
    srv.port = httpd.server_address[1]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd
