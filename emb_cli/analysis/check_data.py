"""The `data` check: does the training data use rows that were never trained?

Each --data file is streamed in batches of about BATCH_BYTES of lines (memory stays bounded
at any size): .jsonl lines hold `text`, or chat `messages` rendered through the chat
template (chat_template.py); any other file is text, a line per text. Texts are tokenized
with the checkpoint's tokenizer, special tokens parsed as the tokenizer parses them in any
text (what a trainer feeding rendered chats sees), and every id whose row is zero or
flagged by emb undertrained is counted, with the first line it appears on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from emb_cli.analysis.chat_template import ChatTemplate, compile_chat_template
from emb_cli.analysis.check_status import LISTED, Status, shown
from emb_cli.errors import InputError, UsageError
from emb_cli.progress import tracked
from emb_cli.sources.base import TableSource
from emb_cli.sources.files.inputs import open_input

if TYPE_CHECKING:
    import numpy as np
    from tokenizers import Tokenizer

# Text handed to the tokenizer at once: encode_batch_fast spreads a batch over the cores,
# and a few MB of ids stay in memory at most.
BATCH_BYTES: Final = 1 << 20


@dataclass(frozen=True)
class DataToken:
    id: int
    token: str | None
    count: int  # occurrences in all --data files
    first_file: str
    first_line: int  # 1-based line of first_file
    zero: bool  # the row is exactly zero (else: flagged undertrained, or no row at all)
    has_row: bool


@dataclass(frozen=True)
class DataCheck:
    name: str
    status: Status
    summary: str
    files: list[str]
    texts: int  # lines tokenized
    tokens: int  # ids produced
    bytes: int  # bytes read
    untrained: list[DataToken]  # tokens with untrained rows the data uses, most used first


@dataclass(frozen=True)
class Batch:
    """Texts of consecutive lines of one file; len() is its bytes (the progress unit)."""

    file: str
    lines: list[int]
    texts: list[str]
    nbytes: int

    def __len__(self) -> int:
        return self.nbytes


def _text_of(record: Any, chat: ChatTemplate | None, where: str) -> str:
    if isinstance(record, dict) and isinstance(record.get("text"), str):
        return str(record["text"])
    if isinstance(record, dict) and isinstance(record.get("messages"), list):
        if chat is None:
            raise InputError(
                f"{where} holds chat `messages` but the checkpoint has no chat template "
                "to render them with; give `text` instead"
            )
        messages = record["messages"]
        if not all(isinstance(m, dict) for m in messages):
            raise InputError(f"{where}: `messages` must be a list of objects (role, content)")
        try:
            return chat.render(messages)
        except InputError as exc:
            raise InputError(f"{where}: {exc.message}") from exc
    raise InputError(f'{where} has neither "text" (a string) nor "messages" (a list)')


def _line_text(raw: bytes, jsonl: bool, chat: ChatTemplate | None, where: str) -> str | None:
    try:
        line = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise InputError(f"{where} is not UTF-8 text") from None
    if not line.strip():
        return None
    if not jsonl:
        return line
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where} is not JSON: {exc.msg}") from None
    return _text_of(record, chat, where)


def _batches(path: Path, chat: ChatTemplate | None) -> Iterator[Batch]:
    """The file's texts, BATCH_BYTES of lines at a time."""
    jsonl = path.suffix.lower() in (".jsonl", ".ndjson")
    lines: list[int] = []
    texts: list[str] = []
    size = 0
    with open_input(path, "--data") as fh:
        for n, raw in enumerate(fh, 1):
            size += len(raw)
            text = _line_text(raw, jsonl, chat, f"--data {path} line {n}")
            if text is not None:
                lines.append(n)
                texts.append(text)
            if size >= BATCH_BYTES:
                yield Batch(str(path), lines, texts, size)
                lines, texts, size = [], [], 0
    if size:
        yield Batch(str(path), lines, texts, size)


def check_data_files(paths: Sequence[Path]) -> None:
    """Refuse a missing or unreadable --data file before any table is read."""
    for p in paths:
        if not p.is_file():
            what = "no such file" if not p.exists() else "not a regular file"
            raise UsageError(f"--data {p}: {what}")


