"""Checkpoints read over HTTP: URLs and hf:// specs opened into Checkpoints.

`https://.../model.safetensors`, `https://.../model.safetensors.index.json`,
`https://.../x.gguf`, `hf://ORG/REPO[@REV][/FILE]`, and repo ids the local cache lacks
(hub.py). Headers and indexes are read by ranges, the JSON beside the weights in one GET
each, tokenizer.json only when a command needs it; the bytes travel through http.py. The
/resolve/ URLs used are what HfFileSystem range-reads in the end; its API calls (a HEAD and
a tree listing per file) would add requests and no bytes.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from emb_cli.errors import InputError, UsageError
from emb_cli.sources.base import Checkpoint, Format, Reader, TensorRef
from emb_cli.sources.remote.addresses import check_url, redact
from emb_cli.sources.remote.http import HttpReader, HttpStatusError, clean, fetch

if TYPE_CHECKING:
    from emb_cli.sources.remote.hub import Resolved
    from emb_cli.sources.safetensors_file import SafetensorsHeader

# --from values read over HTTP rather than from disk.
SCHEMES = ("http://", "https://", "hf://")
DIR_FILES: tuple[tuple[int, str], ...] = ()
DIR_GLOB: str | None = None


def recognises(path: str) -> bool:
    return path.startswith(SCHEMES)


def open_path(path: str, readers: Sequence[Reader]) -> Checkpoint:
    return open_remote(path)


T = TypeVar("T")
SIBLINGS = ("config.json", "generation_config.json", "tokenizer_config.json")


def _json_object(raw: bytes, shown: str) -> dict[str, Any]:
    from emb_cli.sources.files.inputs import parse_json  # depth-guarded, as for local files

    data = parse_json(raw, clean(shown))
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
    from emb_cli.sources.remote.hub import hub_endpoint

    rev = urllib.parse.quote(hf.revision, safe="%")
    return f"{hub_endpoint()}/{hf.repo}/resolve/{rev}/{urllib.parse.quote(file)}"


def open_remote(spec: str) -> Checkpoint:
    """Open a URL or hf:// spec; reads the header (or index) and the small JSON beside it."""
    if spec.startswith("hf://"):
        return open_hub(parse_hf(spec), spec)
    check_url(spec, redact(spec))
    return _open_url(spec, redact(spec), hub=False)


def open_resolved(found: Resolved) -> Checkpoint:
    """A repo id the cache lacks (hub.resolve_repo), named by the URL it is read from."""
    repo = found.repo
    try:
        return open_hub(HfSpec(repo.repo_id, repo.revision, repo.path), None, found.looked)
    except InputError as exc:
        if found.looked and found.looked[-1] in exc.message:  # names the places already
            raise
        # a network failure, say: it matters that the cache was looked at first
        raise InputError(
            f"{repo.given}: {'; '.join(found.looked)}; and reading it from the Hub failed: "
            f"{exc.message}"
        ) from None


def open_hub(hf: HfSpec, shown: str | None, looked: Sequence[str] = ()) -> Checkpoint:
    """A Hub repo by /resolve/ URLs: FILE, or the weights of the repo (or of its subfolder).

    shown None: the checkpoint is named by the URL read; `looked` lists the places tried
    before the Hub (the local path, the cache) for the message when the Hub has nothing.
    """
    if hf.file is not None and hf.file.endswith((".safetensors", ".json")):
        url = hf_url(hf, hf.file)
        return _missing_repo(lambda: _open_url(url, shown or url, hub=True), hf, looked)
    folder = f"{hf.file.strip('/')}/" if hf.file else ""
    index_url = hf_url(hf, folder + "model.safetensors.index.json")
    index_shown = f"{shown} {folder}model.safetensors.index.json" if shown else index_url
    index_shown = redact(index_shown)
    raw = _missing_repo(lambda: fetch(index_url, index_shown, missing_ok=True), hf, looked)
    if raw is not None:
        return _open_sharded(index_url, shown or index_url, raw, hub=True)
    url = hf_url(hf, folder + "model.safetensors")
    try:
        return _open_url(url, shown or url, hub=True)
    except HttpStatusError as exc:
        if exc.status not in (404, 410) or exc.error_code == "RepoNotFound":
            raise
    where = f" in {folder.rstrip('/')}" if folder else ""
    msg = (
        f"{shown or hf.repo} has neither model.safetensors.index.json nor model.safetensors"
        f"{where} at revision {hf.revision}; name the weights file: "
        f"{shown or hf.repo}/path/to/file.safetensors"
    )
    if looked:
        hub = redact(hf_url(hf, folder))
        msg = f"{hf.repo}: {'; '.join(looked)}; and on the Hub ({hub}), {msg}"
    raise InputError(msg)


