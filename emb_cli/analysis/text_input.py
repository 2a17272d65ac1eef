"""Text given on the command line, checked before any tokenizer sees it."""

from __future__ import annotations

from emb_cli.errors import UsageError


def check_text(text: str, what: str = "the text") -> None:
    """UsageError for text that is not Unicode: a lone surrogate, which is how Python passes
    on argv bytes that are not UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise UsageError(
            f"{what} is not valid UTF-8 (character {exc.start + 1} is a byte that is not); "
            "pass UTF-8 text or use --file"
        ) from None
