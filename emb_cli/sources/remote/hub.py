"""Hugging Face repo ids (`ORG/NAME[@REVISION][/PATH]`) and the local Hugging Face cache.

A repo id is looked for, in order: a local path of that name (it always wins); the local
cache as huggingface_hub lays it out; then, unless HF_HUB_OFFLINE=1, the Hub by range
requests (remote/urls.py). The cache layout (huggingface_hub file_download.py):

    $HF_HUB_CACHE/models--ORG--NAME/refs/<branch or tag>    the commit it points to
    $HF_HUB_CACHE/models--ORG--NAME/snapshots/<commit>/...  the files (symlinks into blobs/)

HF_HUB_CACHE, HF_HOME, HF_HUB_OFFLINE and HF_ENDPOINT are read through
huggingface_hub.constants, imported only when a repo id is used (~60 ms; the HTTP client
behind try_to_load_from_cache would cost ~0.4 s on every cache hit).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emb_cli.errors import InputError, UsageError

if TYPE_CHECKING:
    from huggingface_hub import CachedRepoInfo, CachedRevisionInfo

# The Hub's repo name rules (huggingface_hub validate_repo_id): word characters, "-" and
# ".", starting and ending with a word character, at most 96, no "--" or "..".
_PART = r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9_])?"
_REPO = re.compile(rf"(?P<org>{_PART})/(?P<name>{_PART})(?:@(?P<rev>[^/@]+))?(?:/(?P<path>.*))?")
# A NAME ending like a file is a missing local file (runs/model.safetensors), not a repo.
_FILE_SUFFIXES = (".safetensors", ".json", ".gguf", ".bin", ".pt", ".pth", ".toml")
_HEX = re.compile(r"[0-9a-f]{7,40}")
# Any of these in a snapshot means its weights were downloaded (which one to open is the
# reader's choice); a snapshot with only config.json falls through to the Hub.
_WEIGHT_GLOBS = ("*.safetensors", "*.safetensors.index.json", "*.gguf", "*.bin", "*.pt", "*.pth")
REMOTE_SCHEMES = ("http://", "https://", "hf://")


@dataclass(frozen=True)
class RepoId:
    """`ORG/NAME[@REVISION][/PATH]` as typed; a revision with "/" is written %2F."""

    repo_id: str
    revision: str  # "main" unless @REVISION was given
    path: str | None  # a file or subfolder inside the repo
    given: str

    @property
    def hf_spec(self) -> str:
        """The same repo as an hf:// spec (remote/urls.py reads those)."""
        rev = self.revision.replace("/", "%2F")
        return f"hf://{self.repo_id}@{rev}" + (f"/{self.path}" if self.path else "")


def parse_repo_id(text: str) -> RepoId | None:
    """The parts of `ORG/NAME[@REV][/PATH]`, or None when it is not written like one."""
    m = _REPO.fullmatch(text)
    if m is None:
        return None
    org, name = m.group("org"), m.group("name")
    if any(s in part for part in (org, name) for s in ("--", "..")):
        return None
    path = (m.group("path") or "").strip("/") or None
    if path is not None and any(p in ("", ".", "..") for p in path.split("/")):
        return None
    revision = (m.group("rev") or "main").replace("%2F", "/").replace("%2f", "/")
    if any(p in ("", ".", "..") for p in revision.split("/")):
        return None
    return RepoId(f"{org}/{name}", revision, path, text)


def looks_like_repo_id(text: Path | str | None) -> bool:
    """True for a string that names a Hub repo and no local path.

    An existing path always wins; so does a missing one whose first folder exists
    (`checkpoints/run-3` with checkpoints/ present is a typo, not a repo). A NAME with a
    file suffix (`out/model.safetensors`) is a missing file. URLs and hf:// specs are
    urls.py's; absolute, ./, ../ and ~ paths are paths.
    """
    if not isinstance(text, str) or text.startswith(REMOTE_SCHEMES):
        return False
    if text.startswith(("/", "./", "../", "~", "\\")) or "\\" in text or os.path.exists(text):
        return False
    repo = parse_repo_id(text)
    if repo is None:
        return False
    org, name = repo.repo_id.split("/")
    return not name.lower().endswith(_FILE_SUFFIXES) and not os.path.isdir(org)


# ---------------------------------------------------------------- where huggingface_hub looks


