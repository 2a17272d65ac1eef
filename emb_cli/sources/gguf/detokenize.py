"""llama.cpp's detokenizer (llama_vocab::impl::token_to_piece and detokenize), over bytes.

Each token renders by its algorithm and attribute: SentencePiece-like vocabularies turn U+2581
back into spaces and <0xXX> tokens into their byte, byte-level BPE maps its symbols back to
bytes, RWKV unescapes, control and unknown tokens show their text only when asked. Then
clean_spaces (" ," -> ",", " 's" -> "'s" ...) where the pre name asks, and the first token
loses one leading space where a space was prefixed when encoding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from emb_cli.sources.gguf.python_models import SPACE, unescape_rwkv
from emb_cli.sources.gguf.tokenizer_spec import (
    BYTE,
    CONTROL,
    NORMAL,
    UNKNOWN,
    USER_DEFINED,
    TokenizerSpec,
)

_SPECIAL = UNKNOWN | CONTROL
_DNA_MARKER = "\ue000"


@cache
def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-to-unicode table, inverted (unicode.cpp unicode_utf8_to_byte)."""
    keep = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    table, n = {b: chr(b) for b in keep}, 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + n)
            n += 1
    return {c: b for b, c in table.items()}


@dataclass(frozen=True)
class Detokenizer:
    kind: str
    tokens: list[str]
    attrs: list[int]
    escape_whitespaces: bool  # BPE only: Gemma 4's kind spells spaces U+2581
    clean_spaces: bool
    add_space_prefix: bool

    @classmethod
    def of(cls, spec: TokenizerSpec) -> Detokenizer:
        pre = spec.pre
        tokens = spec.tokens
        if spec.model == "hybriddna" and "<oov>" in tokens:
            # llama.cpp erases the k-mer marker from the texts after <oov>
            at = tokens.index("<oov>") + 1
            tokens = tokens[:at] + [
                t[: -len(_DNA_MARKER)] if len(t) > 1 and t.endswith(_DNA_MARKER) else t
                for t in tokens[at:]
            ]
        clean = {"bpe": pre.clean_spaces if pre is not None else True, "wpm": True}
        return cls(
            kind=spec.kind,
            tokens=tokens,
            attrs=spec.attrs,
            escape_whitespaces=pre is not None and pre.escape_whitespaces,
            clean_spaces=clean.get(spec.kind, False),
            add_space_prefix=spec.add_space_prefix,
        )

    def piece(self, tid: int, special: bool) -> bytes:
        """token_to_piece(tid, special)."""
        if not 0 <= tid < len(self.tokens):
            return b""
        attr, text = self.attrs[tid], self.tokens[tid]
        if not special and attr & _SPECIAL:
            return b""
        if self.kind == "rwkv":
            return unescape_rwkv(text)
        if self.kind == "test":
            return f"{tid:x}".encode()
        if self.kind == "plamo2":
            if attr & BYTE and len(text) == 6 and text.startswith("<0x") and text.endswith(">"):
                try:
                    return bytes([int(text[3:5], 16)])
                except ValueError:
                    pass
            return text.encode("utf-8", "surrogatepass")
        if attr & (_SPECIAL | USER_DEFINED):
            return text.encode("utf-8", "surrogatepass")
        if attr & NORMAL:
            if self.kind == "bpe" and not self.escape_whitespaces:
                return _byte_level(text)
            return text.replace(SPACE, " ").encode("utf-8", "surrogatepass")
        if attr & BYTE:
            try:
                return bytes([int(text[3:5], 16)])
            except ValueError:
                return b"\0"  # strtol of no hex digits
        return b""

    def detokenize(self, ids: Sequence[int], special: bool) -> str:
        """llama_detokenize(remove_special=false, unparse_special=special), as text."""
        out = bytearray()
        for n, tid in enumerate(ids):
            piece = self.piece(tid, special)
            if n == 0 and self.add_space_prefix and piece.startswith(b" "):
                piece = piece[1:]
            out += piece
        data = _clean_spaces(bytes(out)) if self.clean_spaces else bytes(out)
        return data.decode("utf-8", "replace")


def _byte_level(text: str) -> bytes:
    table = _byte_decoder()
    try:
        return bytes(table[c] for c in text)
    except KeyError:
        out = bytearray()
        for c in text:
            if c in table:
                out.append(table[c])
            else:
                hexed = "".join(f"{b:02x}" for b in c.encode("utf-8", "surrogatepass"))
                out += f"[UNK_BYTE_0x{hexed}{text}]".encode("utf-8", "surrogatepass")
        return bytes(out)


def _clean_spaces(text: bytes) -> bytes:
    """detokenize's three clean_spaces passes, byte for byte."""
    t = bytearray(text)
    # " ?", " !", " .", " ,": drop the space
    out = bytearray(t[:1])
    for i in range(1, len(t)):
        if t[i - 1] == 0x20 and t[i] in b"?!.,":
            out.pop()
        out.append(t[i])
    # " ' ": drop both spaces around a lone apostrophe (llama.cpp blanks the next one)
    t, out, i = out, bytearray(out[:1]), 1
    while i < len(t):
        x = t[i]
        if x == 0x27 and i + 1 < len(t) and t[i - 1] == 0x20 and t[i + 1] == 0x20:
            out.pop()
            t[i + 1] = 0
            i += 1
        out.append(x)
        i += 1
    # " 's", " 'm", " 're", " 've": drop the space
    t, out = out, bytearray(out[:1])
    for i in range(1, len(t)):
        x = t[i]
        if t[i - 1] == 0x20 and x == 0x27 and i + 1 < len(t):
            x1 = t[i + 1]
            two = bytes(t[i + 1 : i + 3])
            if x1 in b"sm" or (i + 2 < len(t) and two in (b"re", b"ve")):
                out.pop()
        out.append(x)
    return bytes(out)
