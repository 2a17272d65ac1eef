"""The small JSON files a Hugging Face model directory keeps beside its weights."""

from __future__ import annotations

from pathlib import Path

from emb_cli.errors import InputError
from emb_cli.sources.base import Checkpoint
from emb_cli.sources.config.spec import check_config
from emb_cli.sources.files.inputs import (
    MAX_TOKENIZER,
    is_file,
    read_input,
    read_json_object,
    record_read,
)

MAX_TEMPLATE = 4 * 2**20  # chat templates are a few KB; tool-calling ones tens of KB


def attach_dir_files(ckpt: Checkpoint, folder: Path) -> list[str]:
    """config.json, generation_config.json, tokenizer_config.json and tokenizer.json, if there;
    returns the names found.

    Each is read through inputs (regular files, bounded, depth-guarded); config.json's
    numbers are range-checked once, here.
    """
    found: list[str] = []
    config = folder / "config.json"
    if is_file(config, "config"):
        ckpt.config = check_config(read_json_object(config, "config"), str(config))
        ckpt.config_path = config
        ckpt.config_label = "config"  # over a GGUF's metadata, in a folder that has both
        found.append(config.name)
    gen = folder / "generation_config.json"
    if is_file(gen, "generation config"):
        ckpt.generation_config = read_json_object(gen, "generation config")
        found.append(gen.name)
    tok_cfg = folder / "tokenizer_config.json"
    if is_file(tok_cfg, "tokenizer config"):
        ckpt.tokenizer.config = read_json_object(tok_cfg, "tokenizer config")
        found.append(tok_cfg.name)
    template = folder / "chat_template.jinja"
    if is_file(template, "chat template"):
        # transformers 4.43+ saves the template beside tokenizer_config.json, not inside it
        tok_config = dict(ckpt.tokenizer.config or {})
        text = read_input(template, "chat template", MAX_TEMPLATE).decode("utf-8", "replace")
        tok_config.setdefault("chat_template", text)
        ckpt.tokenizer.config = tok_config
        found.append(template.name)
    tok = folder / "tokenizer.json"
    if is_file(tok, "tokenizer"):
        # The tokenizers library reads it later, whole: refuse a sparse 50 GB file now.
        size = tok.stat().st_size
        if size > MAX_TOKENIZER:
            raise InputError(
                f"tokenizer {tok} is {size:,} bytes, over the {MAX_TOKENIZER:,}-byte limit "
                "for a tokenizer.json; it is damaged or not a tokenizer"
            )
        record_read(tok)  # read on demand, but an input all the same
        ckpt.tokenizer.file = tok
        found.append(tok.name)
    return found
