"""GGUF files (llama.cpp): the header and tensor table by gguf/header.py (arrays
skipped by their lengths, decoded only when asked), rows read with pread at each tensor's
data offset, local or over HTTP ranges. No torch.

ggml lists dimensions innermost first: token_embd.weight of a 32000 x 4096 table is
stored as ne = [4096, 32000]. Everything here is turned round to PyTorch's
(vocab_size, embed_dim) order. A quantised row is a whole number of blocks:
Q8_0 packs 32 values into 34 bytes, so a 4096-wide row is 128 blocks, 4352 bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from emb_cli.errors import InputError
from emb_cli.sources import dtypes
from emb_cli.sources.base import (
    Checkpoint,
    CheckpointTokenizer,
    Format,
    QuantScheme,
    RangeReader,
    Reader,
)
from emb_cli.sources.gguf.arrays import GGUFArray
from emb_cli.sources.gguf.constants import MAGIC
from emb_cli.sources.gguf.header import GGUFHeader, read_gguf_header
from emb_cli.sources.gguf.vocab_keys import INFO_ID_KEYS, token_type_name
from emb_cli.sources.tensors import FileTensor, Parts

if TYPE_CHECKING:
    import numpy as np
    from tokenizers import Tokenizer

HEAD = "output.weight"
# Up to this many ids are decoded one by one; more decode the whole array at once.
FEW = 64

DIR_FILES: tuple[tuple[int, str], ...] = ()
DIR_GLOB: str | None = "*.gguf"


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
    def scheme(self) -> QuantScheme:  # type: ignore[override]
        """The ggml type as stats and info report it: values per block, bytes per block."""
        return ggml_scheme(self.dtype.upper(), self.block_size, self.type_size, self.shape)

    @property
    def row_bytes(self) -> int:
        return self.shape[-1] // self.block_size * self.type_size

    @property
    def nbytes(self) -> int:
        rows = 1
        for s in self.shape[:-1]:
            rows *= s
        return rows * self.row_bytes

    def decode_block(
        self, first: int, n: int, parts: Parts, raw: bool, out: np.ndarray | None = None
    ) -> np.ndarray:
        import numpy as np
        from gguf import GGMLQuantizationType
        from gguf.quants import dequantize

        qtype = GGMLQuantizationType(self.ggml_type)
        try:
            values = dequantize(parts[0], qtype)  # parts[0]: uint8 (n, row bytes)
        except NotImplementedError as exc:
            raise InputError(
                f"tensor {self.name} in {self.file} is {qtype.name}, which gguf cannot "
                "dequantise, so emb cannot read its values; convert the model to Q8_0, "
                "F16 or F32 with llama.cpp (llama-quantize or convert_hf_to_gguf.py)"
            ) from exc
        return np.asarray(values, dtype=np.float32).reshape(n, self.shape[-1])


# ggml types whose blocks hold a minimum beside the scale (w = d * q + m: llama.cpp's
# ggml-common.h); the others are symmetric. Q8_1's second half is a sum, not an offset.
_WITH_MIN = frozenset({"Q4_1", "Q5_1", "Q2_K", "Q4_K", "Q5_K"})
# Block scales that are not ggml_half (ggml-common.h): Q8_K keeps a float, MXFP4 an E8M0
# exponent, NVFP4 an unsigned E4M3 per 16 values.
_SCALE_DTYPES = {"Q8_K": "float32", "MXFP4": "e8m0", "NVFP4": "ue4m3"}


def ggml_scheme(type_name: str, block: int, size: int, shape: tuple[int, ...]) -> QuantScheme:
    """A block-quantised ggml type as a QuantScheme: bits is the code width its name says
    (Q4_K: 4), bytes_per_param the stored bytes with scales and minimums counted
    (Q4_K: 144 bytes per 256 values, 4.5 bits per weight)."""
    digits = re.search(r"\d+", type_name)
    values = 1
    for n in shape:
        values *= n
    stored = values // block * size
    return QuantScheme(
        name=f"gguf/{type_name}",
        bits=int(digits.group()) if digits else size * 8 // block,
        group_size=block,
        strategy="group",
        scale_dtype=_SCALE_DTYPES.get(type_name, "float16"),
        zero="bias" if type_name in _WITH_MIN else "none",
        block=None,
        stored_nbytes=stored,
        bytes_per_param=size / block,
    )


class GGUFVocab:
    """tokenizer.ggml.tokens and token_type, decoded on first use (128k tokens: ~35 ms)."""

    def __init__(self, tokens: GGUFArray, types: GGUFArray | None) -> None:
        self._tokens_array = tokens
        self._types_array = types

    @property
    def size(self) -> int:
        return len(self._tokens_array)

    @cached_property
    def _tokens(self) -> list[str]:
        return [str(t) for t in self._tokens_array.values(errors="replace")]

    @cached_property
    def _types(self) -> list[str] | None:
        arr = self._types_array
        if arr is None or len(arr) != self.size:
            return None
        return [token_type_name(int(t)) for t in arr.numpy().tolist()]

    def tokens(self, ids: Sequence[int]) -> list[str | None]:
        if len(ids) <= FEW and "_tokens" not in self.__dict__:
            picked = self._tokens_array.strings_at(ids)
            return [picked.get(i) for i in ids]
        toks = self._tokens
        return [toks[i] if 0 <= i < len(toks) else None for i in ids]

    def types(self, ids: Sequence[int]) -> list[str] | None:
        arr = self._types_array
        if len(ids) <= FEW and "_types" not in self.__dict__:
            if arr is None or len(arr) != self.size:
                return None
            return [
                token_type_name(int(arr.get(i)))  # type: ignore[arg-type]
                if 0 <= i < self.size
                else "unknown"
                for i in ids
            ]
        types = self._types
        if types is None:
            return None
        return [types[i] if 0 <= i < len(types) else "unknown" for i in ids]

    def all_types(self) -> list[str] | None:
        return self._types


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
    """A local GGUF file as a Checkpoint: tensors, an HF-vocabulary config, its vocabulary."""
    return _checkpoint(read_gguf_header(path), path, str(path), None)


def open_remote_gguf(reader: RangeReader, shown: str) -> Checkpoint:
    """A GGUF file over HTTP ranges: the header in a few requests, rows by ranges."""
    return _checkpoint(read_gguf_header(reader), shown, shown, reader)


def _checkpoint(
    header: GGUFHeader, path: Path | str, file: str, reader: RangeReader | None
) -> Checkpoint:
    tensors = _tensors(header, file, reader)
    tokens = header.array("tokenizer.ggml.tokens")
    vocab = GGUFVocab(tokens, header.array("tokenizer.ggml.token_type")) if tokens else None
    stored = HEAD in tensors
    local = path if reader is None and isinstance(path, Path) else None
    return Checkpoint(
        path=path,
        kind=Format.GGUF,
        names=list(tensors),
        get=tensors.__getitem__,
        file_of=lambda _name: file,
        weights_path=path if isinstance(path, Path) else None,
        config=_config(header, tensors),
        config_label="gguf",  # its keys come from the metadata: pad ids say "gguf"
        tokenizer=CheckpointTokenizer(
            config=_template_config(header),
            build=(lambda: _build_tokenizer(header, file, local)) if tokens is not None else None,
            vocab=vocab,
            facts=tokenizer_facts(header),
        ),
        tie_rule=tie_rule(stored),
    )


def tie_rule(head_stored: bool) -> tuple[bool | None, str]:
    """What llama.cpp does with the head; a GGUF has no tie flag to state it.

    llama.cpp's loader takes output.weight as the head when the file stores one, else
    token_embd (create_tensor(... TENSOR_DUPLICATED) in src/models/*.cpp). Its converter
    writes output.weight whenever the Hugging Face state dict holds a head, which for some
    architectures (GPT-2 among them) is a copy of a tied table: a stored head says nothing
    about tying, so the comparison decides (tied-duplicated when bit-equal).
    """
    if head_stored:
        return None, (
            "gguf: no tie flag; llama.cpp uses the stored output.weight as the head, and its "
            "converter writes one for some tied models (GPT-2)"
        )
    return True, "gguf: no output.weight, so llama.cpp uses token_embd as the head"


def _template_config(header: GGUFHeader) -> dict[str, Any] | None:
    """llama.cpp's `tokenizer.chat_template`, where tokenizer_config.json would hold it."""
    template = header.str_value("tokenizer.chat_template")
    return {"chat_template": template} if template else None


def _build_tokenizer(header: GGUFHeader, where: str, path: Path | None) -> Tokenizer:
    """The file's tokenizer (cached on disk for a local file). A GGUFTokenizer answers the part
    of tokenizers.Tokenizer's interface emb uses, hence the cast."""
    from emb_cli.sources.gguf.tokenizer import gguf_tokenizer

    def meta() -> Mapping[str, Any]:
        keys = [
            k for k in header.kv
            if k.startswith("tokenizer.") or k in ("general.architecture", "general.name")
        ]  # fmt: skip
        return _DecodedOnUse({k: header.kv[k] for k in keys})

    return cast("Tokenizer", gguf_tokenizer(meta, path, where))


def tokenizer_facts(header: GGUFHeader) -> dict[str, Any] | None:
    """The tokenizer as the file describes it; None when it records no tokens."""
    tokens = header.array("tokenizer.ggml.tokens")
    if tokens is None:
        return None
    specials = {
        f"{role}_token_id": header.int_value(key)
        for role, key in INFO_ID_KEYS
        if header.int_value(key) is not None
    }
    merges = header.array("tokenizer.ggml.merges")
    scores = header.array("tokenizer.ggml.scores")
    return {
        "model": header.str_value("tokenizer.ggml.model"),
        "pre": header.str_value("tokenizer.ggml.pre"),
        "tokens": len(tokens),
        "merges": len(merges) if merges is not None else 0,
        "scores": scores is not None,
        "token_types": header.array("tokenizer.ggml.token_type") is not None,
        "special_ids": specials,
    }


def _tensors(header: GGUFHeader, file: str, reader: RangeReader | None) -> dict[str, FileTensor]:
    out: dict[str, FileTensor] = {}
    for t in header.tensors.values():
        plain = dtypes.BY_GGML.get(t.type_name)
        if plain is not None:
            out[t.name] = FileTensor(
                name=t.name,
                dtype=plain.name,
                shape=t.shape,
                file=file,
                offset=t.offset,
                itemsize=plain.itemsize,
                reader=reader,
            )
            continue
        out[t.name] = QuantTensor(
            name=t.name,
            dtype=t.type_name.lower(),
            shape=t.shape,
            file=file,
            offset=t.offset,
            itemsize=t.type_size,
            reader=reader,
            ggml_type=t.ggml_type,
            block_size=t.block_size,
            type_size=t.type_size,
        )
    return out


def _config(header: GGUFHeader, tensors: dict[str, FileTensor]) -> dict[str, Any]:
    """GGUF metadata in Hugging Face's config.json vocabulary, for the keys emb reads.

    No tie_word_embeddings: llama.cpp ties by leaving output.weight out (tie_rule).
    """
    config: dict[str, Any] = {}
    arch = header.str_value("general.architecture")
    if arch is not None:
        config["model_type"] = arch
        dim = header.int_value(f"{arch}.embedding_length")
        if dim is not None:
            config["hidden_size"] = dim
    tokens = header.array("tokenizer.ggml.tokens")
    if tokens is not None:
        config["vocab_size"] = len(tokens)  # one entry per token; no need to decode them
    elif "token_embd.weight" in tensors and len(tensors["token_embd.weight"].shape) == 2:
        config["vocab_size"] = tensors["token_embd.weight"].shape[0]
    pad = header.int_value("tokenizer.ggml.padding_token_id")
    if pad is not None:
        config["pad_token_id"] = pad
    return config


class _DecodedOnUse(Mapping[str, Any]):
    """GGUF metadata whose arrays are decoded when first read. The merges stay the file's
    array: merge_ids finds Llama 3's 280,000 of them from the bytes, and a vocabulary loaded
    from emb's cache never reads them."""

    def __init__(self, kv: dict[str, Any]) -> None:
        self._kv = kv
        self._decoded: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        if key not in self._decoded:
            value = self._kv[key]
            if isinstance(value, GGUFArray) and key != "tokenizer.ggml.merges":
                value = value.values()
            self._decoded[key] = value
        return self._decoded[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._kv)

    def __len__(self) -> int:
        return len(self._kv)
