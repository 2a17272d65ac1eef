"""GGUF files (llama.cpp): the header and metadata read by gguf's own GGUFReader,
rows read with pread at each tensor's data offset. No torch.

ggml lists dimensions innermost first: token_embd.weight of a 32000 x 4096 table is
stored as ne = [4096, 32000]. Everything here is turned round to PyTorch's
(vocab_size, embed_dim) order. A quantised row is a whole number of blocks:
Q8_0 packs 32 values into 34 bytes, so a 4096-wide row is 128 blocks, 4352 bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emb_cli.errors import InputError
from emb_cli.sources.base import Checkpoint, Format, Reader
from emb_cli.sources.tensors import FileTensor

if TYPE_CHECKING:
    import numpy as np
    from gguf import GGUFReader

MAGIC = b"GGUF"
# ggml types stored as plain arrays: ggml name -> (emb's dtype name, itemsize)
PLAIN_TYPES: dict[str, tuple[str, int]] = {
    "F32": ("float32", 4),
    "F16": ("float16", 2),
    "BF16": ("bfloat16", 2),
    "F64": ("float64", 8),
    "I8": ("int8", 1),
    "I16": ("int16", 2),
    "I32": ("int32", 4),
    "I64": ("int64", 8),
}


@dataclass
class QuantTensor(FileTensor):
    """A ggml block-quantised tensor (Q8_0, Q4_K, ...), dequantised by gguf.quants per read.

    raw=True also yields dequantised float32: the stored bytes of two tensors of
    different quant types (token_embd Q8_0, output Q6_K is common) have different
    row widths and could not be compared value by value.
    """

    ggml_type: int = 0
    block_size: int = 1
    type_size: int = 1

    @property
    def row_bytes(self) -> int:
        return self.shape[-1] // self.block_size * self.type_size

    @property
    def nbytes(self) -> int:
        rows = 1
        for s in self.shape[:-1]:
            rows *= s
        return rows * self.row_bytes

    def _decode(self, buf: bytes | bytearray, nrows: int, first_row: int, raw: bool) -> np.ndarray:
        import numpy as np
        from gguf import GGMLQuantizationType
        from gguf.quants import dequantize

        qtype = GGMLQuantizationType(self.ggml_type)
        blocks = np.frombuffer(buf, dtype=np.uint8).reshape(nrows, self.row_bytes)
        try:
            out = dequantize(blocks, qtype)
        except NotImplementedError as exc:
            raise InputError(
                f"tensor {self.name} in {self.file} is {qtype.name}, which gguf cannot "
                "dequantise, so emb cannot read its values; convert the model to Q8_0, "
                "F16 or F32 with llama.cpp (llama-quantize or convert_hf_to_gguf.py)"
            ) from exc
        return np.asarray(out, dtype=np.float32).reshape(nrows, self.shape[-1])


DIR_FILES: tuple[tuple[int, str], ...] = ()
DIR_GLOB: str | None = "*.gguf"
HEAD = "output.weight"


def recognises(path: str) -> bool:
    return path.endswith(".gguf") or _has_magic(Path(path))


def _has_magic(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def open_path(path: str, readers: Sequence[Reader]) -> Checkpoint:
    return open_gguf(Path(path))


def open_gguf(path: Path) -> Checkpoint:
    """A GGUF file as a Checkpoint: tensor names, TensorRefs and an HF-vocabulary config."""
    size = _check_magic(path)
    reader = _read(path)
    try:
        tensors = _tensors(path, reader, size)
        config = _config(reader, tensors)
    except InputError:
        raise
    except Exception as exc:  # a hostile header can break the reader anywhere
        raise _broken(path, exc) from exc
    finally:
        # The reader memmaps the whole file; we read with pread and keep none of it.
        del reader
    return Checkpoint(
        path=path,
        kind=Format.GGUF,
        names=list(tensors),
        get=tensors.__getitem__,
        file_of=lambda _name: str(path),
        weights_path=path,
        config=config,
        # llama.cpp writes no output.weight when the head is tied to token_embd.
        tie_rule=(HEAD not in tensors, "gguf: output.weight absent"),
    )


def _check_magic(path: Path) -> int:
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(len(MAGIC))
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if head != MAGIC:
        raise InputError(
            f"{path} is not a GGUF file: it starts with {head!r}, not {MAGIC!r}; "
            "pass a .gguf file written by llama.cpp, or rename it if it is another format"
        )
    return size


def _read(path: Path) -> GGUFReader:
    from gguf import GGUFReader

    try:
        return GGUFReader(path)
    except Exception as exc:  # ValueError, IndexError, KeyError ... from a bad header
        raise _broken(path, exc) from exc


def _broken(path: Path, exc: BaseException) -> InputError:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, IndexError) or any(w in text for w in ("reshape", "divisor", "bounds")):
        # GGUFReader reads through numpy views of a memmap: past the end of a short
        # file they come back empty or short, and fail to index, view or reshape.
        text = "the file ends before its header or tensor data does"
    return InputError(
        f"{path} is not a readable GGUF file ({text}); it is truncated or damaged: "
        "download or convert it again"
    )


def _tensors(path: Path, reader: GGUFReader, size: int) -> dict[str, FileTensor]:
    from gguf import GGML_QUANT_SIZES

    out: dict[str, FileTensor] = {}
    for t in reader.tensors:
        shape = tuple(int(d) for d in reversed(t.shape.tolist()))  # ggml ne0 is the row width
        end = int(t.data_offset) + int(t.n_bytes)
        if end > size:
            raise InputError(
                f"{path} is truncated: tensor {t.name} needs bytes up to {end}, the file has "
                f"{size}; download or convert it again"
            )
        type_name = t.tensor_type.name
        if type_name in PLAIN_TYPES:
            dtype, itemsize = PLAIN_TYPES[type_name]
            out[t.name] = FileTensor(
                name=t.name,
                dtype=dtype,
                shape=shape,
                file=str(path),
                offset=int(t.data_offset),
                itemsize=itemsize,
            )
            continue
        block_size, type_size = GGML_QUANT_SIZES[t.tensor_type]
        if shape and shape[-1] % block_size:
            raise InputError(
                f"{path} is not a valid GGUF file: tensor {t.name} is {type_name} with rows of "
                f"{shape[-1]} values, not a multiple of its {block_size}-value block"
            )
        out[t.name] = QuantTensor(
            name=t.name,
            dtype=type_name.lower(),
            shape=shape,
            file=str(path),
            offset=int(t.data_offset),
            itemsize=type_size,
            ggml_type=int(t.tensor_type),
            block_size=block_size,
            type_size=type_size,
        )
    return out


def _config(reader: GGUFReader, tensors: dict[str, FileTensor]) -> dict[str, Any]:
    """GGUF metadata in Hugging Face's config.json vocabulary, for the keys emb reads.

    No tie_word_embeddings: llama.cpp ties by leaving output.weight out, and
    LoadedSource reads the tie from that.
    """
    config: dict[str, Any] = {}
    arch = _scalar(reader, "general.architecture")
    if isinstance(arch, str):
        config["model_type"] = arch
        dim = _scalar(reader, f"{arch}.embedding_length")
        if isinstance(dim, int):
            config["hidden_size"] = dim
    tokens = reader.get_field("tokenizer.ggml.tokens")
    if tokens is not None:
        config["vocab_size"] = len(tokens.data)  # one entry per token; no need to decode them
    elif "token_embd.weight" in tensors and len(tensors["token_embd.weight"].shape) == 2:
        config["vocab_size"] = tensors["token_embd.weight"].shape[0]
    pad = _scalar(reader, "tokenizer.ggml.padding_token_id")
    if isinstance(pad, int):
        config["pad_token_id"] = pad
    return config


def _scalar(reader: GGUFReader, key: str) -> Any:
    field = reader.get_field(key)
    if field is None or not field.types or len(field.types) != 1:
        return None  # absent, or an array where a single value belongs
    value = field.contents()
    if isinstance(value, bool):
        return None
    return value
