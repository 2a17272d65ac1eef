"""emb report's test pieces: a checkpoint whose tokens attack the page, and a page opened
in headless Chromium (Debian's package, driven by playwright) with what it requested and
logged."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"

# Tokens that would become markup, end the JSON's <script>, or break a JS string if the page
# did not escape them.
HOSTILE_TOKENS = [
    "</script><script>window.pwned=1</script>",
    "<img src=x onerror=window.pwned=2>",
    "<!--",
    "&amp;",
    "\u2028",
    '"',
    "\\",
    "<|reserved_special_token_0|>",
    "<|reserved_special_token_1|>",
]


def hostile_model(folder: Path, rows: int = 300, dim: int = 16, seed: int = 0) -> Path:
    """A model directory: Llama config, a word-level tokenizer holding HOSTILE_TOKENS (ids
    0-8) and words w9.., rows of N(0, 0.02) with row 2 zero and two reserved rows zero."""
    import numpy as np
    from safetensors.numpy import save_file
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import WhitespaceSplit

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {t: i for i, t in enumerate(HOSTILE_TOKENS)}
    vocab |= {f"w{i}": i for i in range(len(HOSTILE_TOKENS), rows)}
    tok = Tokenizer(WordLevel(vocab, unk_token="w9"))
    tok.pre_tokenizer = WhitespaceSplit()
    tok.save(str(folder / "tokenizer.json"))
    x = np.random.default_rng(seed).normal(0, 0.02, (rows, dim)).astype(np.float32)
    x[[2, 7, 8]] = 0.0
    save_file({"model.embed_tokens.weight": x}, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps(llama_config(rows, dim)))
    return folder


def llama_config(rows: int, dim: int, **extra: Any) -> dict[str, Any]:
    """A tied Llama config.json for a rows x dim table (initializer_range 0.02)."""
    return {
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "vocab_size": rows,
        "hidden_size": dim,
        "initializer_range": 0.02,
        "tie_word_embeddings": True,
        **extra,
    }


@dataclass
class Loaded:
    """A page as Chromium loaded it."""

    page: Any
    requests: list[str] = field(default_factory=list)
    console: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0  # navigation start to the map drawn

    def data(self) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(self.page.text_content("#emb-data"))
        return out


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])


def open_page(browser: Any, path: Path, width: int = 1280, height: int = 900) -> Loaded:
    """Open FILE.html, wait for the map to be drawn (body[data-ready]), log every request
    and every console message or page error."""
    page = browser.new_page(viewport={"width": width, "height": height})
    loaded = Loaded(page)
    page.on("request", lambda r: loaded.requests.append(r.url))
    page.on("console", lambda m: loaded.console.append((m.type, m.text)))
    page.on("pageerror", lambda e: loaded.console.append(("pageerror", str(e))))
    start = time.perf_counter()
    page.goto(path.resolve().as_uri())
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    loaded.seconds = time.perf_counter() - start
    return loaded
