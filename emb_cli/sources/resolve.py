"""One entry point from CLI options to a TableSource (or, for `stats`, just the sizes)."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path

from emb_cli.errors import UsageError
from emb_cli.sources.base import PadSource, TableSource, accepted_inputs
from emb_cli.sources.config.spec import (
    Overrides,
    TableSpec,
    apply_overrides,
    check_seed,
    flag,
    flag_of,
    load_config,
    load_preset,
    parse_pad,
    spec_from_hf_config,
    validate_spec,
)
from emb_cli.sources.remote import urls as remote


@dataclass(frozen=True)
class SourceArgs:
    """Where a command's table comes from: each field but `overrides` is a flag (see Flag),
    and the flags of Overrides stand in its place in --help."""

    # str on the command line: a Path turns https:// into https:/
    from_: Path | str | None = flag("--from", f"Checkpoint: {accepted_inputs()}.", parse=str)
    tensor: str | None = flag("--tensor", "Tensor name in --from (default: found by name).")
    preset: str | None = flag("--preset", "A preset from `emb presets`.")
    config: Path | None = flag("--config", "An emb TOML file or a Hugging Face config.json.")
    overrides: Overrides = Overrides()
    raw: bool = flag(
        "--raw",
        "--from: read an integer table as the integers it stores (no quantization).",
        default=False,
    )
    no_siblings: bool = flag(
        "--no-siblings",
        "--from FILE: read the file alone, not the config.json, generation_config.json and "
        "tokenizer files beside it.",
        default=False,
    )


def is_remote(from_: Path | str | None) -> bool:
    return isinstance(from_, str) and remote.recognises(from_)


def resolve_spec(args: SourceArgs) -> TableSpec:
    if args.preset is not None and args.config is not None:
        raise UsageError("pass either --preset or --config, not both")
    if args.preset is not None:
        base = load_preset(args.preset)
    elif args.config is not None:
        base = load_config(args.config)
    else:
        base = load_preset("default")
    return apply_overrides(base, args.overrides)


def with_positional(source_path: str | None, args: SourceArgs) -> SourceArgs:
    """The options with a command's positional SOURCE as --from (one of the two at most)."""
    if source_path is not None and args.from_ is not None:
        raise UsageError("name the checkpoint either as SOURCE or with --from, not both")
    return replace(args, from_=source_path or args.from_)


def open_source(args: SourceArgs) -> TableSource:
    if args.from_ is None:
        if args.tensor is not None:
            raise UsageError("--tensor names a tensor in a file; use it with --from PATH")
        if args.raw:
            raise UsageError("--raw reads a stored integer table; use it with --from PATH")
        if args.no_siblings:
            raise UsageError("--no-siblings reads a checkpoint file alone; use it with --from PATH")
        from emb_cli.sources.built import BuiltSource

        spec = resolve_spec(args)
        # --vocab/--dim rename the default table "flags", but its pad still comes from default
        origin = "default" if spec.origin == "flags" else spec.origin
        pad_source: PadSource = "flag" if args.overrides.pad is not None else origin
        return BuiltSource(spec, pad_source)
    if args.preset is not None or args.config is not None:
        raise UsageError("--from reads a checkpoint; it cannot be combined with --preset/--config")
    given = [
        flag_of(f).decl
        for f in fields(Overrides)
        if flag_of(f).build_only and getattr(args.overrides, f.name) is not None
    ]
    if given:
        flags = ", ".join(given)
        raise UsageError(f"{flags} describe a table to build; a file from --from has its own")
    from emb_cli.sources.checkpoint import open_checkpoint
    from emb_cli.sources.loaded import LoadedSource

    pad_given = args.overrides.pad is not None
    pad = parse_pad(args.overrides.pad) if args.overrides.pad is not None else None
    ckpt = open_checkpoint(args.from_, siblings=not args.no_siblings)
    source = LoadedSource(ckpt, args.tensor, pad, pad_given, args.raw)
    rows = source.info.vocab_size
    # A pad id from a config may be wrong (a check reports it); one typed as --pad is a typo.
    if pad is not None and not 0 <= pad < rows:
        raise UsageError(f"--pad {pad} is outside the table: valid ids are 0..{rows - 1}")
    return source


def open_checkpoint_source(
    path: str, tensor: str | None = None, tokenizer_only: bool = False, siblings: bool = True
) -> TableSource:
    """A checkpoint's table with nothing overridden: `info PATH`, `diff A B`.

    tokenizer_only: a file with a tokenizer and no tensors opens too (`info`, `tokenize`).
    siblings False: a weights file alone, without the JSON beside it (`info --no-siblings`).
    """
    if tokenizer_only and tensor is None:
        from emb_cli.sources.checkpoint import open_checkpoint
        from emb_cli.sources.loaded import LoadedSource, TokenizerOnlySource

        ckpt = open_checkpoint(path, siblings=siblings)
        if ckpt.tokenizer_only:
            return TokenizerOnlySource(ckpt)
        return LoadedSource(ckpt, None, None, False)
    return open_source(SourceArgs(from_=path, tensor=tensor, no_siblings=not siblings))


def open_init_twin(source: TableSource, path: str, seed: int | None) -> TableSource:
    """The table a checkpoint's config.json describes, freshly initialised (`diff --init`)."""
    from emb_cli.sources.built import BuiltSource

    if source.config is None:
        raise UsageError(
            f"--init needs the checkpoint's config.json and {path} has none; "
            "pass a model directory, or compare two files with `emb diff A B`"
        )
    spec = spec_from_hf_config(source.config, f"init of {path}", "config")
    if seed is not None:
        spec = validate_spec(replace(spec, init=replace(spec.init, seed=seed)))
    return BuiltSource(spec, "config")


def resize_args(src: SourceArgs) -> tuple[SourceArgs, int]:
    """`resize --seed N`: with --from it is the resize's seed, not a build flag (default 0)."""
    seed = src.overrides.seed
    if src.from_ is not None and seed is not None:
        check_seed(seed, " (--seed)")
        src = replace(src, overrides=replace(src.overrides, seed=None))
    return src, seed if seed is not None else 0


# --file for tokenize: a text, not a corpus.
MAX_TEXT = 64 * 2**20


def read_text_file(path: Path) -> str:
    """A UTF-8 text file, refused cleanly when it is missing, binary or huge."""
    try:
        if not path.is_file():
            raise UsageError(f"--file {path}: no such file")
        if path.stat().st_size > MAX_TEXT:
            raise UsageError(f"--file {path} is over {MAX_TEXT // 2**20} MiB")
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"--file {path} is not UTF-8 text") from None
    except OSError as exc:
        raise UsageError(f"--file {path}: {exc.strerror or exc}") from None
