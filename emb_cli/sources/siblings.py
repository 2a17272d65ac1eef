"""The small JSON files a Hugging Face model directory keeps beside its weights."""

from __future__ import annotations

from pathlib import Path

from emb_cli.sources.base import Checkpoint
from emb_cli.sources.spec import read_json_object


def attach_dir_files(ckpt: Checkpoint, folder: Path) -> None:
    """config.json, generation_config.json, tokenizer_config.json and tokenizer.json, if there."""
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
