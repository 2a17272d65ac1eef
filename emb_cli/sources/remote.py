"""Checkpoints read over HTTP with range requests: headers and the rows asked for, no more.

`https://.../model.safetensors`, `https://.../model.safetensors.index.json` and
`hf://ORG/REPO[@REV][/FILE]`. Standard library only (urllib): one GET with
`Range: bytes=a-b` per read. huggingface_hub's HfFileSystem would need the Hub's API
endpoints as well; the /resolve/ URLs used here are what it range-reads in the end.
"""

from __future__ import annotations

import json
import os
import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from emb_cli.errors import InputError, UsageError
from emb_cli.sources.base import Checkpoint, Format, Reader, TensorRef

if TYPE_CHECKING:
    from emb_cli.sources.safetensors_file import SafetensorsHeader

# --from values read over HTTP rather than from disk.
SCHEMES = ("http://", "https://", "hf://")
DIR_FILES: tuple[tuple[int, str], ...] = ()
DIR_GLOB: str | None = None


def recognises(path: str) -> bool:
    return path.startswith(SCHEMES)


def open_path(path: str, readers: Sequence[Reader]) -> Checkpoint:
    return open_remote(path)


HF_ENDPOINT = "https://huggingface.co"
TIMEOUT_S = 60.0
# Whole-file GETs are for small JSON; Llama-3's tokenizer.json is 9 MB, Gemma's 33 MB.
MAX_JSON = 64 * 2**20
SIBLINGS = ("config.json", "generation_config.json", "tokenizer_config.json")
_CONTENT_RANGE = re.compile(r"bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)")


@dataclass
class Fetched:
    """Bytes and requests sent this command, for --verbose."""

    bytes: int = 0
    requests: int = 0

    def line(self) -> str:
        return f"fetched {self.bytes:,} bytes in {self.requests:,} requests"


FETCHED = Fetched()


class HttpStatusError(InputError):
    """An HTTP error status, kept so a caller can treat 404 as "absent"."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def reset_fetched() -> None:
    FETCHED.bytes = FETCHED.requests = 0


@cache
def _opener() -> Any:
    """urllib's opener, built on first use: urllib.request costs ~20 ms to import."""
    import urllib.request

    class _Redirect(urllib.request.HTTPRedirectHandler):
        """Follow redirects (the Hub's /resolve/ sends files to a CDN) keeping Range.

        urllib copies every header to the new request; the token must not follow to another
        host (a presigned CDN URL also rejects a second form of authorisation).
        """

        def redirect_request(
            self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str
        ) -> urllib.request.Request | None:
            new = super().redirect_request(req, fp, code, msg, headers, newurl)
            if new is not None:
                old_host = urllib.parse.urlsplit(req.full_url).netloc
                if urllib.parse.urlsplit(newurl).netloc != old_host:
                    new.remove_header("Authorization")
            return new

    return urllib.request.build_opener(_Redirect)


def _request(url: str, headers: dict[str, str]) -> Any:
    import urllib.request

    h = {"User-Agent": "emb", **headers}
    token = os.environ.get("HF_TOKEN")
    if token:
        h["Authorization"] = f"Bearer {token}"
    return urllib.request.Request(url, headers=h)


