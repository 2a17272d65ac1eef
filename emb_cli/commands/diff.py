"""emb diff: compare two embedding tables, or a checkpoint against a fresh init."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from emb_cli.options import JsonOpt, finish

INIT_NOTE = (
    "--init builds the table its config describes: torch.manual_seed(seed), then "
    "normal(0, initializer_range) and a zero pad row; transformers draws every module's "
    "weights from the same generator in its own order, so no seed reproduces the real init "
    "row by row; read the distribution instead (row_norm_ratio, std_a vs std_b, mean_cosine)"
)


def _open(path: str, tensor: str | None) -> Any:
    from emb_cli.sources.checkpoint import open_checkpoint
    from emb_cli.sources.loaded import LoadedSource

    return LoadedSource(open_checkpoint(path), tensor, None, False)


def _init_of(source: Any, path: str, seed: int | None) -> Any:
    import dataclasses

    from emb_cli.errors import UsageError
    from emb_cli.sources.built import BuiltSource
    from emb_cli.sources.spec import spec_from_hf_config, validate_spec

    config = source.ckpt.config
    if config is None:
        raise UsageError(
            f"--init needs the checkpoint's config.json and {path} has none; "
            "pass a model directory, or compare two files with `emb diff A B`"
        )
    spec = spec_from_hf_config(config, f"init of {path}", "config")
    if seed is not None:
        spec = validate_spec(
            dataclasses.replace(spec, init=dataclasses.replace(spec.init, seed=seed))
        )
    return BuiltSource(spec, "config")


def register(app: typer.Typer) -> None:
    @app.command()
    def diff(
        # str, not Path: a Path turns https:// into https:/
        a: Annotated[
            str,
            typer.Argument(
                help="First checkpoint (before): a file or model directory.", show_default=False
            ),
        ],
        b: Annotated[
            str | None, typer.Argument(help="Second checkpoint (after).", show_default=False)
        ] = None,
        init: Annotated[
            bool,
            typer.Option(
                "--init", help="Compare A against a fresh init built from its config.json."
            ),
        ] = False,
        seed: Annotated[
            int | None, typer.Option("--seed", help="torch.manual_seed for --init (default 42).")
        ] = None,
        tensor_a: Annotated[
            str | None,
            typer.Option("--tensor-a", help="Tensor name in A (default: found by name)."),
        ] = None,
        tensor_b: Annotated[
            str | None,
            typer.Option("--tensor-b", help="Tensor name in B (default: found by name)."),
        ] = None,
        k: Annotated[
            int, typer.Option("-k", "--top", help="How many most-changed ids to list.")
        ] = 10,
        check: Annotated[
            bool, typer.Option("--check", help="Exit 1 when the tables differ.")
        ] = False,
        json_: JsonOpt = False,
    ) -> None:
        """Compare two embedding tables row by row: shape, dtype, changed rows, most changed ids.

        Example: emb diff ./base/model.safetensors ./finetuned/model.safetensors
        """
        from emb_cli.errors import UsageError

        if k < 1:
            raise UsageError(f"-k must be at least 1, got {k}")
        if init == (b is not None):
            raise UsageError("pass a second checkpoint B, or --init to compare A with its init")
        if init and tensor_b is not None:
            raise UsageError("--tensor-b names a tensor in B; --init has no B file")
        if seed is not None and not init:
            raise UsageError("--seed sets the init for --init; two files need no seed")
        from emb_cli.analysis.diff import diff_tables

        src_a = _open(a, tensor_a)
        if b is not None:
            report = diff_tables(src_a, _open(b, tensor_b), k)
        else:
            # the init is the "before" side, the checkpoint the "after"
            report = diff_tables(_init_of(src_a, a, seed), src_a, k, notes=[INIT_NOTE])
        from emb_cli import render

        render.print_json(report) if json_ else render.render_diff(report)
        if check:
            finish(not report.differ)
