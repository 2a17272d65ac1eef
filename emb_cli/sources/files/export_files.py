"""The files `emb export` writes: TensorBoard projector TSVs, .npy, .parquet.

Each goes through output.write_new_file (a temporary file, then linked into place; never
over an input; an existing file only with --force). Rows arrive in blocks, so a 50,000 x
4,096 sample is never held whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emb_cli.errors import UsageError
from emb_cli.sources.files.output import check_output, write_new_file

if TYPE_CHECKING:
    import numpy as np

PROJECTOR_FILES = ("tensors.tsv", "metadata.tsv", "projector_config.pbtxt")
METADATA_COLUMNS = ("id", "token", "kind", "norm", "score")


@dataclass(frozen=True)
class ExportRows:
    """The rows to write, their metadata, and a reader of their values in blocks."""

    ids: list[int]
    token: list[str | None]
    kind: list[str]
    norm: list[float]
    score: list[float | None]
    dim: int
    blocks: Callable[[], Iterator[np.ndarray]]  # float32 blocks, in the order of ids


def tsv_text(value: object) -> str:
    """A metadata cell: the projector splits on tabs and newlines, so they are escaped."""
    if value is None:
        return ""
    text = repr(value) if isinstance(value, float) else str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def projector_config(n: int, dim: int) -> str:
    """projector_config.pbtxt: one EmbeddingInfo (tensorboard/plugins/projector/
    projector_config.proto) with the TSV paths relative to the folder."""
    return (
        "embeddings {\n"
        '  tensor_name: "emb"\n'
        f"  tensor_shape: {n}\n"
        f"  tensor_shape: {dim}\n"
        '  tensor_path: "tensors.tsv"\n'
        '  metadata_path: "metadata.tsv"\n'
        "}\n"
    )


def check_projector_dir(folder: Path, inputs: Sequence[str], force: bool) -> None:
    """Refused before any pass: a file named like the folder, a missing parent, an
    existing projector file without --force, any of them an input."""
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--projector {folder} is a file; name a folder (made if missing)")
    if not folder.exists() and not folder.parent.is_dir():
        raise UsageError(f"--projector {folder}: directory {folder.parent} does not exist")
    if folder.is_dir():
        for name in PROJECTOR_FILES:
            check_output(folder / name, inputs, force, "--projector")


def write_projector(folder: Path, rows: ExportRows, force: bool, inputs: Sequence[str]) -> None:
    import numpy as np

    check_projector_dir(folder, inputs, force)
    try:
        folder.mkdir(exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--projector {folder}: {exc.strerror or exc}") from exc

    def tensors(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            for block in rows.blocks():
                np.savetxt(f, block, fmt="%.7g", delimiter="\t")

    def metadata(tmp: Path) -> None:
        cols = (rows.ids, rows.token, rows.kind, rows.norm, rows.score)
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write("\t".join(METADATA_COLUMNS) + "\n")
            for values in zip(*cols, strict=True):
                f.write("\t".join(tsv_text(v) for v in values) + "\n")

    def config(tmp: Path) -> None:
        tmp.write_text(projector_config(len(rows.ids), rows.dim), encoding="utf-8")

    for name, write in zip(PROJECTOR_FILES, (tensors, metadata, config), strict=True):
        write_new_file(folder / name, write, force, "--projector", inputs)


def npy_dtype(rows: ExportRows) -> np.dtype[Any]:
    """One record a row: id, token, kind, norm, score (NaN where not ranked), vector."""
    import numpy as np

    longest = max((len(t) for t in rows.token if t is not None), default=1)
    return np.dtype(
        [
            ("id", "<i8"),
            ("token", f"<U{max(1, longest)}"),
            ("kind", "<U16"),
            ("norm", "<f8"),
            ("score", "<f8"),
            ("vector", "<f4", (rows.dim,)),
        ]
    )


def write_npy(out: Path, rows: ExportRows, force: bool, inputs: Sequence[str]) -> None:
    """A structured .npy (np.load reads it without pickle), filled block by block."""
    import numpy as np

    check_output(out, inputs, force, "--npy")

    def write(tmp: Path) -> None:
        arr = np.lib.format.open_memmap(
            tmp, mode="w+", dtype=npy_dtype(rows), shape=(len(rows.ids),)
        )
        arr["id"] = rows.ids
        arr["token"] = [t or "" for t in rows.token]
        arr["kind"] = rows.kind
        arr["norm"] = rows.norm
        arr["score"] = [np.nan if s is None else s for s in rows.score]
        at = 0
        for block in rows.blocks():
            arr["vector"][at : at + block.shape[0]] = block
            at += block.shape[0]
        arr.flush()
        del arr

    write_new_file(out, write, force, "--npy", inputs)


def require_pyarrow() -> None:
    """--parquet without pyarrow: refused before any pass over the table."""
    import importlib.util

    try:
        found = importlib.util.find_spec("pyarrow") is not None
    except (ImportError, ValueError):  # a broken install, or sys.modules["pyarrow"] = None
        found = False
    if not found:
        raise UsageError(
            "--parquet needs pyarrow, which is not installed: `pip install pyarrow`, or "
            "write --npy instead"
        )


def write_parquet(out: Path, rows: ExportRows, force: bool, inputs: Sequence[str]) -> None:
    """Columns id, token, kind, norm, score and vector (a fixed-size list of float32)."""
    require_pyarrow()
    import pyarrow as pa  # type: ignore[import-not-found,import-untyped,unused-ignore]
    import pyarrow.parquet as pq  # type: ignore[import-not-found,import-untyped,unused-ignore]

    check_output(out, inputs, force, "--parquet")
    schema = pa.schema(
        [
            ("id", pa.int64()),
            ("token", pa.string()),
            ("kind", pa.string()),
            ("norm", pa.float64()),
            ("score", pa.float64()),
            ("vector", pa.list_(pa.float32(), rows.dim)),
        ]
    )

    def write(tmp: Path) -> None:
        at = 0
        with pq.ParquetWriter(str(tmp), schema) as w:
            for block in rows.blocks():
                n = block.shape[0]
                part = slice(at, at + n)
                flat = pa.array(block.reshape(-1), type=pa.float32())
                w.write_table(
                    pa.table(
                        {
                            "id": rows.ids[part],
                            "token": rows.token[part],
                            "kind": rows.kind[part],
                            "norm": rows.norm[part],
                            "score": rows.score[part],
                            "vector": pa.FixedSizeListArray.from_arrays(flat, rows.dim),
                        },
                        schema=schema,
                    )
                )
                at += n

    write_new_file(out, write, force, "--parquet", inputs)
