"""emb tokenize: text to ids with the checkpoint's own tokenizer (tokenizer.json or GGUF).

An empty text gives no ids, as llama.cpp and tokenizers do. A --file is read in blocks and,
for a GGUF tokenizer, tokenized in pieces cut where the ids cannot change (see
GGUFTokenizer.stream_cut): memory stays bounded whatever the file's size, Ctrl-C is
honoured between pieces, and --count keeps only the count.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from emb_cli.analysis.lookup import token_strings, token_types
from emb_cli.analysis.text_input import check_text
from emb_cli.errors import UsageError
from emb_cli.sources.base import TableSource

if TYPE_CHECKING:
    from emb_cli.sources.files.text_stream import TextFile

# Characters handed to the tokenizer at once: about 0.1 s of Rust on two busy cores, so
# Ctrl-C is honoured within a second
PIECE: Final = 1 << 16
# A stretch with no place to cut exactly (no newline) is held whole up to this size
MAX_UNCUT: Final = 64 << 20
# A tokenizer.json can add a prefix per call: its text is tokenized whole, up to this size
MAX_WHOLE: Final = 64 << 20


@dataclass(frozen=True)
class TokenizeReport:
    source: str  # the checkpoint the tokenizer came from
    text_chars: int
    special: bool  # the tokenizer's special tokens were added
    count: int
    ids: list[int]
    tokens: list[str]
    token_types: list[str] | None  # GGUF records control, user-defined, unused, byte ...


@dataclass(frozen=True)
class TokenCountReport:
    source: str
    text_chars: int
    special: bool
    count: int


def encode_ids(source: TableSource, text: str, special: bool) -> list[int]:
    """The ids of `text`; [] for "", as llama.cpp and tokenizers give."""
    check_text(text)
    tok = _tokenizer(source)
    from emb_cli.sources.gguf.encoders import rust_call
    from emb_cli.sources.gguf.tokenizer import GGUFTokenizer

    if isinstance(tok, GGUFTokenizer):
        return tok.encode_ids(text, special)
    tok.no_padding()
    tok.no_truncation()
    ids: list[int] = rust_call(
        source.info.name, lambda: tok.encode(text, add_special_tokens=special).ids
    )
    return ids


def _tokenizer(source: TableSource) -> Any:
    tok = source.tokenizer()
    if tok is None:
        raise UsageError(
            f"{source.info.name} has no tokenizer (no tokenizer.json, no GGUF tokenizer "
            "metadata); there is nothing to tokenize with"
        )
    return tok


def tokenize(source: TableSource, text: str, special: bool) -> TokenizeReport:
    ids = encode_ids(source, text, special)
    return _report(source, len(text), special, ids)


def _report(source: TableSource, chars: int, special: bool, ids: list[int]) -> TokenizeReport:
    unique = list(dict.fromkeys(ids))
    return TokenizeReport(
        source=source.info.name,
        text_chars=chars,
        special=special,
        count=len(ids),
        ids=ids,
        tokens=_per_id(token_strings(source, unique), unique, ids) or [],
        token_types=_per_id(token_types(source, unique), unique, ids),
    )


def _per_id(values: list[str] | None, unique: list[int], ids: list[int]) -> list[str] | None:
    """Values looked up once per distinct id (a GGUF reads a few ids without decoding its
    whole vocabulary), spread back over every id."""
    if values is None:
        return None
    of = dict(zip(unique, values, strict=True))
    return [of[i] for i in ids]


def tokenize_file(
    source: TableSource, text_file: TextFile, special: bool, count_only: bool
) -> TokenizeReport | TokenCountReport:
    """A file's ids (or only their count), read and tokenized piece by piece."""
    chars = 0
    count = 0
    ids: list[int] = []
    for n_chars, piece in _file_ids(source, text_file, special):
        chars += n_chars
        count += len(piece)
        if not count_only:
            ids.extend(piece)
    if count_only:
        return TokenCountReport(source.info.name, chars, special, count)
    return _report(source, chars, special, ids)


def _file_ids(
    source: TableSource, text_file: TextFile, special: bool
) -> Iterator[tuple[int, list[int]]]:
    """(characters, their ids) piece by piece; BOS first and EOS last when asked."""
    from emb_cli.progress import tracked
    from emb_cli.sources.files.text_stream import read_blocks
    from emb_cli.sources.gguf.tokenizer import GGUFTokenizer

    tok = _tokenizer(source)
    tracked_blocks = tracked(_sized(read_blocks(text_file)), text_file.size, "tokenizing")
    blocks = (block.text for _, block in tracked_blocks)
    if not isinstance(tok, GGUFTokenizer):
        text = _whole(blocks, text_file)
        yield len(text), encode_ids(source, text, special)
        return
    if special:
        yield 0, tok.special_head()
    yield from _gguf_pieces(tok, blocks, text_file)
    if special:
        yield 0, tok.special_tail()


@dataclass(frozen=True)
class _Block:
    """A block of text; its len() is the bytes it was read from, for the progress bar."""

    text: str
    nbytes: int

    def __len__(self) -> int:
        return self.nbytes


def _sized(blocks: Iterator[tuple[int, str]]) -> Iterator[tuple[int, _Block]]:
    for nbytes, text in blocks:
        yield 0, _Block(text, nbytes)


def _whole(blocks: Iterator[str], text_file: TextFile) -> str:
    parts: list[str] = []
    size = 0
    for text in blocks:
        size += len(text)
        if size > MAX_WHOLE:
            raise UsageError(
                f"--file {text_file.path} is over {MAX_WHOLE >> 20} M characters, which emb "
                "reads whole for a tokenizer.json tokenizer; split the file"
            )
        parts.append(text)
    return "".join(parts)


def _gguf_pieces(
    tok: Any, blocks: Iterator[str], text_file: TextFile
) -> Iterator[tuple[int, list[int]]]:
    buf = ""
    first = True
    for block in blocks:
        buf += block
        while len(buf) > PIECE:
            cut = tok.stream_cut(buf, PIECE) or tok.stream_cut(buf, len(buf))
            if cut is None:
                if len(buf) > MAX_UNCUT:
                    raise UsageError(
                        f"--file {text_file.path} has over {MAX_UNCUT >> 20} M characters with "
                        "no place where this tokenizer's ids can be cut exactly (no line "
                        "break it allows); split the file"
                    )
                break
            yield cut, tok.encode_many([buf[:cut]], continuation=not first)[0]
            buf, first = buf[cut:], False
    if buf or first:
        yield len(buf), tok.encode_many([buf], continuation=not first)[0]
