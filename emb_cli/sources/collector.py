"""Python's cyclic garbage collector, paused around work that makes many long-lived objects
and no cycles: reading a vocabulary, importing torch. Each full collection walks every
object alive, so its passes over a heap growing by a million objects add a tenth to such work."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_collection(freeze: bool = False) -> Iterator[None]:
    """No collection inside the block; `freeze`: afterwards, gc.freeze() sets every object
    alive aside from all later collections (what a module import leaves lives as long as
    the process)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if was:
            gc.enable()
