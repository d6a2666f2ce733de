"""The process's heap: free C-heap pages handed back to the system, so a long run's RSS stays
flat; start-up objects kept out of the cyclic garbage collector's full passes.

glibc's malloc keeps the memory a process frees inside its heap and returns only what lies at
the heap's top. Large, short-lived buffers (fetch responses, RocksDB's write buffers, records of
a few KiB) leave free holes between live blocks, and each hole stays resident once it has been
touched. In the stats agent's first four minutes of a backlog the heap's free part grew from
4 MiB to 11 MiB (``mallinfo2``) while its used part went from 25 to 30 MiB, and later one
``malloc_trim(0)`` took the agent's anonymous memory from 103 MiB to 93 MiB (docs/benchmarks.md,
(k)). ``malloc_trim`` releases the whole pages inside free holes (glibc >= 2.8); where there is
no glibc (musl, macOS) this is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
from collections.abc import Callable

#: How often a process returns its heap's free pages: often enough that the holes of a minute
#: do not add up, rarely enough that the few milliseconds a call takes do not count.
TRIM_INTERVAL_S = 60.0


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    trim: Callable[[int], int] | None = getattr(ctypes.CDLL(name), "malloc_trim", None)
    return trim


def return_free_memory() -> bool:
    """Hand the heap's free pages back to the system; whether this C library could. Blocking
    (milliseconds, holding the heap's locks): call it from a thread, not the event loop."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


def freeze_startup_objects() -> None:
    """Keep the objects alive once start-up is over out of every later cyclic collection.

    Modules, classes, schemas and the app's services are most of a worker's objects and live
    as long as it does, yet each full collection walked them all again: 35-78 ms with the event
    loop stopped, every 20-40 s under load (the bench's (e) and (g)). ``gc.freeze`` moves them to
    a generation no collection visits; what the run creates is collected as before.
    """
    gc.collect()
    gc.freeze()
