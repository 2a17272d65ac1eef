from __future__ import annotations


def test_default_lookup(emb):
    r = emb("lookup", "73", "786", "2934", ok=True)
    assert "shape (1, 3, 8)" in r.stdout
    assert r.stderr == ""


def test_arange_lookup(emb, arange_file):
    data = emb.json("lookup", "2", "0", "--from", str(arange_file))
    assert data["vectors"] == [[8.0, 9.0, 10.0, 11.0], [0.0, 1.0, 2.0, 3.0]]
    assert data["shape"] == [1, 2, 4]
