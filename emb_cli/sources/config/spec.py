"""Table specs: the embedded default, presets, our TOML files, HF config.json, flags.

This is the one place that translates each family's keys (`hidden_size`,
`n_embd`, `d_model`, `tie_word_embeddings`) into emb's vocabulary
(`embed_dim`, `tied`). Nothing here imports torch.
"""

from __future__ import annotations

import tomllib
from dataclasses import Field, dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeGuard, TypeVar

from emb_cli.errors import InputError, UsageError, first_line
from emb_cli.sources.base import BuiltOrigin, ConfigFacts, InitSpec
from emb_cli.sources.config.tie_defaults import (
    NO_TIE_FLAG,
    TIED_BY_DEFAULT,
    TRANSFORMERS_VERSION,
    UNTIED_BY_DEFAULT,
)
from emb_cli.sources.files.inputs import MAX_JSON, kind, read_input, read_json_object

__all__ = ["read_json_object"]  # re-exported: readers of config.json import it from here

T = TypeVar("T")


class InitScheme(StrEnum):
    normal = "normal"
    torch_default = "torch-default"
    uniform = "uniform"
    xavier_normal = "xavier-normal"
    xavier_uniform = "xavier-uniform"


class BuildDtype(StrEnum):
    float32 = "float32"
    bfloat16 = "bfloat16"
    float16 = "float16"


INIT_SCHEMES = tuple(InitScheme)
BUILD_DTYPES = tuple(BuildDtype)

# Keys that name the width of the token-embedding table, most specific first:
# ALBERT/ELECTRA keep a narrower `embedding_size` than their `hidden_size`.
_DIM_KEYS = ("embedding_size", "hidden_size", "n_embd", "d_model", "dim")
# Keys a multimodal config may keep beside text_config rather than inside it.
_OUTER_KEYS = ("pad_token_id", "initializer_range", "torch_dtype", "dtype")

# The ranges every number from a flag or a config must lie in, checked once where it is
# read. Sizes: 10**24 rows is past any table yet keeps V * D * 8 bytes a finite float
# (`stats --vocab 2**70` is arithmetic; 4,000 digits overflowed float()).
MAX_SIZE = 10**24
# initializer_range and uniform bounds: real configs use 0.002-1.0. 1e3 keeps std**4 * D
# finite in init-stats and float16 samples (6 sigma = 6e3) below its 65504 maximum;
# 1e-30 keeps (high - low)**4 and std**4 above float64's underflow.
MAX_SCALE = 1e3
MIN_SCALE = 1e-30
# Uniform bounds closer than this (relative) round to a handful of float32 values.
MIN_UNIFORM_WIDTH = 2**-16
MAX_SEED = 2**63 - 1  # torch.manual_seed takes an int64 seed


@dataclass(frozen=True)
class TableSpec:
    """A table to build (or to count): everything but the values."""

    origin: BuiltOrigin
    name: str
    vocab_size: int
    embed_dim: int
    pad_token_id: int | None
    tied: bool
    dtype: str = "float32"
    init: InitSpec = field(default_factory=InitSpec)
    model_type: str | None = None
    notes: tuple[str, ...] = ()


def configs_dir() -> Path:
    """configs/ as shipped in the wheel (emb_cli/configs) or in a source checkout."""
    here = Path(__file__).resolve().parents[2]  # emb_cli/
    for candidate in (here / "configs", here.parent / "configs"):
        if (candidate / "default.toml").is_file():
            return candidate
    raise InputError("emb's configs/ folder is missing from this install; reinstall emb-cli")


def preset_names() -> list[str]:
    return sorted(p.stem for p in configs_dir().glob("*.toml"))


def load_preset(name: str) -> TableSpec:
    # Checked by name, before any path is made: `--preset ../../x` or 300 characters
    # must not reach the file system (ENAMETOOLONG was an OSError).
    names = preset_names()
    path = configs_dir() / f"{name}.toml"
    if name not in names:
        raise UsageError(
            f"unknown preset {_short(name)}; choose one of: {', '.join(names)} (see `emb presets`)"
        )
    spec = _spec_from_toml(path, origin="default" if name == "default" else "preset")
    return replace(spec, name=name)


