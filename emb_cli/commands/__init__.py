"""One module per command, each one function: parse options, call one analysis, render.

cli.py lists them explicitly. A module imports only typer and emb_cli.options at top
level: `emb --help` must stay fast.
"""