def hub_constants() -> Any:
    """huggingface_hub.constants, which parses $HF_ENDPOINT (and more) at import: a bad
    value there (`https://[::1`) is the user's setting, named as such, not a crash."""
    try:
        from huggingface_hub import constants
    except ValueError as exc:
        from emb_cli.sources.remote.addresses import redact

        endpoint = os.environ.get("HF_ENDPOINT", "")
        raise UsageError(
            f"huggingface_hub cannot start with this environment ({exc}); check HF_ENDPOINT"
            f"={redact(endpoint)!r} and the other HF_* variables"
        ) from None
    return constants


def cache_dir() -> Path:
    """$HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub (huggingface_hub's).

    An empty HF_HUB_CACHE (or HF_HOME) counts as unset: huggingface_hub would take "" for
    the working folder and scan it as a cache.
    """
    constants = hub_constants()
    value = constants.HF_HUB_CACHE
    env = os.environ
    if (
        env.get("HF_HUB_CACHE") == ""
        or value in ("", ".")
        or ("HF_HUB_CACHE" not in env and env.get("HF_HOME") == "")
    ):
        home = env.get("HF_HOME") or os.path.join(
            env.get("XDG_CACHE_HOME") or os.path.join("~", ".cache"), "huggingface"
        )
        value = os.path.join(os.path.expanduser(home), "hub")
    return Path(value)


def cache_error(where: Path | str, exc: OSError) -> InputError:
    """An OSError while reading the cache, as one line naming the path and the reason."""
    path = exc.filename or where
    shown = str(path) if len(str(path)) <= 300 else str(path)[:300] + "..."
    return InputError(
        f"cannot read the Hugging Face cache at {shown}: {exc.strerror or exc}"
        + ("; check the folder's permissions" if isinstance(exc, PermissionError) else "")
    )


# A ref holds a 40-hex commit (huggingface_hub writes it without a newline): read no more.
MAX_REF_BYTES = 256


def read_ref(ref: Path) -> str:
    """The commit a refs/ file names, from its first MAX_REF_BYTES bytes only (a 4 GB sparse
    refs file once cost 3 GB of memory); anything but hex digits there is refused."""
    from emb_cli.sources.files.inputs import kind

    if kind(ref) != "file":  # a FIFO would block; /dev/zero would never end
        raise InputError(f"{ref} is not a regular file; a ref holds a commit hash")
    with open(ref, "rb") as fh:
        raw = fh.read(MAX_REF_BYTES + 1)
    text = raw.decode("ascii", errors="replace").strip()
    if len(raw) > MAX_REF_BYTES or not re.fullmatch(r"[0-9a-fA-F]{7,64}", text):
        raise InputError(
            f"{ref} does not hold a commit hash (40 hex digits); the cache entry is damaged: "
            "delete that refs file, or download the model again"
        )
    return text.lower()


def _is_dir(path: Path) -> bool:
    """is_dir, except that a folder we may not read raises (PermissionError) instead of
    passing for absent."""
    import errno
    import stat

    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            return False
        raise


def offline() -> bool:
    """HF_HUB_OFFLINE=1 (or TRANSFORMERS_OFFLINE=1), as huggingface_hub reads it."""
    constants = hub_constants()
    return bool(constants.is_offline_mode())


