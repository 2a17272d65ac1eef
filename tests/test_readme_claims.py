"""README statements that a test can check: the commands it tells people to run exist, the
versions it names are the ones pinned and tested, the counts it gives are the tables' own,
and what it says undertrained takes as evidence is what undertrained does."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from emb_cli.sources.config.tie_defaults import (
    NO_TIE_FLAG,
    TIED_BY_DEFAULT,
    TRANSFORMERS_VERSION,
    UNTIED_BY_DEFAULT,
)

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
FLAT = " ".join(README.split())  # sentences wrap across lines
VOCAB = ROOT / "tests" / "data" / "gguf-vocab"


def test_hf_download_is_the_download_command_of_the_installed_hub() -> None:
    """`huggingface-cli` is gone from huggingface_hub 1.x/2.x; `hf download` is its CLI."""
    assert "after `hf download Qwen/Qwen2.5-0.5B`" in FLAT
    assert "`huggingface-cli download" not in FLAT
    hf = shutil.which("hf") or str(Path(shutil.which("python") or "python").parent / "hf")
    r = subprocess.run([hf, "download", "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "Usage: hf download" in r.stdout


def test_the_transformers_the_readme_names_is_pinned_and_installed() -> None:
    import transformers

    pins = (ROOT / "constraints.txt").read_text()
    assert f"transformers=={TRANSFORMERS_VERSION}\n" in pins
    assert transformers.__version__ == TRANSFORMERS_VERSION
    major_minor = ".".join(TRANSFORMERS_VERSION.split(".")[:2])
    named = set(re.findall(r"transformers (\d+\.\d+)(?:\.\d+)?", FLAT))
    assert named == {major_minor}, named
    assert (
        f"constraints.txt` pins the transformers the tests compare against ({TRANSFORMERS_VERSION}"
        in FLAT
    )


def test_the_tie_default_counts_are_the_tables() -> None:
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    tied = re.search(r"tied for gpt2, bert, gemma, t5, cohere and (\d+) more", FLAT)
    untied = re.search(r"untied for llama, mistral, qwen2, deepseek_v3 and (\d+) more", FLAT)
    every = re.search(r"every one of transformers' (\d+) model types", FLAT)
    assert tied and untied and every
    remote = {"internlm2", "kimi_k2", "minicpm"}
    assert int(tied.group(1)) + 5 == len(TIED_BY_DEFAULT)
    assert int(untied.group(1)) + 4 == len(UNTIED_BY_DEFAULT - remote)
    assert int(every.group(1)) == len(CONFIG_MAPPING_NAMES)
    assert len(TIED_BY_DEFAULT | UNTIED_BY_DEFAULT | NO_TIE_FLAG) == len(CONFIG_MAPPING_NAMES) + 3


def _with_table(src: Path, dest: Path, dim: int = 32) -> None:
    """A copy of llama.cpp's vocab-only file with a token_embd table, by gguf's writer."""
    import gguf
    import numpy as np

    from emb_cli.sources.gguf.header import GGUFArray, read_gguf_header

    header = read_gguf_header(src)
    w = gguf.GGUFWriter(str(dest), header.str_value("general.architecture") or "llama")
    for key, value in header.kv.items():
        if key != "general.architecture":
            if isinstance(value, GGUFArray):
                w.add_array(key, value.values())
            else:
                w.add_key_value(key, value, gguf.GGUFValueType(header.types[key]))
    n = len(header.array("tokenizer.ggml.tokens") or [])
    table = np.random.default_rng(0).normal(0, 0.02, (n, dim)).astype(np.float32)
    w.add_tensor("token_embd.weight", table)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


@pytest.mark.slow
def test_control_tokens_are_flagged_special_not_evidence(emb: Any, tmp_path: Path) -> None:
    """llama.cpp's llama-spm vocabulary: <s> and </s> are control tokens, <unk> unknown,
    256 byte tokens, nothing unused. Its only would-be evidence is the two control tokens:
    undertrained falls back to the lowest-norm reference, as the README says."""
    assert (
        "a `control` token is only flagged special, never evidence" in FLAT
        and "a file whose only evidence is two control tokens falls back to the lowest-norm "
        "reference"
        in FLAT
    )
    path = tmp_path / "spm.gguf"
    _with_table(VOCAB / "ggml-vocab-llama-spm.gguf", path)
    types = emb.json("lookup", "0", "1", "2", "--from", str(path))["token_types"]
    assert types == ["unknown", "control", "control"]
    got = emb.json("undertrained", "--from", str(path), "--reference", "1,2", "--top", "3")
    assert [c["special"] for c in got["reference_candidates"] if c["id"] in (1, 2)] == [
        True,
        True,
    ]
    got = emb.json("undertrained", "--from", str(path), "--top", "3")
    assert got["declared_unused_rows"] == 0 and got["unreachable_rows"] == 0
    assert got["reference_source"] == "lowest-norm"
    assert got["reference_detail"] == "the 32 lowest-norm rows"  # 0.1% of 32,000, at least 8


def test_the_remote_section_names_gguf() -> None:
    """tests/commands/test_gguf_tokens.py::test_remote_gguf_by_ranges reads one by ranges."""
    assert "Remote sources are safetensors files, their indexes and GGUF files" in FLAT
    assert "safetensors only" not in FLAT
    tests = (ROOT / "tests" / "commands" / "test_gguf_tokens.py").read_text()
    assert "def test_remote_gguf_by_ranges(" in tests
