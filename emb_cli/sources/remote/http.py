"""HTTP for remote checkpoints: one bounded, retried GET at a time; byte ranges and small files.

One GET with `Range: bytes=a-b` per read, through huggingface_hub's HTTP session (httpx2):
the proxies, certificates and client factory a user set for huggingface_hub apply here,
and HF_HUB_OFFLINE=1 refuses every request. huggingface_hub (~0.4 s to import) is imported
inside functions.

Each request is bounded as a whole, retries included (TIMEOUT_S), not per socket read: a
server that sends a byte every 20 s cannot hold a command. It runs on a worker thread that
the caller stops waiting for at the deadline; httpx's own timeouts end the thread soon after.
Retries follow huggingface_hub's http_backoff (its status list; waits of 0.5 s, then 1 s)
in a loop of our own: a body cut off after the headers must be asked again too, the waits
must fit the deadline, and http_backoff logs each retry to stderr, which carries one line.
"""

from __future__ import annotations

import os
import re
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from emb_cli.errors import InputError, first_line
from emb_cli.sources.files.inputs import MAX_JSON
from emb_cli.sources.remote.addresses import check_url, redact

if TYPE_CHECKING:
    import httpx2

T = TypeVar("T")
TIMEOUT_S = 60.0  # one request from connect to last byte, retries included
RETRIES = 2  # after a dropped connection, a reset, a garbled answer, 408/429/5xx
BACKOFF_S = 0.5  # first wait before a retry, doubled each time, always inside TIMEOUT_S
RETRY_STATUS = (408, 429, 500, 502, 503, 504)  # huggingface_hub http_backoff's list
_CONTENT_RANGE = re.compile(r"bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)")
# C0, DEL, C1 and the Unicode line breaks: anything a server sends is shown on one line.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


@dataclass
class Fetched:
    """Bytes and requests sent this command, for --verbose."""

    bytes: int = 0
    requests: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, nbytes: int = 0, requests: int = 0) -> None:
        with self._lock:  # chunked scans read from several threads
            self.bytes += nbytes
            self.requests += requests

    def line(self) -> str:
        return f"fetched {self.bytes:,} bytes in {self.requests:,} requests"


FETCHED = Fetched()


