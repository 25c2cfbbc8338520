"""Peak resident memory of a block of code, sampled from /proc so that Numba and XLA buffers count.

tracemalloc only sees allocations made through Python's allocator; the engines allocate through
Numba's NRT and XLA, so the honest measure is the process's resident set size. A background
thread samples it while the block runs; the result is the peak above the level at entry.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    """Current resident set size; falls back to the lifetime peak where /proc is missing."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@dataclass
class PeakMemory:
    baseline: int = 0
    peak: int = 0

    @property
    def peak_above_baseline(self) -> int:
        return max(self.peak - self.baseline, 0)


@contextmanager
def track_peak_memory(interval: float = 0.005) -> Iterator[PeakMemory]:
    result = PeakMemory(baseline=rss_bytes())
    result.peak = result.baseline
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            result.peak = max(result.peak, rss_bytes())
            time.sleep(interval)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        stop.set()
        thread.join()
        result.peak = max(result.peak, rss_bytes())
