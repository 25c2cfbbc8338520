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
from numba import njit, prange

from clicklog.sessions import Sessions
from em.layout import Layout, layout, prange_only, session_arrays

ROW_E, ROW_A = 0, 1


@njit(cache=True)
def _session(qd, click, length, attraction, examination, by_last, out, column):
    """Fill out[ROW_E], out[ROW_A] with P(E_r = 1 | c), P(A_r = 1 | c) and column[r] with j;
    return log P(c)."""
    ll = 0.0
    j = 0
    for r in range(length):
        a = attraction[qd[r]]
        e = examination[r, j]
        column[r] = j
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


@njit(parallel=prange_only(), cache=True)
def _estep(starts, qd, click, length, weight, attraction, examination, by_last, keep):
    """Statistics of the query-ordered sessions, log P(c) of each, and with `keep` each
    session's posterior table (else an empty one)."""
    n, K = qd.shape
    n_chunks = starts.size - 1
    attr = np.zeros((2, attraction.size))
    exam = np.zeros((n_chunks, 2) + examination.shape)
    ll = np.zeros(n)
    table = np.zeros((n if keep else 0, 2, K))
    for c in prange(n_chunks):
        scratch = np.zeros((2, K))
        column = np.zeros(K, np.int64)
        for i in range(starts[c], starts[c + 1]):
            out = table[i] if keep else scratch
            ll[i] = _session(
                qd[i], click[i], length[i], attraction, examination, by_last, out, column
            )
            w = weight[i]
            for r in range(length[i]):
                # qd entries belong to one query, hence to this chunk alone
                attr[0, qd[i, r]] += w * out[ROW_A, r]
                attr[1, qd[i, r]] += w
                exam[c, 0, r, column[r]] += w * out[ROW_E, r]
                exam[c, 1, r, column[r]] += w
    return attr, exam.sum(axis=0), ll, table


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


def _run(lay: Layout, attraction, examination, by_last: bool, keep: bool):
    return _estep(
        lay.starts, lay.qd, lay.click, lay.length, lay.weight, attraction, examination, by_last,
        keep,
    )


def estep(
    lay: Layout, attraction: np.ndarray, examination: np.ndarray, by_last: bool
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], float]:
    """((S1, T) of attraction, (S1, T) of the [K, J] examination table, weighted log P(c))."""
    attr, exam, ll, _ = _run(lay, attraction, examination, by_last, False)
    return (attr[0], attr[1]), (exam[0], exam[1]), lay.weighted_sum(ll)


def posteriors(
    sessions: Sessions, attraction: np.ndarray, examination: np.ndarray, by_last: bool
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """Hidden E and A per rank (both drawn at every real rank) and log P(c) per session."""
    lay = layout(sessions)
    _, _, ll, table = _run(lay, attraction, examination, by_last, True)
    table, ll = lay.unsort(table), lay.unsort(ll)
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