class HttpStatusError(InputError):
    """An HTTP error status, kept so a caller can treat 404 as "absent"."""

    def __init__(self, message: str, status: int, error_code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code  # the Hub's X-Error-Code: RepoNotFound, GatedRepo, ...


def reset_fetched() -> None:
    with FETCHED._lock:
        FETCHED.bytes = FETCHED.requests = 0


def clean(text: str) -> str:
    """Text that came from a server, as one printable line: control characters as \\xNN."""
    return _CONTROL.sub(
        lambda m: (
            f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256 else f"\\u{ord(m.group()):04x}"
        ),
        text,
    )


# ---------------------------------------------------------------- who gets the token


def _origin(url: str) -> tuple[str, str, int]:
    u = urllib.parse.urlsplit(url)
    try:
        port = u.port
    except ValueError:
        port = None
    return u.scheme, (u.hostname or "").lower(), port or {"http": 80, "https": 443}.get(u.scheme, 0)


def sends_token(url: str) -> bool:
    """The token goes only over https to the Hub endpoint's host, as huggingface_hub sends it.

    Never to another host (a URL someone pasted), never in clear text; httpx drops it on a
    redirect to another origin (the Hub's CDN).
    """
    from emb_cli.sources.remote.hub import hub_endpoint

    endpoint = hub_endpoint()
    return url.startswith("https://") and _origin(url) == _origin(endpoint)


def _headers(url: str, extra: dict[str, str]) -> dict[str, str]:
    from emb_cli import __version__

    headers = {"User-Agent": f"emb/{__version__}", **extra}
    if sends_token(url):
        token = hf_token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
    return headers


# A Hub token is ~40 characters; a token file of more than this is not one.
MAX_TOKEN_BYTES = 4096


def hf_token() -> str | None:
    """The token huggingface_hub's get_token would send: $HF_TOKEN (or the older
    $HUGGING_FACE_HUB_TOKEN), else the file $HF_TOKEN_PATH / $HF_HOME/token.

    Read here, on the caller's thread and bounded: get_token reads the file whole (a
    /dev/zero fills memory) and on the request's worker a FIFO blocks until the request's
    deadline, blamed on the server. The token itself is never shown in a message.
    """
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        value = os.environ.get(var, "").strip()
        if value:
            return _checked_token(value, f"${var}")
    from emb_cli.sources.remote.hub import hub_constants

    path = os.environ.get("HF_TOKEN_PATH") or hub_constants().HF_TOKEN_PATH
    return _token_file(path)


def _token_file(path: str) -> str | None:
    from emb_cli.sources.files.inputs import kind

    where = f"the token file {path} (HF_TOKEN_PATH)"
    try:
        what = kind(Path(path))
    except InputError as exc:  # a FIFO, a device: never opened
        raise InputError(f"{where}: {exc.message}; point HF_TOKEN_PATH at a file") from None
    if what is None:
        return None  # no token stored: requests go without one, as huggingface_hub's do
    if what != "file":
        raise InputError(f"{where} is a {what}, not a file; point HF_TOKEN_PATH at a file")
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_TOKEN_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read {where}: {exc.strerror}") from None
    if len(raw) > MAX_TOKEN_BYTES:
        raise InputError(f"{where} holds over {MAX_TOKEN_BYTES} bytes: it is not a token")
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise InputError(f"{where} is not UTF-8 text: it is not a token") from None
    return _checked_token(text, where) if text else None


def _checked_token(token: str, where: str) -> str:
    # an HTTP header is ASCII: httpx would fail with UnicodeEncodeError mid-request
    if not all(0x21 <= ord(c) <= 0x7E for c in token):
        raise InputError(
            f"{where} holds characters no token has (non-ASCII, spaces or control "
            "characters); set it to the token from https://huggingface.co/settings/tokens"
        )
    return token


_PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


def _proxies() -> str:
    return ", ".join(f"{v}={redact(os.environ[v])}" for v in _PROXY_VARS if os.environ.get(v))


def _setup_error(shown: str, exc: BaseException) -> InputError:
    """The HTTP client could not be made from the environment: a proxy it cannot use, a
    certificate file missing or not PEM."""
    import ssl

    what = redact(clean(first_line(exc)))
    if isinstance(exc, ImportError):
        return InputError(
            f"{shown}: a SOCKS proxy is set ({_proxies()}) but httpx's SOCKS support is not "
            "installed: pip install 'httpx[socks]', or unset the proxy"
        )
    if isinstance(exc, (ssl.SSLError, OSError)):
        certs = ", ".join(
            f"{v}={os.environ[v]}" for v in ("SSL_CERT_FILE", "SSL_CERT_DIR") if os.environ.get(v)
        )
        return InputError(
            f"{shown}: cannot load the TLS certificates ({certs or 'the default store'}): "
            f"{what}; point SSL_CERT_FILE at a PEM bundle, or unset it"
        )
    return InputError(
        f"{shown}: the proxy setting cannot be used ({_proxies() or 'none set'}): {what}; "
        "httpx takes http://, https:// and socks5:// proxies"
    )


def _status_error(url: str, shown: str, resp: httpx2.Response) -> HttpStatusError:
    from emb_cli.sources.remote.hub import hub_endpoint

    code = resp.status_code
    error_code = resp.headers.get("X-Error-Code")
    login = "log in with `hf auth login` or set HF_TOKEN"
    if error_code == "RepoNotFound":
        msg = (
            f"{shown}: no such repo on the Hub (HTTP {code}), or it is private: "
            f"{login} if you have access"
        )
    elif error_code == "RevisionNotFound":
        msg = (
            f"{shown}: the Hub has no such revision (HTTP {code}); check the branch, tag or commit"
        )
    elif error_code == "GatedRepo":
        msg = (
            f"{shown} is gated (HTTP {code}): accept the licence on the model page, then "
            f"{login} with a token that can read it"
        )
    elif code in (404, 410):
        msg = f"{shown} not found (HTTP {code}); check the URL, repo, revision and file"
    elif code in (401, 403) and sends_token(url):
        msg = (
            f"{shown} needs a token (HTTP {code}): set HF_TOKEN to a token that can read "
            f"it, or {login} (gated models: accept the licence on the model page first)"
        )
    elif code in (401, 403):
        host = urllib.parse.urlsplit(url).netloc.rpartition("@")[2]  # no userinfo
        msg = (
            f"{shown} needs a token (HTTP {code}); emb sends a Hugging Face token only over "
            f"https to the Hub ({hub_endpoint()}), not to {host}: download the file and pass "
            "the local path"
        )
    else:
        msg = f"{shown}: HTTP {code} {clean(resp.reason_phrase)}".rstrip()
    return HttpStatusError(msg, code, clean(error_code) if error_code else None)


# ---------------------------------------------------------------- one bounded request


class _Call:
    """One request's deadline, shared by the worker thread and the caller waiting for it."""

    def __init__(self) -> None:
        self.deadline = time.monotonic() + TIMEOUT_S
        self.cancelled = threading.Event()
        self.answered = False  # the status line and headers arrived
        self.response: httpx2.Response | None = None

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def cancel(self) -> None:
        """Wake a worker blocked in recv: shut the socket down (closing it would not)."""
        self.cancelled.set()
        resp = self.response
        if resp is None:
            return
        try:
            stream = resp.extensions.get("network_stream")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if sock is not None:
                import socket

                sock.shutdown(socket.SHUT_RDWR)
        except Exception:  # noqa: S110 - best effort: the worker also times out on its own
            pass


def _bounded(shown: str, work: Callable[[_Call], T]) -> T:
    """Run work(call) on a worker thread; give up at the deadline with a one-line error."""
    call = _Call()
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = work(call)
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=run, name="emb-http", daemon=True)
    worker.start()
    worker.join(TIMEOUT_S)
    if worker.is_alive():
        call.cancel()
        raise _timeout(shown, call)
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value


