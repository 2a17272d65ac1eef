"""GGUF: the header (bounds-checked, local or by ranges), the file's tables, its tokenizer."""
