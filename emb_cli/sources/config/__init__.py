"""What a table is, from a preset, our TOML, an HF config.json, flags, and the files beside it."""