def _timeout(shown: str, call: _Call) -> InputError:
    if call.answered:
        return InputError(
            f"{shown}: the transfer did not finish within {TIMEOUT_S:.0f} s; try again"
        )
    return InputError(f"{shown}: no answer within {TIMEOUT_S:.0f} s; try again")


class _Retry(Exception):
    """A status worth asking again (429, 5xx)."""

    def __init__(self, resp: httpx2.Response, wait: float | None) -> None:
        super().__init__(resp.status_code)
        self.resp = resp
        self.wait = wait


def _request(
    url: str,
    shown: str,
    extra: dict[str, str],
    consume: Callable[[httpx2.Response, _Call], T],
) -> T:
    """GET url and hand the streamed response to consume, retrying what is worth it."""
    check_url(url, shown)
    headers = _headers(url, extra)  # the token is read here, not on the worker

    def work(call: _Call) -> T:
        import httpx2
        from huggingface_hub import get_session
        from huggingface_hub.errors import OfflineModeIsEnabled

        try:
            session = get_session()
        except (ImportError, ValueError, OSError) as exc:  # proxies, SSL_CERT_FILE
            raise _setup_error(shown, exc) from None
        wait = BACKOFF_S
        for attempt in range(RETRIES + 1):
            last = attempt == RETRIES
            FETCHED.add(requests=1)
            call.answered = False
            try:
                timeout = httpx2.Timeout(max(call.remaining(), 0.01))
                with session.stream(
                    "GET", url, headers=headers, timeout=timeout, follow_redirects=True
                ) as resp:
                    call.response = resp
                    call.answered = True
                    if resp.status_code in RETRY_STATUS and not last:
                        raise _Retry(resp, _retry_after(resp))
                    return consume(resp, call)
            except _Retry as exc:
                if exc.wait is not None:
                    wait = max(wait, exc.wait)
                if wait >= call.remaining():
                    raise _status_error(url, shown, exc.resp) from None
            except OfflineModeIsEnabled:
                raise InputError(
                    f"{shown}: HF_HUB_OFFLINE=1 is set, so emb makes no network requests; "
                    "unset it, or download the file and pass the local path"
                ) from None
            except httpx2.TimeoutException:
                raise _timeout(shown, call) from None
            except (httpx2.NetworkError, httpx2.RemoteProtocolError) as exc:
                if call.cancelled.is_set():
                    raise _timeout(shown, call) from None
                if last or wait >= call.remaining():
                    raise _network_error(shown, exc, call) from None
            except httpx2.HTTPError as exc:  # redirect loops, odd schemes, undecodable bodies
                what = clean(first_line(exc))
                raise InputError(f"{shown}: {type(exc).__name__}: {what}") from None
            except httpx2.InvalidURL as exc:
                raise InputError(f"{shown} is not a valid URL: {clean(first_line(exc))}") from None
            finally:
                call.response = None
            if call.cancelled.wait(wait):
                raise _timeout(shown, call)
            wait *= 2
        raise AssertionError("unreachable: the last attempt returns or raises")

    return _bounded(shown, work)


def _retry_after(resp: httpx2.Response) -> float | None:
    value = resp.headers.get("Retry-After", "")
    return float(value) if value.isdigit() else None


def _network_error(shown: str, exc: Exception, call: _Call) -> InputError:
    import httpx2

    what = redact(clean(first_line(exc)))
    if isinstance(exc, httpx2.ConnectError):
        return InputError(f"cannot reach {shown}: {what}")
    if isinstance(exc, httpx2.RemoteProtocolError):
        if not call.answered and "disconnected" not in what:
            return InputError(f"{shown}: the server's answer is not valid HTTP ({what})")
        return InputError(f"{shown}: the connection closed early ({what}); try again")
    return InputError(f"{shown}: transfer failed: {what}; try again")


# ---------------------------------------------------------------- files by range, small files


