"""emb stats: the lessons' numbers, units, arithmetic only."""

from __future__ import annotations


def test_stats_lesson_numbers(emb):
    data = emb.json("stats", "--vocab", "100352", "--dim", "4096")
    assert data["params"] == 411_041_792
    assert data["bytes"] == {
        "float32": 1_644_167_168,
        "bfloat16": 822_083_584,
        "float16": 822_083_584,
        "float8": 411_041_792,
        "int8": 411_041_792,
        "int4": 205_520_896,
    }
    assert data["untied_head"]["params"] == 2 * 411_041_792
    assert data["untied_head"]["bytes"]["float32"] == 2 * 1_644_167_168
    fp32 = data["training"][0]
    assert fp32["total"] == 16 * data["stored_params"]


def test_stats_human_units(emb):
    out = emb("stats", "--vocab", "100352", "--dim", "4096", ok=True).stdout
    assert "1,644,167,168" in out and "GiB" in out and "GB" in out
    assert "411,041,792" in out


def test_stats_absurd_vocab_is_arithmetic(emb):
    data = emb.json("stats", "--vocab", str(10**15), "--dim", "8")
    assert data["params"] == 8 * 10**15


def test_stats_from_preset_and_header(emb, arange_file):
    assert emb.json("stats", "--preset", "kimi-k2")["params"] == 163840 * 7168
    data = emb.json("stats", "--from", str(arange_file))
    assert (data["vocab_size"], data["hidden_size"], data["params"]) == (8, 4, 32)
