"""Ctrl-C at fit boundaries: a long run stops between two fits, never inside one.

A KeyboardInterrupt raised in the middle of a fit lands wherever the main thread happens to
be: inside a JAX host callback, which swallows it and lets the run go on, or inside a Numba
kernel, which turns it into a SystemError. So while `deferred()` is active, the first SIGINT
only records the request; the run asks `requested()` after each fit (its result already
cached) and raises KeyboardInterrupt there. A second SIGINT means "now": the previous handler
is back in place and Python raises at once (atomic writes still leave no half-written file).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_requested = threading.Event()


def _record(signum: int, frame) -> None:
    _requested.set()
    # The second Ctrl-C goes to Python's own handler: an immediate KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # os.write, not print: the handler may run while the main thread is inside a write to
    # stderr (a progress bar), where a buffered write would raise "reentrant call".
    os.write(2, b"clickfit: interrupt requested; stopping after the current fit "
                b"(Ctrl-C again to stop now)\n")


@contextmanager
def deferred() -> Iterator[None]:
    """Defer SIGINT to the next `check()` while the block runs (main thread only: elsewhere
    signals cannot be handled and the block runs unchanged)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _requested.clear()
    previous = signal.signal(signal.SIGINT, _record)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _requested.clear()


def requested() -> bool:
    """Whether a Ctrl-C arrived since `deferred()` began."""
    return _requested.is_set()


def check(done: int, total: int) -> None:
    """At a fit boundary: raise KeyboardInterrupt, saying what is kept, if Ctrl-C was hit."""
    if requested():
        raise KeyboardInterrupt(
            f"stopped after {done} of {total} fits; finished fits are cached, "
            "rerun the same command to resume"
        )