def load_config(path: Path) -> TableSpec:
    """One of our TOML files, or a Hugging Face config.json."""
    if kind(path, "config") == "dir":
        path = path / "config.json"
    if kind(path, "config") != "file":
        raise InputError(f"config file not found: {path}")
    if path.suffix == ".toml":
        return _spec_from_toml(path, origin="config")
    config = check_config(read_json_object(path, "config"), str(path))
    return spec_from_hf_config(config, name=str(path), origin="config")


def _spec_from_toml(path: Path, origin: BuiltOrigin) -> TableSpec:
    raw = read_input(path, "config", MAX_JSON)
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except RecursionError as exc:
        raise InputError(f"config {path} nests too deeply to be a real file") from exc
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"config {path} is not valid TOML ({first_line(exc)})") from exc
    vocab = data.get("vocab_size")
    dim = data.get("embed_dim", data.get("hidden_size"))
    if vocab is None or dim is None:
        raise InputError(f"config {path} needs vocab_size and embed_dim")
    init = InitSpec(
        scheme=_field(data, "init", str, "normal", path),
        std=_float_field(data, "initializer_range", 0.02, path),
        seed=_int_field(data.get("seed", 42), "seed", path),
        low=_float_field(data, "uniform_low", -0.1, path),
        high=_float_field(data, "uniform_high", 0.1, path),
    )
    notes = data.get("notes", [])
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise InputError(f"notes in {path} must be a list of strings, got {notes!r}")
    model_type = data.get("model_type")
    spec = TableSpec(
        origin=origin,
        name=_field(data, "name", str, path.stem, path),
        vocab_size=_int_field(vocab, "vocab_size", path),
        embed_dim=_int_field(dim, "embed_dim", path),
        pad_token_id=_optional_int(data.get("pad_token_id"), "pad_token_id", path),
        tied=_field(data, "tie_word_embeddings", bool, False, path),
        dtype=_field(data, "dtype", str, "float32", path),
        init=init,
        model_type=None if model_type is None else _field(data, "model_type", str, "", path),
        notes=tuple(notes),
    )
    return validate_spec(spec)


def _field(data: dict[str, Any], key: str, kind: type[T], default: T, path: Path) -> T:
    value = data.get(key, default)
    if not isinstance(value, kind):
        raise InputError(f"{key} in {path} must be a {kind.__name__}, got {value!r}")
    return value


def _float_field(data: dict[str, Any], key: str, default: float, path: Path) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{key} in {path} must be a number, got {value!r}")
    return _as_float(value, key, path)


def _as_float(value: int | float, key: str, where: Path | str) -> float:
    """float(value), or an InputError: float(10**400) is an OverflowError."""
    try:
        return float(value)
    except OverflowError:
        raise InputError(
            f"{key} in {where} is {_short(value)}, far outside any real value"
        ) from None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} characters)"