def _open(url: str, headers: dict[str, str], shown: str) -> Any:
    """urlopen with the errors a user can act on; HTTPError 416 is returned, not raised."""
    import urllib.error

    FETCHED.requests += 1
    try:
        return _opener().open(_request(url, headers), timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        if exc.code == 416:
            return exc
        exc.close()
        raise _http_error(shown, exc.code, exc.reason) from None
    except TimeoutError:
        raise InputError(f"{shown}: no answer within {TIMEOUT_S:.0f} s; try again") from None
    except urllib.error.URLError as exc:
        raise InputError(f"cannot reach {shown}: {exc.reason}") from None
    except OSError as exc:
        raise InputError(f"cannot read {shown}: {exc}") from None


def _http_error(shown: str, code: int, reason: Any) -> HttpStatusError:
    if code == 404:
        msg = f"{shown} not found (HTTP 404); check the URL, repo, revision and file"
    elif code in (401, 403):
        msg = (
            f"{shown} needs a token (HTTP {code}): set HF_TOKEN to a token that can read "
            "it (gated models: accept the licence on the model page first)"
        )
    else:
        msg = f"{shown}: HTTP {code} {reason}"
    return HttpStatusError(msg, code)


class HttpReader:
    """A remote file read by byte ranges; refuses servers that ignore Range."""

    def __init__(self, url: str, shown: str | None = None) -> None:
        self.url = url
        self.name = shown or url
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
        resp = _open(self.url, {"Range": f"bytes={offset}-{end}"}, self.name)
        with resp:
            if resp.status == 416:  # offset at or past the end: an empty file, for one
                m = _CONTENT_RANGE.fullmatch(resp.headers.get("Content-Range", ""))
                if m and m.group(3) != "*":
                    self._size = int(m.group(3))
                if exact:
                    raise self._truncated(offset + len(buf))
                return 0
            if resp.status != 206:
                # 200 would be the whole file: gigabytes for a row.
                raise InputError(
                    f"{self.name}: the server ignores byte ranges (HTTP {resp.status}, not "
                    "206), so reading a row would download the whole file; download it and "
                    "pass the local path"
                )
            m = _CONTENT_RANGE.fullmatch(resp.headers.get("Content-Range", ""))
            if not m or m.group(1) is None or int(m.group(1)) != offset or m.group(3) == "*":
                raise InputError(
                    f"{self.name}: the server answered bytes {offset}-{end} with Content-Range "
                    f"{resp.headers.get('Content-Range')!r}; it does not serve ranges correctly"
                )
            self._size = int(m.group(3))
            want = min(len(buf), int(m.group(2)) - offset + 1)
            got = 0
            while got < want:
                try:
                    n = resp.readinto(buf[got:want])
                except TimeoutError:
                    raise InputError(
                        f"{self.name}: transfer stalled for {TIMEOUT_S:.0f} s; try again"
                    ) from None
                except OSError as exc:
                    raise InputError(f"{self.name}: transfer failed: {exc}") from None
                if not n:
                    break
                got += n
                FETCHED.bytes += n
        if got < want or (exact and got < len(buf)):
            raise (
                self._truncated(offset + len(buf))
                if got == want
                else InputError(
                    f"{self.name}: the connection closed after {got:,} of {want:,} bytes; try again"
                )
            )
        return got

    def _truncated(self, need: int) -> InputError:
        return InputError(
            f"{self.name} is truncated: a tensor needs bytes up to {need}, "
            f"the file ends at {self._size}"
        )


def fetch(url: str, shown: str, *, missing_ok: bool = False, limit: int = MAX_JSON) -> bytes | None:
    """A small file in one GET; None for a 404 when missing_ok."""
    try:
        resp = _open(url, {}, shown)
    except HttpStatusError as exc:
        if missing_ok and exc.status == 404:
            return None
        raise
    with resp:
        if resp.status == 416:
            return b""
        data: bytes = resp.read(limit + 1)
    FETCHED.bytes += len(data)
    if len(data) > limit:
        raise InputError(f"{shown} is over {limit // 2**20} MiB; emb reads it only if smaller")
    return data


def _json_object(raw: bytes, shown: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{shown} is not valid JSON ({first})") from None
    if not isinstance(data, dict):
        raise InputError(f"{shown} is not a JSON object")
    return data


# ---------------------------------------------------------------- hf:// and opening


@dataclass(frozen=True)
class HfSpec:
    repo: str
    revision: str
    file: str | None


def parse_hf(spec: str) -> HfSpec:
    """hf://ORG/REPO[@REV][/path/in/repo]; a revision with "/" is written %2F (refs%2Fpr%2F1)."""
    rest = spec[len("hf://") :].strip("/")
    parts = rest.split("/")
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise UsageError(f"{spec}: write a Hub repo as hf://ORG/REPO[@REVISION][/FILE]")
    name, _, revision = parts[1].partition("@")
    if not name or (_ and not revision):
        raise UsageError(f"{spec}: write a Hub repo as hf://ORG/REPO[@REVISION][/FILE]")
    file = "/".join(parts[2:]) or None
    return HfSpec(f"{parts[0]}/{name}", revision or "main", file)


def hf_url(hf: HfSpec, file: str) -> str:
    endpoint = os.environ.get("HF_ENDPOINT") or HF_ENDPOINT
    rev = urllib.parse.quote(hf.revision, safe="%")
    return f"{endpoint.rstrip('/')}/{hf.repo}/resolve/{rev}/{urllib.parse.quote(file)}"


def open_remote(spec: str) -> Checkpoint:
    """Open a URL or hf:// spec; reads the header (or index) and the small JSON beside it."""
    if spec.startswith("hf://"):
        hf = parse_hf(spec)
        if hf.file is not None:
            return _open_url(hf_url(hf, hf.file), spec, hub=True)
        index_url = hf_url(hf, "model.safetensors.index.json")
        raw = fetch(index_url, f"{spec} model.safetensors.index.json", missing_ok=True)
        if raw is not None:
            return _open_sharded(index_url, spec, raw, hub=True)
        try:
            return _open_url(hf_url(hf, "model.safetensors"), spec, hub=True)
        except HttpStatusError as exc:
            if exc.status != 404:
                raise
            raise InputError(
                f"{spec} has neither model.safetensors.index.json nor model.safetensors at "
                f"revision {hf.revision}; name the weights file: {spec}/path/to/file.safetensors"
            ) from None
    return _open_url(spec, spec, hub=False)


def _open_url(url: str, shown: str, hub: bool) -> Checkpoint:
    path = urllib.parse.urlsplit(url).path
    if path.endswith(".safetensors.index.json"):
        raw = fetch(url, shown)
        assert raw is not None
        return _open_sharded(url, shown, raw, hub)
    if not path.endswith(".safetensors"):
        raise UsageError(
            f"{shown}: remote checkpoints are .safetensors files or .safetensors.index.json "
            "indexes (or hf://ORG/REPO); download other formats and pass the local path"
        )
    from emb_cli.sources.safetensors_file import read_header

    header = read_header(HttpReader(url, shown))
    ckpt = Checkpoint(
        path=shown,
        kind=Format.HF_DIR if hub else Format.SAFETENSORS,
        names=list(header.tensors),
        get=header.tensors.__getitem__,
        file_of=lambda _name: shown,
        weights_path=None,
        metadata=dict(header.metadata),
    )
    _attach_siblings(ckpt, url, shown)
    return ckpt


def shard_url(index_url: str, shard: str) -> str:
    return urllib.parse.urljoin(index_url, urllib.parse.quote(shard))


def _open_sharded(index_url: str, shown: str, raw: bytes, hub: bool) -> Checkpoint:
    from emb_cli.sources.safetensors_file import parse_index, read_header

    index = parse_index(shown, raw)
    headers: dict[str, SafetensorsHeader] = {}
    ckpt: Checkpoint

    def shown_shard(name: str) -> str:
        return (
            f"{shown} {index.weight_map[name]}"
            if hub
            else shard_url(index_url, index.weight_map[name])
        )

    def get(name: str) -> TensorRef:
        shard = index.weight_map[name]
        if shard not in headers:  # only the shards a command touches are ever requested
            headers[shard] = read_header(HttpReader(shard_url(index_url, shard), shown_shard(name)))
            ckpt.metadata.update(headers[shard].metadata)
        h = headers[shard]
        if name not in h.tensors:
            raise InputError(
                f"sharded index {shown} maps {name} to {shard}, but that shard does not hold it"
            )
        return h.tensors[name]

    ckpt = Checkpoint(
        path=shown,
        kind=Format.HF_DIR if hub else Format.SHARDED,
        names=list(index.weight_map),
        get=get,
        file_of=shown_shard,
        weights_path=None,
    )
    _attach_siblings(ckpt, index_url, shown)
    return ckpt


def _attach_siblings(ckpt: Checkpoint, weights_url: str, shown: str) -> None:
    """config.json and friends from beside the weights (absent: 404); tokenizer.json later."""
    found: dict[str, dict[str, Any]] = {}
    for name in SIBLINGS:
        url = urllib.parse.urljoin(weights_url, name)
        raw = fetch(url, f"{name} beside {shown}", missing_ok=True)
        if raw is not None:
            found[name] = _json_object(raw, f"{name} beside {shown}")
    ckpt.config = found.get("config.json")
    ckpt.generation_config = found.get("generation_config.json")
    ckpt.tokenizer_config = found.get("tokenizer_config.json")
    tokenizer_url = urllib.parse.urljoin(weights_url, "tokenizer.json")
    ckpt.tokenizer_fetch = lambda: fetch_tokenizer_json(tokenizer_url, shown)


def fetch_tokenizer_json(url: str, shown: str) -> str | None:
    """tokenizer.json as text, fetched only when a command needs the tokenizer."""
    raw = fetch(url, f"tokenizer.json beside {shown}", missing_ok=True)
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"tokenizer.json beside {shown} is not UTF-8") from None
