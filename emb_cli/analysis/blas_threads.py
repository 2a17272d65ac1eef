"""One BLAS thread per worker while emb's own worker threads share the cores.

OpenBLAS (numpy's BLAS) runs every product above ~260k multiply-adds on a thread per core.
Skinny products such as (256 x 4096) @ (4096 x 10) then spend their time handing work
between threads, and on a busy machine spin-waiting for a core: emb undertrained on a
1.6 GB table took 48 s that way and 12 s with one BLAS thread (2 cores, load average 6).
The library numpy loaded is found in /proc/self/maps, as threadpoolctl does; anywhere that
fails, nothing changes and the caller keeps to one worker.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
from collections.abc import Callable, Iterator

# (set, get) pairs: OpenBLAS's own names, its 64-bit-integer build's, and scipy-openblas's
# (the wheels numpy ships since 2.0).
_NAMES = (
    ("openblas_set_num_threads", "openblas_get_num_threads"),
    ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
    ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
    ("scipy_openblas_set_num_threads_64_", "scipy_openblas_get_num_threads_64_"),
)


@functools.cache
def _openblas() -> tuple[Callable[[int], None], Callable[[], int]] | None:
    try:
        with open("/proc/self/maps") as fh:
            paths = sorted(
                {line.split()[-1] for line in fh if "openblas" in line.lower() and "/" in line}
            )
        for path in paths:
            lib = ctypes.CDLL(path)
            for set_name, get_name in _NAMES:
                if hasattr(lib, set_name) and hasattr(lib, get_name):
                    setter, getter = getattr(lib, set_name), getattr(lib, get_name)
                    setter.argtypes, setter.restype = [ctypes.c_int], None
                    getter.argtypes, getter.restype = [], ctypes.c_int
                    return setter, getter
    except (OSError, AttributeError):
        pass
    return None


@contextlib.contextmanager
def one_blas_thread() -> Iterator[bool]:
    """Within: OpenBLAS uses one thread per call. Yields whether that could be arranged."""
    import numpy  # noqa: F401  (loads OpenBLAS, so that it can be found)

    found = _openblas()
    if found is None:
        yield False
        return
    setter, getter = found
    before = getter()
    setter(1)
    try:
        yield True
    finally:
        setter(before)