def _missing_repo(open_: Callable[[], T], hf: HfSpec, looked: Sequence[str]) -> T:
    """A repo the Hub does not know: say where else emb looked (the path, the cache)."""
    try:
        return open_()
    except HttpStatusError as exc:
        if not looked or exc.error_code not in ("RepoNotFound", "RevisionNotFound"):
            raise
        raise InputError(f"{hf.repo}: {'; '.join(looked)}; and {exc.message}") from None


def _open_url(url: str, shown: str, hub: bool) -> Checkpoint:
    shown = redact(shown)  # `shown or url` above may be a URL with a password in it
    path = urllib.parse.urlsplit(url).path
    if path.endswith(".safetensors.index.json"):
        raw = fetch(url, shown)
        assert raw is not None
        return _open_sharded(url, shown, raw, hub)
    if path.endswith(".gguf"):  # header and tensor table by ranges, rows by ranges
        from emb_cli.sources.gguf.file import open_remote_gguf

        return open_remote_gguf(HttpReader(url, shown), shown)
    if not path.endswith(".safetensors"):
        raise UsageError(
            f"{shown}: remote checkpoints are .safetensors or .gguf files or "
            ".safetensors.index.json indexes (or hf://ORG/REPO); download other formats "
            "and pass the local path"
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
    from emb_cli.sources.safetensors_file import attach_fp8_scale, read_header
    from emb_cli.sources.sharded import parse_index
    from emb_cli.sources.tensors import FileTensor

    shown = redact(shown)
    index = parse_index(shown, raw)
    headers: dict[str, SafetensorsHeader] = {}
    ckpt: Checkpoint

    def shown_shard(name: str) -> str:
        return (
            f"{shown} {index.weight_map[name]}"
            if hub and not shown.startswith(("http://", "https://"))
            else redact(shard_url(index_url, index.weight_map[name]))
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
        t = h.tensors[name]
        scale = name + "_scale_inv"
        if t.scale is None and t.dtype.startswith("float8") and scale in index.weight_map:
            ref = get(scale)  # the weight's block scales, saved into another shard
            if isinstance(ref, FileTensor):
                attach_fp8_scale(shown, t, ref)
        return t

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
    if ckpt.config is not None:  # its numbers checked once, as a local config.json's are
        from emb_cli.sources.config.spec import check_config

        ckpt.config = check_config(ckpt.config, f"config.json beside {shown}")
    ckpt.generation_config = found.get("generation_config.json")
    ckpt.tokenizer.config = found.get("tokenizer_config.json")
    tokenizer_url = urllib.parse.urljoin(weights_url, "tokenizer.json")
    ckpt.tokenizer.fetch = lambda: fetch_tokenizer_json(tokenizer_url, shown)
    ckpt.tokenizer.fetched_name = f"tokenizer.json beside {shown}"


def fetch_tokenizer_json(url: str, shown: str) -> str | None:
    """tokenizer.json as text, fetched only when a command needs the tokenizer."""
    raw = fetch(url, f"tokenizer.json beside {shown}", missing_ok=True)
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"tokenizer.json beside {shown} is not UTF-8") from None
