"""Numba kernels of the examination hypothesis shared by PBM and UBM.

Both models click at rank r iff the result is examined (E_r) and attractive (A_r), two
independent draws: P(C_r = 1 | c_<r) = attraction[qd_r] * examination[r, j], where j is the
column of the examination table in force. UBM sets j = (rank of the last click above r) + 1,
0 without one; PBM is the same kernel with a one-column table and j = 0 always.

E-step (exact, per rank): a click fixes E_r = A_r = 1; without one, with a = attraction[qd_r]
and e = examination[r, j],

    P(E_r = 1 | C_r = 0) = e (1 - a) / (1 - a e),    P(A_r = 1 | C_r = 0) = a (1 - e) / (1 - a e).

Both are drawn at every real rank, so each rank is one attraction trial and one examination
trial. Unconditional click probabilities of UBM marginalise j by a forward pass over the
distribution of the last click above r (O(K^2) per session).
"""

from __future__ import annotations

import numpy as np
from numba import njit, parallel_chunksize, prange

from clicklog.sessions import Sessions
from em.layout import RESCALE, Layout, prange_only, session_arrays

ROW_E, ROW_A = 0, 1


@njit(cache=True)
def _session(qd, click, length, attraction, examination, by_last, out):
    """Fill out[ROW_E], out[ROW_A] with P(E_r = 1 | c), P(A_r = 1 | c); return log P(c)."""
    ll = 0.0
    j = 0
    for r in range(length):
        a = attraction[qd[r]]
        e = examination[r, j]
        if click[r]:
            ll += np.log(a * e)
            out[ROW_E, r] = 1.0
            out[ROW_A, r] = 1.0
            if by_last:
                j = r + 1
        else:
            p0 = 1.0 - a * e
            ll += np.log(p0)
            out[ROW_E, r] = e * (1.0 - a) / p0
            out[ROW_A, r] = a * (1.0 - e) / p0
    return ll


@njit(cache=True)
def _session_stats(qd, click, length, weight, attraction, examination, by_last, by_qd,
                   by_cell):
    """_session's posteriors of one session of weight w added straight into the statistics:
    by_qd[q] = (S1, T) of attraction, by_cell[:, r, j] = (S1, T) of examination; return
    log P(c), as one product logged once (folded below RESCALE, as em/cascade.py does)."""
    ll = 0.0
    p = 1.0
    j = 0
    for r in range(length):
        if p < RESCALE:
            ll += np.log(p)
            p = 1.0
        q = qd[r]
        a = attraction[q]
        e = examination[r, j]
        by_qd[q, 1] += weight
        by_cell[1, r, j] += weight
        if click[r]:
            p *= a * e
            by_qd[q, 0] += weight
            by_cell[0, r, j] += weight
            if by_last:
                j = r + 1
        else:
            p0 = 1.0 - a * e
            p *= p0
            scale = weight / p0
            by_qd[q, 0] += scale * (a * (1.0 - e))
            by_cell[0, r, j] += scale * (e * (1.0 - a))
    return ll + np.log(p)


@njit(parallel=prange_only(), cache=True)
def _estep(starts, qd, click, length, weight, attraction, examination, by_last, by_qd, ll):
    """Statistics of the query-ordered sessions and log P(c) of each into `ll` [n]; `by_qd`
    [n_qd, 2] zeros, (S1, T) side by side: one cache line per qd entry, not two."""
    n_chunks = starts.size - 1
    by_cell = np.zeros((n_chunks, 2) + examination.shape)
    for c in prange(n_chunks):
        for i in range(starts[c], starts[c + 1]):
            # qd entries belong to one query, hence to this chunk alone
            ll[i] = _session_stats(qd[i], click[i], length[i], weight[i], attraction,
                                   examination, by_last, by_qd, by_cell[c])
    return by_qd, by_cell.sum(axis=0), ll


@njit(parallel=prange_only(), cache=True)
def _table(qd, click, length, attraction, examination, by_last):
    """Every session's posterior table and log P(c)."""
    n, K = qd.shape
    ll = np.empty(n)
    table = np.zeros((n, 2, K))
    for i in prange(n):
        ll[i] = _session(qd[i], click[i], length[i], attraction, examination, by_last, table[i])
    return table, ll


@njit(parallel=prange_only(), cache=True)
def _predict(qd, click, length, attraction, examination, by_last, conditional):
    n, K = qd.shape
    out = np.zeros((n, K))
    for i in prange(n):
        # p_last[j]: probability that j - 1 is the last click above the current rank
        p_last = np.zeros(K + 1)
        p_last[0] = 1.0
        j = 0
        for r in range(length[i]):
            a = attraction[qd[i, r]]
            if conditional or not by_last:
                out[i, r] = a * examination[r, j]
                if by_last and click[i, r]:
                    j = r + 1
                continue
            p = 0.0
            for k in range(r + 1):
                p += p_last[k] * a * examination[r, k]
                p_last[k] *= 1.0 - a * examination[r, k]
            p_last[r + 1] = p
            out[i, r] = p
    return out


def estep(
    lay: Layout, attraction: np.ndarray, examination: np.ndarray, by_last: bool
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], float]:
    """((S1, T) of attraction, (S1, T) of the [K, J] examination table, weighted log P(c))."""
    with parallel_chunksize(1):  # as em/cascade.py, for threads the machine delays
        by_qd, by_cell, ll = _estep(lay.starts, lay.qd, lay.click, lay.length, lay.weight,
                                    attraction, examination, by_last,
                                    lay.scratch.zeros((attraction.size, 2)),
                                    lay.scratch.zeros(lay.n))
    return (by_qd[:, 0], by_qd[:, 1]), (by_cell[0], by_cell[1]), lay.weighted_sum(ll)


def posteriors(
    sessions: Sessions, attraction: np.ndarray, examination: np.ndarray, by_last: bool
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """Hidden E and A per rank (both drawn at every real rank) and log P(c) per session."""
    table, ll = _table(*session_arrays(sessions), attraction, examination, by_last)
    drawn = sessions.mask.astype(np.float64)
    return {"E": (drawn, table[:, ROW_E]), "A": (drawn, table[:, ROW_A])}, ll


def predict(
    sessions: Sessions,
    attraction: np.ndarray,
    examination: np.ndarray,
    by_last: bool,
    conditional: bool,
) -> np.ndarray:
    """P(C_r = 1 | c_<r) if `conditional`, else P(C_r = 1); 0 at padded ranks."""
    return _predict(*session_arrays(sessions), attraction, examination, by_last, conditional)