class HttpReader:
    """A remote file read by byte ranges; refuses servers that ignore Range."""

    def __init__(self, url: str, shown: str | None = None) -> None:
        self.url = url
        self.name = redact(shown or url)
        self._size: int | None = None
        # The first bytes, kept: a small shard's header read often holds the rows asked for.
        self._head = b""

    @property
    def size(self) -> int:
        if self._size is None:
            self.read(0, 1)
        assert self._size is not None
        return self._size

    def read(self, offset: int, length: int) -> bytes:
        if length <= 0:
            return b""
        buf = bytearray(length)
        n = self._get(offset, memoryview(buf), exact=False)
        data = bytes(buf[:n])
        if offset == 0 and len(data) > len(self._head):
            self._head = data
        return data

    def read_into(self, offset: int, buf: memoryview) -> None:
        if offset + len(buf) <= len(self._head):
            buf[:] = self._head[offset : offset + len(buf)]
        elif len(buf):
            self._get(offset, buf, exact=True)

    def _get(self, offset: int, buf: memoryview, exact: bool) -> int:
        end = offset + len(buf) - 1
        # identity: a compressed body is not the byte range asked for
        extra = {"Range": f"bytes={offset}-{end}", "Accept-Encoding": "identity"}

        def consume(resp: httpx2.Response, call: _Call) -> int:
            if resp.status_code == 416:  # offset at or past the end: an empty file, for one
                m = _CONTENT_RANGE.fullmatch(resp.headers.get("Content-Range", ""))
                if m and m.group(3) != "*":
                    self._size = int(m.group(3))
                if exact:
                    raise self._truncated(offset + len(buf))
                return 0
            if resp.status_code not in (200, 206):
                raise _status_error(self.url, self.name, resp)
            if resp.status_code == 200:
                # 200 would be the whole file: gigabytes for a row.
                raise InputError(
                    f"{self.name}: the server ignores byte ranges (HTTP 200, not 206), so"
                    " reading a row would download the whole file; download it "
                    "and pass the local path"
                )
            content_range = resp.headers.get("Content-Range", "")
            m = _CONTENT_RANGE.fullmatch(content_range)
            if not m or m.group(1) is None or int(m.group(1)) != offset or m.group(3) == "*":
                raise InputError(
                    f"{self.name}: the server answered bytes {offset}-{end} with Content-Range "
                    f"{clean(repr(content_range))}; it does not serve ranges correctly"
                )
            if resp.headers.get("Content-Encoding", "identity").lower() != "identity":
                raise InputError(
                    f"{self.name}: the server compressed a byte range "
                    f"({clean(resp.headers['Content-Encoding'])}); it does not serve ranges "
                    "correctly"
                )
            self._size = int(m.group(3))
            want = min(len(buf), int(m.group(2)) - offset + 1)
            got = 0
            for chunk in resp.iter_raw():
                if call.cancelled.is_set():
                    break
                n = min(len(chunk), want - got)
                buf[got : got + n] = chunk[:n]
                got += n
                FETCHED.add(len(chunk))
                if got >= want:
                    break  # more than asked for: the rest is not read
            return got if got >= want else -got - 1

        got = _request(self.url, self.name, extra, consume)
        if got < 0:  # the body ended before Content-Range's end
            short = -got - 1
            raise InputError(
                f"{self.name}: the connection closed after {short:,} of {len(buf):,} bytes; "
                "try again"
            )
        if exact and got < len(buf):
            raise self._truncated(offset + len(buf))
        return got

    def _truncated(self, need: int) -> InputError:
        return InputError(
            f"{self.name} is truncated: a tensor needs bytes up to {need}, "
            f"the file ends at {self._size}"
        )


def fetch(url: str, shown: str, *, missing_ok: bool = False, limit: int = MAX_JSON) -> bytes | None:
    """A small file in one GET; None for a 404 when missing_ok (a missing repo still raises)."""
    shown = redact(shown)

    def consume(resp: httpx2.Response, call: _Call) -> bytes | None:
        if resp.status_code == 416:
            return b""
        if resp.status_code >= 300:
            err = _status_error(url, shown, resp)
            if missing_ok and err.status in (404, 410) and err.error_code != "RepoNotFound":
                return None
            raise err
        body = bytearray()
        try:
            for chunk in resp.iter_bytes():  # chunked and gzip bodies decoded
                body += chunk
                if len(body) > limit or call.cancelled.is_set():
                    break
        finally:
            FETCHED.add(resp.num_bytes_downloaded)
        if len(body) > limit:
            raise InputError(f"{shown} is over {limit // 2**20} MiB; emb reads it only if smaller")
        return bytes(body)

    return _request(url, shown, {}, consume)