def _int_field(value: Any, key: str, path: Path | str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{key} in {path} must be an integer, got {value!r}")
    return value


def _optional_int(value: Any, key: str, path: Path | str) -> int | None:
    return None if value is None else _int_field(value, key, path)


def text_config(config: dict[str, Any]) -> dict[str, Any]:
    """Multimodal configs (Gemma 3, Llava) keep the language model's sizes in text_config."""
    inner = config.get("text_config")
    if "vocab_size" not in config and isinstance(inner, dict):
        merged = dict(inner)
        merged.setdefault("model_type", config.get("model_type"))
        merged.setdefault("tie_word_embeddings", config.get("tie_word_embeddings"))
        # Llava-1.5 names its pad (32001) and Gemma 3 its initializer_range and dtype at
        # the top level only: the outer value applies when text_config omits the key.
        for key in _OUTER_KEYS:
            if key in config:
                merged.setdefault(key, config[key])
        return merged
    return config


def check_config(config: dict[str, Any], name: str) -> dict[str, Any]:
    """Every number emb uses from a config.json, checked once where the file is read.

    Sizes must be positive and at most MAX_SIZE, a pad id at most MAX_SIZE in size,
    initializer_range a finite number in [MIN_SCALE, MAX_SCALE] (torch.normal takes it).
    A key of another type is left alone: the uses ignore what is not a number.
    """
    views = [config]
    inner = config.get("text_config")
    if isinstance(inner, dict):
        views.append(inner)
    for view in views:
        for key in ("vocab_size", *_DIM_KEYS):
            value = view.get(key)
            if _is_int(value) and not 0 < value <= MAX_SIZE:
                raise InputError(
                    f"{key} in {name} is {_short(value)}; a table size must be in 1..10**24"
                )
        pad = view.get("pad_token_id")
        if _is_int(pad) and not -MAX_SIZE <= pad <= MAX_SIZE:
            raise InputError(f"pad_token_id in {name} is {_short(pad)}, no table has that row")
        std = view.get("initializer_range")
        if _is_number(std):
            value = _as_float(std, "initializer_range", name)
            if not MIN_SCALE <= value <= MAX_SCALE:
                raise InputError(
                    f"initializer_range in {name} is {_short(std)}; an init std must be a "
                    f"finite number in [{MIN_SCALE:g}, {MAX_SCALE:g}]: fix the config"
                )
    return config


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def config_dim(config: dict[str, Any]) -> int | None:
    for key in _DIM_KEYS:
        value = config.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def config_hidden_size(config: dict[str, Any]) -> int | None:
    """The model's hidden size as its config names it (not ALBERT's embedding_size)."""
    for key in _DIM_KEYS[1:]:
        value = config.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def config_facts(config: dict[str, Any], tied: bool | None) -> ConfigFacts:
    """A config.json's statements for reports; `tied` as the source settled it."""
    cfg = text_config(config)
    model_type, vocab, std = (
        cfg.get("model_type"),
        cfg.get("vocab_size"),
        cfg.get("initializer_range"),
    )
    return ConfigFacts(
        model_type=model_type if isinstance(model_type, str) else None,
        vocab_size=vocab if isinstance(vocab, int) and not isinstance(vocab, bool) else None,
        hidden_size=config_hidden_size(cfg),
        tie_word_embeddings=tied,
        initializer_range=_as_float(std, "initializer_range", "config.json")
        if _is_number(std)
        else None,
        architectures=config.get("architectures"),
    )


def config_tied(config: dict[str, Any]) -> tuple[bool | None, str]:
    """The config's tie flag, or the family default when the key is absent; None where
    transformers has no default to give (a type it does not know, or none named)."""
    value = config.get("tie_word_embeddings")
    if isinstance(value, bool):
        return value, "config"
    model_type = config.get("model_type")
    if not isinstance(model_type, str) or not model_type:
        return None, "model_type absent: no tie default"
    if model_type in TIED_BY_DEFAULT or model_type in UNTIED_BY_DEFAULT:
        return model_type in TIED_BY_DEFAULT, f"default for model_type {model_type!r}"
    if model_type in NO_TIE_FLAG:
        return None, f"model_type {model_type!r} has no tie flag in transformers"
    return None, (
        f"model_type {model_type!r} is not a transformers {TRANSFORMERS_VERSION} model type: "
        "no tie default"
    )


def states_config(tied_source: str) -> bool:
    """A tie statement from config.json (its flag, its family default, or its model_type
    known to have none), not a format's own rule such as GGUF's (config_tied's words)."""
    return tied_source == "config" or tied_source.startswith(("default for", "model_type"))


def config_pad(config: dict[str, Any]) -> int | None:
    pad = config.get("pad_token_id")
    if isinstance(pad, int) and not isinstance(pad, bool):
        return pad
    return None


def spec_from_hf_config(config: dict[str, Any], name: str, origin: BuiltOrigin) -> TableSpec:
    cfg = text_config(config)
    vocab = cfg.get("vocab_size")
    dim = config_dim(cfg)
    if not isinstance(vocab, int) or isinstance(vocab, bool) or dim is None:
        raise InputError(
            f"config {name} lacks the sizes: needs integer vocab_size and one of "
            f"{', '.join(_DIM_KEYS)}"
        )
    tied, _ = config_tied(cfg)  # no default known: untied, as transformers 5 reads it
    std = cfg.get("initializer_range", 0.02)
    model_type = cfg.get("model_type")
    notes: list[str] = []
    if isinstance(model_type, str) and model_type.startswith("gemma"):
        notes.append("Gemma multiplies embeddings by sqrt(hidden_size) in the forward pass")
    spec = TableSpec(
        origin=origin,
        name=name,
        vocab_size=vocab,
        embed_dim=dim,
        pad_token_id=config_pad(cfg),
        tied=tied is True,
        dtype=_hf_dtype(cfg.get("torch_dtype", cfg.get("dtype"))),
        init=InitSpec(std=_as_float(std, "initializer_range", name) if _is_number(std) else 0.02),
        model_type=model_type if isinstance(model_type, str) else None,
        notes=tuple(notes),
    )
    return validate_spec(spec)


def _hf_dtype(value: Any) -> str:
    return value if value in BUILD_DTYPES else "float32"


def validate_spec(spec: TableSpec) -> TableSpec:
    """The one range check of a spec's numbers, whether they came from flags or a file."""
    # A bad size from a file names the file; from flags, the flag.
    where = f" in {spec.name}" if spec.origin in ("config", "preset") else ""
    if not 0 < spec.vocab_size <= MAX_SIZE:
        raise UsageError(
            f"vocab size must be a positive integer up to 10**24, got {_short(spec.vocab_size)}"
            f"{where}; pass --vocab N"
        )
    if not 0 < spec.embed_dim <= MAX_SIZE:
        raise UsageError(
            f"embedding dim must be a positive integer up to 10**24, got "
            f"{_short(spec.embed_dim)}{where}; pass --dim N"
        )
    pad = spec.pad_token_id
    if pad is not None and not 0 <= pad < spec.vocab_size:
        raise UsageError(
            f"pad id {_short(pad)} is outside the table: valid ids are 0..{spec.vocab_size - 1}"
        )
    if spec.dtype not in BUILD_DTYPES:
        raise UsageError(f"dtype {spec.dtype!r} cannot be built; choose {', '.join(BUILD_DTYPES)}")
    init = spec.init
    if init.scheme not in INIT_SCHEMES:
        raise UsageError(f"unknown init {init.scheme!r}; choose {', '.join(INIT_SCHEMES)}")
    # `not a <= x` also refuses NaN; torch's normal_/uniform_ refuse infinite arguments.
    if not MIN_SCALE <= init.std <= MAX_SCALE:
        raise UsageError(
            f"init std must be a finite number in [{MIN_SCALE:g}, {MAX_SCALE:g}], "
            f"got {init.std}{where}"
        )
    low, high = init.low, init.high
    if not -MAX_SCALE <= low < high <= MAX_SCALE:
        raise UsageError(
            f"uniform bounds need finite low < high within +-{MAX_SCALE:g}, "
            f"got [{low}, {high}]{where}"
        )
    if high - low < max(MIN_SCALE, MIN_UNIFORM_WIDTH * max(abs(low), abs(high))):
        raise UsageError(
            f"uniform bounds [{low}, {high}] are narrower than float32 can sample; "
            "widen --low/--high"
        )
    check_seed(init.seed, where)
    return spec


def check_seed(seed: int, where: str = "") -> int:
    if not 0 <= seed <= MAX_SEED:
        raise UsageError(f"seed must be in 0..2**63-1, got {_short(seed)}{where}")
    return seed


@dataclass(frozen=True)
class Flag:
    """How a field of SourceArgs or Overrides is given on the command line (its metadata)."""

    decl: str  # "--vocab"; a switch "--tie/--no-tie"
    help: str
    parse: type | None = None  # what the option parses, where not the field's type
    build_only: bool = False  # describes a table to build: refused beside --from


def flag(
    decl: str,
    help: str,
    *,
    default: Any = None,
    parse: type | None = None,
    build_only: bool = False,
) -> Any:
    """A dataclass field that is also a table-source flag: options.py makes the option."""
    return field(default=default, metadata={"flag": Flag(decl, help, parse, build_only)})


def build_flag(decl: str, help: str, parse: type | None = None) -> Any:
    """A flag that describes a table to build: meaningless, so refused, beside --from."""
    return flag(decl, help, parse=parse, build_only=True)


def flag_of(f: Field[Any]) -> Flag:
    meta: Flag = f.metadata["flag"]
    return meta


@dataclass(frozen=True)
class Overrides:
    """Flags that define or override a spec; None means `not given`. With SourceArgs, the
    one table of the table-source options: each field is a flag (see Flag)."""

    vocab_size: int | None = build_flag("--vocab", "vocab_size (rows).")
    embed_dim: int | None = build_flag("--dim", "embed_dim / hidden_size (columns).")
    pad: str | None = flag("--pad", "Pad token id, or 'none'.")  # an integer, or "none"
    init_std: float | None = build_flag("--init-std", "initializer_range for --init normal.")
    seed: int | None = build_flag("--seed", "torch.manual_seed before the init.")
    dtype: str | None = build_flag("--dtype", "Cast after the fp32 init.", BuildDtype)
    tied: bool | None = build_flag("--tie/--no-tie", "Tie the LM head to the embedding.")
    init: str | None = build_flag("--init", "Init recipe (see README).", InitScheme)
    low: float | None = build_flag("--low", "Lower bound for --init uniform (-0.1).")
    high: float | None = build_flag("--high", "Upper bound for --init uniform (0.1).")

    def any(self) -> bool:
        return any(v is not None for v in vars(self).values())


def parse_token_id(text: str) -> int | None:
    """ASCII digits with an optional minus sign, or None.

    int() also takes `1_0`, `+5`, ` 7 ` and non-ASCII digits (Arabic-Indic, fullwidth):
    none of those is how anyone writes a token id.
    """
    body = text[1:] if text.startswith("-") else text
    if not body or len(body) > 4000 or not (body.isascii() and body.isdigit()):
        return None
    return int(text)


def parse_pad(value: str) -> int | None:
    if value.strip().lower() in ("none", "null", "-"):
        return None
    pad = parse_token_id(value)
    if pad is None:
        raise UsageError(f"--pad must be a token id or 'none', got {value!r}")
    return pad


def apply_overrides(spec: TableSpec, o: Overrides) -> TableSpec:
    if not o.any():
        return validate_spec(spec)
    init = replace(
        spec.init,
        scheme=o.init if o.init is not None else spec.init.scheme,
        std=o.init_std if o.init_std is not None else spec.init.std,
        seed=o.seed if o.seed is not None else spec.init.seed,
        low=o.low if o.low is not None else spec.init.low,
        high=o.high if o.high is not None else spec.init.high,
    )
    sized = o.vocab_size is not None or o.embed_dim is not None
    return validate_spec(
        replace(
            spec,
            origin="flags" if spec.origin == "default" and sized else spec.origin,
            name="flags" if spec.origin == "default" and sized else spec.name,
            vocab_size=o.vocab_size if o.vocab_size is not None else spec.vocab_size,
            embed_dim=o.embed_dim if o.embed_dim is not None else spec.embed_dim,
            pad_token_id=parse_pad(o.pad) if o.pad is not None else spec.pad_token_id,
            tied=o.tied if o.tied is not None else spec.tied,
            dtype=o.dtype if o.dtype is not None else spec.dtype,
            init=init,
        )
    )
