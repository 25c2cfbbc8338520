"""Query-ordered session arrays and their split into chunks for the parallel E-step kernels.

Sessions are sorted by query once per fit and cut into chunks on query boundaries, so that
every query, and with it every query-document pair, belongs to exactly one chunk. A Numba
kernel can then `prange` over chunks and add to per-qd accumulators directly: no two threads
ever write the same entry. Per-rank and global statistics are kept per chunk and summed.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numba
import numpy as np
from numba import njit, prange

from clicklog.sessions import Sessions

# Many more chunks than threads, handed out one at a time (em/cascade.py), so that neither
# one big query nor a thread that other processes delay leaves the other threads idle.
CHUNKS_PER_THREAD = 32
# A session's likelihood is one product of its per-rank factors, logged once (a logarithm per
# impression costs more than the rest of an E-step kernel) and folded into a sum of logarithms
# whenever it falls below this, so that it never underflows (factors are at least 1e-12).
RESCALE = 1e-250


def prange_only() -> dict[str, bool]:
    """Numba `parallel` options that parallelise the explicit prange loop and nothing else.

    With plain parallel=True every np.zeros and array reduction becomes a parallel region
    of its own, and each region costs a thread hand-off; on a busy machine (other processes
    on the cores) those hand-offs made an E-step several times slower. A fresh dict per use,
    because Numba consumes it.
    """
    return {
        "comprehension": False,
        "reduction": False,
        "inplace_binop": False,
        "setitem": False,
        "numpy": False,
        "stencil": False,
        "fusion": False,
        "prange": True,
    }


# Buffers of one shape a Scratch keeps for reuse; more in use at once are not kept.
SCRATCH_KEPT = 3
CLEAR_BLOCK = 1 << 16


@njit(parallel=prange_only(), cache=True)
def _clear(flat):
    for block in prange((flat.size + CLEAR_BLOCK - 1) // CLEAR_BLOCK):
        flat[block * CLEAR_BLOCK:min((block + 1) * CLEAR_BLOCK, flat.size)] = 0.0


class Scratch:
    """Zeroed float64 arrays for a layout's kernels to write into (accumulators, per-session
    log-likelihoods, posterior tables), allocated by numpy and reused across E-steps.

    Why numpy: it asks the kernel for transparent huge pages on large arrays (madvise);
    Numba's allocator does not, and an E-step's scattered adds into a parameter-sized array on
    4 KiB pages miss the TLB at almost every impression (on 10M Yandex-like sessions the PBM,
    DBN and CCM E-steps took 1.2x as long with their accumulators from Numba).

    Why reuse: an array over glibc's mmap threshold (32 MiB at most) is a fresh mapping at
    every allocation, and every E-step paid for its page faults again: its unaligned head and
    tail on 4 KiB pages, its huge pages zeroed, compacted for, and unmapped once freed. DBN's
    per-qd accumulator on 2M Yandex-like sessions (55 MB) cost about 2,000 faults a call.

    An array is handed out again only once nothing but this Scratch holds it: every numpy
    view of it, such as the statistics an E-step returns, references it as its base, so its
    reference count says whether any survive (sys.getrefcount: the list and the call's own
    argument, 2). A caller may keep an E-step's results as long as it likes. The E-steps of
    one layout run one at a time (each kernel uses every thread already)."""

    def __init__(self) -> None:
        self._kept: list[np.ndarray] = []

    def __reduce__(self):
        return Scratch, ()  # a pickled layout (a Dask worker's) starts with none

    def zeros(self, shape: int | tuple[int, ...]) -> np.ndarray:
        """A zeroed float64 array of `shape`: a kept one nothing else holds, else a new one."""
        shape = (shape,) if isinstance(shape, int | np.integer) else tuple(shape)
        same = [i for i in range(len(self._kept)) if self._kept[i].shape == shape]
        for i in same:
            if sys.getrefcount(self._kept[i]) == 2:
                _clear(self._kept[i].reshape(-1))
                return self._kept[i]
        out = np.zeros(shape)
        if len(same) < SCRATCH_KEPT:
            self._kept.append(out)
        return out


@dataclass(frozen=True)
class Layout:
    """Contiguous, query-ordered copies of what the kernels read, plus per-fit constants.

    `first` and `last` are the ranks of the first and last click (-1 in a session without
    clicks); `starts` holds chunk boundaries (rows starts[c] .. starts[c+1]-1 form chunk c).
    """

    qd: np.ndarray  # int32 [n, K]
    click: np.ndarray  # bool [n, K]
    length: np.ndarray  # int64 [n]
    weight: np.ndarray  # float64 [n]
    first: np.ndarray  # int64 [n]
    last: np.ndarray  # int64 [n]
    starts: np.ndarray  # int64 [n_chunks + 1]
    order: np.ndarray  # int64 [n], row i here is row order[i] of the caller's sessions
    n_qd: int
    n_impressions: float
    qd_doc: np.ndarray  # int32 [n_qd], the document of every query-document pair
    scratch: Scratch = field(default_factory=Scratch, compare=False, repr=False)

    @property
    def n(self) -> int:
        return int(self.qd.shape[0])

    @property
    def K(self) -> int:  # noqa: N802 - the click-model literature's name for the page size
        return int(self.qd.shape[1])

    @property
    def mask(self) -> np.ndarray:
        return np.arange(self.K)[None, :] < self.length[:, None]

    def weighted_sum(self, per_session: np.ndarray) -> float:
        """sum_i w_i x_i; np.sum rather than a BLAS dot, whose threads would compete with
        Numba's for the same cores."""
        return float(np.sum(self.weight * per_session))

    def unsort(self, values: np.ndarray) -> np.ndarray:
        """Per-session values in query order back in the caller's session order."""
        out = np.empty_like(values)
        out[self.order] = values
        return out


