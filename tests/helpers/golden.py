"""The golden cases: every command, on built tables and on every local source kind, with
its output recorded in tests/data/golden. tests/test_golden.py runs them on its fixtures
(the {NAME} fields); tests/test_readme_schema.py reads the recorded outputs."""

from __future__ import annotations

from pathlib import Path

GOLDEN = Path(__file__).parent.parent / "data" / "golden"

TABLES = ["arange", "tied", "untied", "sharded", "sharded_index", "pt", "gguf", "minilm", "mlx"]
CASES: dict[str, list[str]] = {
    "presets": ["presets"],
    "built-lookup": ["lookup", "73", "786", "2934"],
    "built-lookup-batch": ["lookup", "--batch", "1,2,3", "--batch", "4,5"],
    "built-stats": ["stats", "--vocab", "100352", "--dim", "4096"],
    "built-stats-preset": ["stats", "--preset", "llama-3-8b"],
    "built-init-stats": ["init-stats", "--no-hist"],
    "built-init-stats-uniform": ["init-stats", "--init", "uniform", "--vocab", "300"],
    "built-padding": ["padding"],
    "built-tie": ["tie", "--tie"],
    "built-untie": ["tie"],
    "built-neighbors": ["neighbors", "5"],
    "built-undertrained": ["undertrained", "--vocab", "300", "--dim", "64"],
    "built-resize": ["resize", "3010"],
    "diff-two": ["diff", "{untied}", "{sharded}"],
    "diff-init": ["diff", "{tied}", "--init"],
    "minilm-text": ["lookup", "--from", "{minilm}", "--text", "hello world"],
    "minilm-neighbors": ["neighbors", "--from", "{minilm}", "--text", "king"],
    "cache": ["cache", "--cache-dir", "{hf_cache}"],
    "tokenize": ["tokenize", "--from", "{vocab}", "Hello world, 3 tokens!"],
    "vocab-info": ["info", "{vocab}"],
    "built-check": ["check"],
    "tied-check": ["check", "{tied}"],
    "untied-check": ["check", "{untied}"],
    "gguf-check": ["check", "{gguf}"],
    "minilm-check": ["check", "{minilm}"],
}
for _t in TABLES:
    _ref = "{" + _t + "}"
    CASES[f"{_t}-lookup"] = ["lookup", "1", "2", "3", "--from", _ref]
    CASES[f"{_t}-stats"] = ["stats", "--from", _ref]
    CASES[f"{_t}-init-stats"] = ["init-stats", "--from", _ref]
    CASES[f"{_t}-padding"] = ["padding", "--from", _ref]
    CASES[f"{_t}-tie"] = ["tie", "--from", _ref]
    CASES[f"{_t}-info"] = ["info", _ref]
    CASES[f"{_t}-undertrained"] = ["undertrained", "--from", _ref]
    CASES[f"{_t}-resize"] = ["resize", "9" if _t == "arange" else "70", "--from", _ref]
    CASES[f"{_t}-neighbors"] = ["neighbors", "1", "--from", _ref]
