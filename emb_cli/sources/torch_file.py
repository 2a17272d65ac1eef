"""PyTorch state dicts (pytorch_model.bin, *.pt, *.pth) and their sharded index.

Loaded only with torch.load(weights_only=True, mmap=True): a pickle may run any
code it names, and weights_only allows tensors and plain containers only. mmap
leaves the data on disk; a row read touches only that row's pages.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emb_cli.errors import InputError, first_line
from emb_cli.sources import dtypes
from emb_cli.sources.base import Checkpoint, Format, Reader
from emb_cli.sources.files.inputs import is_file, open_input
from emb_cli.sources.sharded import read_index

if TYPE_CHECKING:
    import numpy as np
    import torch

# Keys under which training scripts nest the state dict (Lightning, timm, fairseq).
_NESTED_KEYS = ("state_dict", "model")


@dataclass
class TorchTensor:
    """One tensor of a loaded state dict, handed out as float32 numpy row blocks."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    file: str
    tensor: torch.Tensor

    @property
    def nbytes(self) -> int:
        return int(self.tensor.numel() * self.tensor.element_size())

    @property
    def scheme(self) -> None:
        return None

    @property
    def storage_key(self) -> tuple[int, int, tuple[int, ...]]:
        """Equal for two names saved from one tensor: torch.load gives them one storage."""
        t = self.tensor
        return (t.untyped_storage().data_ptr(), int(t.storage_offset()), tuple(t.stride()))

    def _numpy(self, block: torch.Tensor, raw: bool) -> np.ndarray:
        import torch

        if not raw:
            # bf16, fp16 and fp8 widen to float32 exactly, as FileTensor's do.
            return block.to(torch.float32).numpy()
        stored = dtypes.BY_NAME.get(self.dtype)
        if stored is None or not stored.numpy.startswith("ml_dtypes."):
            return block.numpy()
        # numpy lacks the dtype: read its bits as integers, view them as ml_dtypes' type
        bits = block.view(getattr(torch, f"int{8 * stored.itemsize}")).numpy()
        return bits.view(dtypes.numpy_dtype(self.dtype))

    def read_rows(self, token_ids: Sequence[int]) -> np.ndarray:
        import torch

        ids = torch.tensor([int(t) for t in token_ids], dtype=torch.long)
        return self._numpy(self.tensor.index_select(0, ids), raw=False)

    def iter_chunks(
        self, rows_per_chunk: int, *, raw: bool = False
    ) -> Iterator[tuple[int, np.ndarray]]:
        nrows = self.shape[0]
        for start in range(0, nrows, rows_per_chunk):
            block = self.tensor[start : start + rows_per_chunk].contiguous()
            yield start, self._numpy(block, raw)


SUFFIXES = (".bin", ".pt", ".pth")
DIR_FILES: tuple[tuple[int, str], ...] = (
    (2, "pytorch_model.bin.index.json"),
    (3, "pytorch_model.bin"),
)
DIR_GLOB: str | None = None


def recognises(path: str) -> bool:
    return Path(path).suffix in SUFFIXES or path.endswith(".bin.index.json")


def open_path(path: str, readers: Sequence[Reader]) -> Checkpoint:
    return open_torch(Path(path))


def open_torch(path: Path) -> Checkpoint:
    """A state dict file, or pytorch_model.bin.index.json and the shards it maps."""
    if path.name.endswith(".index.json"):
        return _open_index(path)
    tensors = _state_dict(path)
    return Checkpoint(
        path=path,
        kind=Format.TORCH,
        names=list(tensors),
        get=lambda name: _ref(name, tensors[name], path),
        file_of=lambda _name: str(path),
        weights_path=path,
    )


def _open_index(path: Path) -> Checkpoint:
    # Same index format as safetensors': weight_map of tensor name -> shard file.
    weight_map = read_index(path).weight_map
    loaded: dict[Path, dict[str, torch.Tensor]] = {}

    def get(name: str) -> TorchTensor:
        shard = path.parent / weight_map[name]
        if not is_file(shard, "shard"):
            raise InputError(
                f"index {path.name} says {name} is in {shard.name}, which is missing; "
                "download the whole checkpoint or fix the index"
            )
        if shard not in loaded:
            loaded[shard] = _state_dict(shard)
        if name not in loaded[shard]:
            raise InputError(
                f"index {path.name} maps {name} to {shard.name}, but that shard does not hold it"
            )
        return _ref(name, loaded[shard][name], shard)

    return Checkpoint(
        path=path,
        kind=Format.TORCH,
        names=list(weight_map),
        get=get,
        file_of=lambda name: str(path.parent / weight_map[name]),
        weights_path=path,
    )


def _ref(name: str, t: torch.Tensor, file: Path) -> TorchTensor:
    return TorchTensor(
        name=name,
        dtype=str(t.dtype).removeprefix("torch."),
        shape=tuple(int(s) for s in t.shape),
        file=str(file),
        tensor=t,
    )


def _state_dict(path: Path) -> dict[str, torch.Tensor]:
    import torch

    obj = _load(path)
    if isinstance(obj, dict):
        for key in _NESTED_KEYS:
            inner = obj.get(key)
            if isinstance(inner, dict) and any(isinstance(v, torch.Tensor) for v in inner.values()):
                obj = inner
                break
    if not isinstance(obj, dict):
        raise InputError(
            f"{path} holds a {type(obj).__name__}, not a state dict of name -> tensor; "
            "save model.state_dict() instead"
        )
    return {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}


def _load(path: Path) -> Any:
    import warnings

    # torch.load takes a path (mmap needs one): check it is a regular file first, since
    # open() of a FIFO named *.pt blocks forever. Records it as an input too.
    open_input(path, "PyTorch checkpoint").close()
    try:
        # torch warns on stderr about pickle protocols it was not written with; the
        # outcome (loaded or refused) is what emb reports, on one line.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _torch_load(path)
    except pickle.UnpicklingError as exc:
        if "weights only" not in str(exc).lower():
            raise _unreadable(path, exc) from exc  # "invalid load key": not a pickle at all
        raise InputError(
            f"{path} cannot be loaded with weights_only=True ({_unpickler_reason(exc)}): "
            "it is damaged, or needs full unpickling, which can run arbitrary code, so emb "
            "refuses it; if you trust it, convert it to safetensors (torch.load it yourself, "
            "then safetensors.torch.save_file)"
        ) from exc
    except Exception as exc:  # zip, EOF and storage errors from a damaged file
        raise _unreadable(path, exc) from exc


def _torch_load(path: Path) -> Any:
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError as exc:
        if "mmap" not in str(exc):
            raise
        # Files from before torch 1.6's zip format cannot be memory-mapped; still weights_only.
        return torch.load(path, map_location="cpu", weights_only=True)


def _unpickler_reason(exc: BaseException) -> str:
    """The one line of torch's long message that names what was refused."""
    for line in str(exc).splitlines():
        if "Unsupported" in line or "allowed global" in line:
            return line.strip().split(". Please")[0]
    return "WeightsUnpickler refused it"


def _unreadable(path: Path, exc: BaseException) -> InputError:
    return InputError(
        f"{path} is not a PyTorch checkpoint that torch.load can read ({first_line(exc)}); "
        "check the file is complete"
    )