def click_ranks(click: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ranks of the first and last click of every session, -1 where nothing was clicked."""
    any_click = click.any(axis=1)
    K = click.shape[1]
    first = np.where(any_click, np.argmax(click, axis=1), -1).astype(np.int64)
    last = np.where(any_click, K - 1 - np.argmax(click[:, ::-1], axis=1), -1).astype(np.int64)
    return first, last


def chunk_starts(query: np.ndarray, n_chunks: int) -> np.ndarray:
    """Row boundaries of about n_chunks equal chunks, cut only where the query changes.

    `query` must be sorted. A query with more sessions than a chunk's share gets a chunk of
    its own; chunks never split a query.
    """
    n = query.shape[0]
    boundaries = np.concatenate(([0], np.flatnonzero(np.diff(query)) + 1, [n]))
    targets = np.linspace(0, n, n_chunks + 1)
    nearest = np.searchsorted(boundaries, targets)
    return np.unique(boundaries[np.clip(nearest, 0, boundaries.size - 1)]).astype(np.int64)


def layout(sessions: Sessions, n_chunks: int | None = None) -> Layout:
    """Sort `sessions` by query and split them into chunks for the parallel kernels."""
    order = np.argsort(sessions.query, kind="stable")
    return sorted_layout(
        sessions.query[order], sessions.qd[order], sessions.click[order], sessions.length[order],
        sessions.weight[order], sessions.qd_doc, n_chunks, order,
    )


def sorted_layout(
    query: np.ndarray,
    qd: np.ndarray,
    click: np.ndarray,
    length: np.ndarray,
    weight: np.ndarray,
    qd_doc: np.ndarray,
    n_chunks: int | None = None,
    order: np.ndarray | None = None,
) -> Layout:
    """The Layout of session arrays already in query order; `qd_doc` gives the document of
    each qd index they use, `order` their rows in the caller's sessions (default: the same)."""
    click = np.ascontiguousarray(click)
    first, last = click_ranks(click)
    if n_chunks is None:
        n_chunks = CHUNKS_PER_THREAD * numba.get_num_threads()
    weight = weight.astype(np.float64)
    length = length.astype(np.int64)
    return Layout(
        qd=np.ascontiguousarray(qd),
        click=click,
        length=length,
        weight=weight,
        first=first,
        last=last,
        starts=chunk_starts(query, max(n_chunks, 1)),
        order=np.arange(query.shape[0]) if order is None else order,
        n_qd=int(qd_doc.shape[0]),
        n_impressions=float(np.sum(weight * length)),
        qd_doc=qd_doc,
    )


def session_arrays(sessions: Sessions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(qd, click, length) of unsorted sessions in the one layout the kernels are compiled for."""
    return (
        np.ascontiguousarray(sessions.qd),
        np.ascontiguousarray(sessions.click),
        sessions.length.astype(np.int64),
    )
