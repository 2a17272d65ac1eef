"""emb: inspect the token-embedding tables of language models."""

__version__ = "0.1.0"
