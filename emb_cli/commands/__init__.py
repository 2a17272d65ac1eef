"""Commands beyond the core five, one module each; every module exposes `register(app)`.

A module imports only typer and emb_cli.options at top level: `emb --help` must stay fast.
"""