def hub_endpoint() -> str:
    """$HF_ENDPOINT as set now, else huggingface_hub's endpoint (https://huggingface.co)."""
    constants = hub_constants()
    endpoint = (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")
    from emb_cli.sources.remote.addresses import check_url, redact

    if not endpoint.startswith(("http://", "https://")):
        raise UsageError(f"HF_ENDPOINT={redact(endpoint)!r} is not an http:// or https:// URL")
    check_url(endpoint, f"HF_ENDPOINT={redact(endpoint)}")
    return endpoint


def repo_cache_dir(repo_id: str, cache: Path | None = None) -> Path:
    """models--ORG--NAME under the cache (huggingface_hub repo_folder_name)."""
    constants = hub_constants()
    folder: str = constants.REPO_ID_SEPARATOR.join(["models", *repo_id.split("/")])
    return (cache if cache is not None else cache_dir()) / folder


def snapshot_dir(repo_id: str, revision: str, cache: Path | None = None) -> tuple[Path | None, str]:
    """The cached snapshot of a branch, tag or commit (a unique prefix of 7+ hex digits).

    Returns (snapshot, "") or (None, why not) where why names what the cache does hold.
    """
    repo_dir = repo_cache_dir(repo_id, cache)
    snapshots = repo_dir / "snapshots"
    if not _is_dir(snapshots):
        return None, "not cached"
    if any(len(part.encode()) > 255 for part in revision.split("/")):  # ENAMETOOLONG
        raise UsageError(
            f"revision {revision[:40]}... is {len(revision)} characters: no branch, tag or "
            "commit has a name that long"
        )
    ref = repo_dir / "refs" / revision
    commit = revision
    if ref.is_file():
        commit = read_ref(ref)
    if commit not in ("", ".", "..") and "/" not in commit and _is_dir(snapshots / commit):
        return snapshots / commit, ""
    if _HEX.fullmatch(revision):
        hits = sorted(p for p in snapshots.iterdir() if p.name.startswith(revision))
        if len(hits) == 1:
            return hits[0], ""
        if len(hits) > 1:
            shown = ", ".join(p.name[:12] for p in hits)
            return None, f"commit {revision} is ambiguous: {shown}"
    refs = sorted(
        str(p.relative_to(repo_dir / "refs")) for p in (repo_dir / "refs").rglob("*") if p.is_file()
    )
    held = ", ".join(refs) or "none"
    commits = ", ".join(sorted(p.name[:12] for p in snapshots.iterdir())) or "none"
    if ref.is_file():
        return None, f"refs/{revision} points to {commit[:12]}, whose snapshot is missing"
    return None, f"revision {revision} is not cached (refs: {held}; snapshots: {commits})"


def holds_weights(folder: Path) -> bool:
    return any(p.is_file() for g in _WEIGHT_GLOBS for p in folder.glob(g))


@dataclass(frozen=True)
class Resolved:
    """Where a repo id is read from: a path in the cache, or the Hub by range requests."""

    repo: RepoId
    local: Path | None  # the snapshot, or the file or subfolder in it, when cached
    hub_url: str  # $HF_ENDPOINT/ORG/NAME: read from there when local is None
    looked: tuple[str, ...]  # the places tried before, for the message if the Hub fails too

    @property
    def description(self) -> str:
        return f"cache: {self.local}" if self.local is not None else f"hub: {self.hub_url}"


def resolve_repo(text: str) -> Resolved:
    """Find a repo id in the local cache, else plan to read it from the Hub.

    Raises InputError naming the places looked at when it is not cached and
    HF_HUB_OFFLINE=1 keeps emb off the Hub.
    """
    repo = parse_repo_id(text)
    if repo is None:
        raise UsageError(f"{text}: write a Hub repo as ORG/NAME[@REVISION][/FILE]")
    cache = cache_dir()
    repo_dir = repo_cache_dir(repo.repo_id, cache)
    try:
        found = _find_cached(repo, repo_dir, cache)
    except OSError as exc:  # an unreadable folder, a symlink loop, a name too long
        raise cache_error(repo_dir, exc) from None
    if isinstance(found, Resolved):
        return found
    why = found
    looked = (f"no local path ./{text}", f"not in the Hugging Face cache ({repo_dir}: {why})")
    if offline():
        raise InputError(
            f"{text}: {'; '.join(looked)}; and HF_HUB_OFFLINE=1 keeps emb off the Hub: "
            "unset it, or download the model first"
        )
    return Resolved(repo, None, f"{hub_endpoint()}/{repo.repo_id}", looked)


def _find_cached(repo: RepoId, repo_dir: Path, cache: Path) -> Resolved | str:
    """The cached snapshot (or the file in it) of a repo id, or why there is none."""
    snap, why = snapshot_dir(repo.repo_id, repo.revision, cache)
    if snap is None:
        return why
    target = snap / repo.path if repo.path else snap
    if repo.path and target.exists():
        return Resolved(repo, target, "", ())
    if not repo.path and holds_weights(snap):
        return Resolved(repo, snap, "", ())
    if repo.path:
        return f"snapshot {snap.name[:12]} has no {repo.path}{_downloading(repo_dir)}"
    return f"snapshot {snap.name[:12]} holds no weights, {_listing(snap, repo_dir)}"


def _listing(folder: Path, repo_dir: Path) -> str:
    names = sorted(p.name for p in folder.iterdir())
    if not names:
        return "no files yet" + _downloading(repo_dir)
    return (
        "only " + ", ".join(names[:6]) + (" ..." if len(names) > 6 else "") + _downloading(repo_dir)
    )


def _downloading(repo_dir: Path) -> str:
    """blobs/*.incomplete: huggingface_hub is downloading a file, or was stopped doing so."""
    try:
        parts = [p for p in (repo_dir / "blobs").iterdir() if p.name.endswith(".incomplete")]
        got = sum(p.stat().st_size for p in parts)
    except OSError:
        return ""
    if not parts:
        return ""
    return (
        f" (a download is in progress or was interrupted: {len(parts)} .incomplete "
        f"file{'s' if len(parts) != 1 else ''} in blobs/, {got:,} bytes so far)"
    )


# ---------------------------------------------------------------- the whole cache


@dataclass(frozen=True)
class CachedSnapshot:
    """One revision of a model repo in the cache, as huggingface_hub's scan_cache_dir sees it."""

    repo_id: str
    commit: str
    refs: tuple[str, ...]  # branches and tags pointing to it: ("main",)
    path: Path  # snapshots/<commit>
    size_on_disk: int  # bytes of the blobs this revision links to


@dataclass(frozen=True)
class CacheScan:
    cache_dir: Path
    snapshots: tuple[CachedSnapshot, ...]  # model repos only, sorted by repo id then commit
    warnings: tuple[str, ...]  # repos huggingface_hub found corrupted


def scan_cache(cache: Path | None = None) -> CacheScan:
    """Every model revision in the cache (file stats only: no file is opened).

    Repo by repo, with huggingface_hub's own per-repo step: its scan_cache_dir fails as a
    whole on one symlink loop or one refs file that is not text. A repo that cannot be
    scanned is skipped with a warning; a folder we may not read is an error.
    """
    where = cache if cache is not None else cache_dir()
    try:
        if not where.exists():
            return CacheScan(where, (), ())
        if not where.is_dir():
            raise InputError(f"the Hugging Face cache {where} is not a folder")
        repos, warnings = _scan_repos(where)
    except OSError as exc:
        raise cache_error(where, exc) from None
    snaps = [
        _snapshot(repo.repo_id, rev)
        for repo in repos
        if repo.repo_type == "model"
        for rev in repo.revisions
    ]
    # per repo: main first, then the other refs, then the commits no ref names
    snaps.sort(
        key=lambda s: (s.repo_id.lower(), "main" not in s.refs, not s.refs, s.refs, s.commit)
    )
    return CacheScan(where, tuple(snaps), tuple(warnings))


def _scan_repos(where: Path) -> tuple[list[CachedRepoInfo], list[str]]:
    from huggingface_hub.errors import CorruptedCacheException
    from huggingface_hub.utils._cache_manager import _scan_cached_repo

    repos: list[CachedRepoInfo] = []
    warnings: list[str] = []
    for repo_path in sorted(where.iterdir()):
        if not repo_path.name.startswith(("models--", "datasets--", "spaces--")):
            continue  # .locks, CACHEDIR.TAG, huggingface_hub's shared blobs
        try:
            _check_refs(repo_path)
            repos.append(_scan_cached_repo(repo_path))
        except CorruptedCacheException as exc:
            warnings.append(str(exc))
        except InputError as exc:
            warnings.append(f"{repo_path.name} skipped: {exc.message}")
        except OSError as exc:
            if isinstance(exc, PermissionError):
                raise
            warnings.append(f"{repo_path.name} skipped: {exc.strerror or exc}: {exc.filename}")
    return repos, warnings


def _check_refs(repo_path: Path) -> None:
    """Each refs file a few hex digits (huggingface_hub reads them whole, as UTF-8)."""
    refs = repo_path / "refs"
    if not _is_dir(refs):
        return

    def fail(exc: OSError) -> None:  # rglob would pass over an unreadable folder in silence
        raise exc

    for folder, _, files in os.walk(refs, onerror=fail):
        for name in files:
            read_ref(Path(folder) / name)


def _snapshot(repo_id: str, rev: CachedRevisionInfo) -> CachedSnapshot:
    return CachedSnapshot(
        repo_id=repo_id,
        commit=rev.commit_hash,
        refs=tuple(sorted(rev.refs)),
        path=Path(rev.snapshot_path),
        size_on_disk=int(rev.size_on_disk),
    )
