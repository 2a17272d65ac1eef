"""emb presets."""

from __future__ import annotations


def test_presets_listed(emb):
    names = {p["name"]: p for p in emb.json("presets")["presets"]}
    want = {
        "deepseek-v3": (129280, 7168, False),
        "kimi-k2": (163840, 7168, False),
        "llama-3-8b": (128256, 4096, False),
        "llama-2-7b": (32000, 4096, False),
        "mistral-7b": (32000, 4096, False),
        "qwen2.5-0.5b": (151936, 896, True),
        "gemma-2-2b": (256000, 2304, True),
        "gpt2": (50257, 768, True),
        "bert-base-uncased": (30522, 768, True),
        "lesson-100352": (100352, 4096, False),
    }
    for name, (v, d, tied) in want.items():
        assert (names[name]["vocab_size"], names[name]["embed_dim"], names[name]["tied"]) == (
            v,
            d,
            tied,
        )
    assert (
        names["gemma-2-2b"]["pad_token_id"] == 0 and names["bert-base-uncased"]["pad_token_id"] == 0
    )
    assert names["llama-3-8b"]["pad_token_id"] is None and names["gpt2"]["pad_token_id"] is None
    human = emb("presets", ok=True).stdout
    assert "deepseek-v3" in human and "129,280" in human
