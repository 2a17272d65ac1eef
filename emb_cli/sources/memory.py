"""Memory checks made before an allocation, counting every scratch array, not the table only.

`lookup --dim 1000000000` once passed a table-only check and was OOM-killed 83 s later by
its float64 copies and the Python list of a billion floats; a refusal must come first.
"""

from __future__ import annotations

import os

from emb_cli.errors import TooLarge

# Leave a fifth for the interpreter, torch's own arenas and everything else running.
USABLE_FRACTION = 0.8
# One float in a Python list (tolist() for --json / rich): a 24-byte float object plus an
# 8-byte pointer, and about as much again for its text in the output.
PY_FLOAT_BYTES = 64


def available_memory() -> int:
    """MemAvailable from /proc/meminfo (Linux), else the physical memory size."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def ensure_memory(bytes_needed: int | float, what: str, hint: str = "") -> None:
    """Refuse (TooLarge, exit 2) when `what` would need more than the usable memory.

    `bytes_needed` counts every array made along the way: the table, float64 copies,
    D x D matrices, Python lists for the output.
    """
    have = available_memory()
    if bytes_needed > USABLE_FRACTION * have:
        need = float(bytes_needed) if bytes_needed < 2**1000 else float("inf")
        tail = f"; {hint}" if hint else ""
        raise TooLarge(
            f"{what} needs about {need / 2**30:,.1f} GiB of memory and "
            f"{have / 2**30:,.1f} GiB is available{tail}"
        )


def lookup_bytes(rows: int, embed_dim: int) -> int:
    """Looking up `rows` rows: float32 rows, two float64 copies for the norms, the output."""
    return rows * embed_dim * (4 + 2 * 8 + PY_FLOAT_BYTES)


def covariance_bytes(embed_dim: int) -> int:
    """resize's mean resizing, as transformers does it: a D x D covariance. In float64 here
    (X^T X, the outer product, the symmetrised copy, eigvalsh or Cholesky's factor) and in
    float32 for --write (cov, 1e-9 * cov twice, MultivariateNormal's scale_tril and
    precision): counted as six float64 D x D matrices. D = 1,000,000 is 7.28 TiB each."""
    return 6 * 8 * embed_dim * embed_dim
