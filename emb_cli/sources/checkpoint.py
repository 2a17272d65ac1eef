"""Open what people have on disk: a safetensors file, a sharded index, a Hugging Face
model directory, a GGUF file, a PyTorch state dict. Headers and small JSON only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emb_cli.errors import InputError, TensorNotFound
from emb_cli.sources.safetensors_file import SafetensorsHeader, read_header, read_index
from emb_cli.sources.spec import read_json_object

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from emb_cli.sources.tensors import TensorRef

WEIGHT_FILES = (
    "model.safetensors.index.json",
    "model.safetensors",
    "pytorch_model.bin.index.json",
    "pytorch_model.bin",
)
TORCH_SUFFIXES = (".bin", ".pt", ".pth")


@dataclass
class Checkpoint:
    path: Path | str  # what the user named: a URL or hf:// spec for remote checkpoints
    kind: str  # safetensors | sharded | hf-dir | gguf | torch
    names: list[str]  # every tensor name, from headers or the index
    get: Callable[[str], TensorRef]
    file_of: Callable[[str], str]
    weights_path: Path | None = None
    config: dict[str, Any] | None = None
    config_path: Path | None = None
    generation_config: dict[str, Any] | None = None
    tokenizer_path: Path | None = None
    tokenizer_url: str | None = None  # remote: tokenizer.json, fetched on first use (404: none)
    tokenizer_config: dict[str, Any] | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    _tokenizer: Any = None

    def tensor(self, name: str) -> TensorRef:
        if name not in self.names:
            shown = ", ".join(self.names[:20]) + (" ..." if len(self.names) > 20 else "")
            raise TensorNotFound(f"no tensor named {name!r} in {self.path}; it has: {shown}")
        return self.get(name)

    def tokenizer(self, fetch: bool = True) -> Tokenizer | None:
        """The checkpoint's tokenizer; fetch=False never downloads a remote tokenizer.json."""
        if self._tokenizer is None and not fetch and self.tokenizer_url is not None:
            return None
        if self._tokenizer is None:
            text: str | None = None
            where: Path | str
            if self.tokenizer_path is not None:
                where = self.tokenizer_path
            elif self.tokenizer_url is not None:
                from emb_cli.sources.remote import fetch_tokenizer_json

                text = fetch_tokenizer_json(self.tokenizer_url, str(self.path))
                self.tokenizer_url = None  # asked once: a 404 means none, not a retry per call
                if text is None:
                    return None
                where = f"tokenizer.json beside {self.path}"
            else:
                return None
            from tokenizers import Tokenizer

            try:
                if text is None:
                    self._tokenizer = Tokenizer.from_file(str(where))
                else:
                    self._tokenizer = Tokenizer.from_str(text)
            except Exception as exc:  # the Rust side raises a bare Exception
                msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise InputError(f"tokenizer {where} is broken: {msg}") from exc
        tok: Tokenizer = self._tokenizer
        return tok


def open_checkpoint(path: Path | str) -> Checkpoint:
    """A local path, an http(s):// URL or hf:// spec (read by range requests), or a repo id."""
    from emb_cli.sources.resolve import is_remote

    if is_remote(path):
        # urllib costs ~20 ms to import: only remote sources pay it.
        from emb_cli.sources.remote import open_remote

        return open_remote(str(path))
    from emb_cli.sources.hub import looks_like_repo_id

    if looks_like_repo_id(path):  # ORG/NAME: the local HF cache, else the Hub
        return _open_repo(str(path))
    path = Path(path)
    if not path.exists():
        raise InputError(f"no such file or directory: {path}")
    if path.is_dir():
        return _open_dir(path)
    if path.name.endswith(".safetensors.index.json"):
        ckpt = _open_sharded(path)
        _attach_dir_files(ckpt, path.parent)
        return ckpt
    if path.suffix == ".gguf" or _has_magic(path, b"GGUF"):
        from emb_cli.sources.gguf_file import open_gguf

        return open_gguf(path)
    if path.suffix in TORCH_SUFFIXES or path.name.endswith(".bin.index.json"):
        from emb_cli.sources.torch_file import open_torch

        return open_torch(path)
    return _open_safetensors(path)


def _open_repo(repo_id: str) -> Checkpoint:
    from emb_cli.sources.hub import resolve_repo

    found = resolve_repo(repo_id)
    if found.local is not None:
        return open_checkpoint(found.local)
    from emb_cli.sources.remote import open_resolved

    return open_resolved(found)


def _has_magic(path: Path, magic: bytes) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(len(magic)) == magic
    except OSError:
        return False


def _open_safetensors(path: Path) -> Checkpoint:
    header = read_header(path)
    return Checkpoint(
        path=path,
        kind="safetensors",
        names=list(header.tensors),
        get=header.tensors.__getitem__,
        file_of=lambda _name: str(path),
        weights_path=path,
        metadata=dict(header.metadata),
    )


def _open_sharded(path: Path) -> Checkpoint:
    index = read_index(path)
    headers: dict[Path, SafetensorsHeader] = {}
    ckpt: Checkpoint

    def header_for(name: str) -> SafetensorsHeader:
        shard = index.shard_path(name)
        if shard not in headers:
            if not shard.is_file():
                raise InputError(
                    f"sharded index {path.name} says {name} is in {shard.name}, which is missing; "
                    "download the whole checkpoint or fix the index"
                )
            headers[shard] = read_header(shard)
            ckpt.metadata.update(headers[shard].metadata)
        return headers[shard]

    def get(name: str) -> TensorRef:
        h = header_for(name)
        if name not in h.tensors:
            raise InputError(
                f"sharded index {path.name} maps {name} to {index.weight_map[name]}, "
                "but that shard does not hold it"
            )
        return h.tensors[name]

    ckpt = Checkpoint(
        path=path,
        kind="sharded",
        names=list(index.weight_map),
        get=get,
        file_of=lambda name: str(index.shard_path(name)),
        weights_path=path,
    )
    return ckpt


def _open_dir(path: Path) -> Checkpoint:
    weights = next((path / f for f in WEIGHT_FILES if (path / f).is_file()), None)
    if weights is None:
        singles = sorted(path.glob("*.safetensors")) + sorted(path.glob("*.gguf"))
        if len(singles) == 1:
            weights = singles[0]
        elif len(singles) > 1:
            raise InputError(
                f"{path} holds several weight files and no index: "
                f"{', '.join(p.name for p in singles)}; pass one of them to --from"
            )
    if weights is None:
        raise InputError(
            f"{path} has no weights: looked for {', '.join(WEIGHT_FILES)}, *.safetensors, *.gguf"
        )
    ckpt = open_checkpoint(weights)
    ckpt.path = path
    ckpt.kind = "hf-dir" if ckpt.kind in ("safetensors", "sharded") else ckpt.kind
    _attach_dir_files(ckpt, path)
    return ckpt


def _attach_dir_files(ckpt: Checkpoint, folder: Path) -> None:
    config = folder / "config.json"
    if config.is_file():
        ckpt.config = read_json_object(config, "config")
        ckpt.config_path = config
    gen = folder / "generation_config.json"
    if gen.is_file():
        ckpt.generation_config = read_json_object(gen, "generation config")
    tok_cfg = folder / "tokenizer_config.json"
    if tok_cfg.is_file():
        ckpt.tokenizer_config = read_json_object(tok_cfg, "tokenizer config")
    tok = folder / "tokenizer.json"
    if tok.is_file():
        ckpt.tokenizer_path = tok