@dataclass
class Tally:
    """Counts of the untrained ids the data uses, and where each was first seen."""

    count: dict[int, int]
    first: dict[int, tuple[str, int]]
    texts: int = 0
    tokens: int = 0
    nbytes: int = 0

    def add(self, batch: Batch, ids: list[list[int]], bad: np.ndarray) -> None:
        import numpy as np

        self.texts += len(batch.texts)
        self.nbytes += batch.nbytes
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        flat = np.fromiter((i for x in ids for i in x), dtype=np.int64, count=int(lengths.sum()))
        self.tokens += flat.size
        hit = flat >= bad.size
        hit[~hit] = bad[flat[~hit]]
        if not hit.any():
            return
        line_of = np.repeat(np.asarray(batch.lines, dtype=np.int64), lengths)
        found, first, counts = np.unique(flat[hit], return_index=True, return_counts=True)
        for i, at, c in zip(found.tolist(), first.tolist(), counts.tolist(), strict=True):
            self.count[i] = self.count.get(i, 0) + c
            self.first.setdefault(i, (batch.file, int(line_of[hit][at])))


def _encode(tok: Tokenizer, texts: list[str]) -> list[list[int]]:
    return [e.ids for e in tok.encode_batch_fast(texts, add_special_tokens=False)]


def tally_data(
    source: TableSource, tok: Tokenizer, paths: Sequence[Path], bad: np.ndarray
) -> Tally:
    """Stream every file through the tokenizer, counting the ids marked `bad`."""
    tok.no_padding()
    tok.no_truncation()
    chat = compile_chat_template(source)
    tally = Tally({}, {})
    total = sum(p.stat().st_size for p in paths)

    def batches() -> Iterator[tuple[int, Batch]]:
        for p in paths:
            for b in _batches(p, chat):
                yield 0, b

    for _, batch in tracked(batches(), total, "data"):
        tally.add(batch, _encode(tok, batch.texts), bad)
    return tally


def check_data(
    source: TableSource,
    tok: Tokenizer | None,
    paths: Sequence[Path],
    row_norms: np.ndarray,
    flagged: np.ndarray | None,
) -> DataCheck:
    """Fail when the data uses a zero or flagged-undertrained row (or an id with no row)."""
    import numpy as np

    files = [str(p) for p in paths]
    if tok is None:
        why = "no tokenizer to tokenize the data with"
        return DataCheck("data", "skip", why, files, 0, 0, 0, [])
    bad = row_norms == 0
    if flagged is not None:
        bad = bad | flagged
    tally = tally_data(source, tok, paths, np.asarray(bad))
    used = sorted(tally.count, key=lambda i: (-tally.count[i], i))
    found = [_data_token(source, tok, i, tally, row_norms) for i in used[:LISTED]]
    status, summary = _verdict(tally, found, len(used))
    return DataCheck("data", status, summary, files, tally.texts, tally.tokens, tally.nbytes, found)


def _data_token(
    source: TableSource, tok: Tokenizer, i: int, tally: Tally, row_norms: np.ndarray
) -> DataToken:
    file, line = tally.first[i]
    has_row = i < row_norms.size
    token = tok.id_to_token(i)
    return DataToken(
        i, token, tally.count[i], file, line, has_row and bool(row_norms[i] == 0), has_row
    )


def _verdict(tally: Tally, found: list[DataToken], n: int) -> tuple[Status, str]:
    scope = f"{tally.texts:,} texts, {tally.tokens:,} tokens"
    if not found:
        return "pass", f"{scope}: every token used has a trained row"
    where = (f"{t.token or t.id} x{t.count:,} (first: {t.first_file} line {t.first_line})"
             for t in found)  # fmt: skip
    named = shown(where, n, limit=5)
    used = f"{n} token{'s' if n > 1 else ''} with untrained rows {'are' if n > 1 else 'is'} used"
    return "fail", f"{scope}: {used}: {named}"
