"""One exact forward-backward E-step for the examination chain of the cascade family.

CM, DCM, CCM, DBN and SDBN share one generative skeleton (tests/reference.py): E_0 = 1,
C_r = E_r A_r with A_r ~ Bern(attraction[qd_r]), E_r = 0 => E_{r+1} = 0, and for E_r = 1

    C_r = 0:  E_{r+1} ~ Bern(t0[r])
    C_r = 1:  a hidden route S_r ~ Bern(sigma[qd_r]), then E_{r+1} ~ Bern(cont1[r] if S_r
              else cont0[r]),   so   t1_r = sigma cont1[r] + (1 - sigma) cont0[r].

Each model module says what sigma, t0, cont0 and cont1 are (DBN: sigma = satisfaction,
cont1 = 0, cont0 = t0 = continuation; CCM: sigma = attraction, tau3, tau2, tau1; DCM: sigma
= 0, cont0 = continuation[r], t0 = 1; SDBN: sigma = satisfaction, cont1 = 0, cont0 = t0 = 1)
and which parameter each family of draws updates.

Exact posteriors given the clicks c of one session of length L with last click l (-1 if none):
every E_r with r <= l is 1, so draws before l are observed except the route S_r at a click,
whose posterior given E_{r+1} = 1 is sigma cont1 / t1. After l (from rank 0 without clicks)
the chain is hidden and no rank is clicked. With the backward probabilities

    b_L = 1,   b_r = P(no click at r..L-1 | E_r = 1) = (1 - a_r) ((1 - t0_r) + t0_r b_{r+1}),

the forward weights f_{l+1} = t1_l (f_0 = 1 without clicks), f_{r+1} = f_r (1 - a_r) t0_r,
and Z = P(no click after l | c_<=l) = (1 - t1_l) + t1_l b_{l+1} (b_0 without clicks, 1 if
l = L - 1):

    P(E_r = 1 | c) = f_r b_r / Z,     P(E_r = 1, E_{r+1} = 1 | c) = f_r (1 - a_r) t0_r b_{r+1} / Z,
    P(A_r = 1 | c) = (1 - P(E_r = 1 | c)) a_r    (an unclicked rank is attractive only unexamined),
    P(S_l = 1 | c) = sigma (1 - cont1 + cont1 b_{l+1}) / Z,   P(S_l = 1, E_{l+1} = 1 | c)
                   = sigma cont1 b_{l+1} / Z   (and likewise for S_l = 0 with cont0).

No route is drawn at the last rank (nothing follows it). O(K) per session. The E-step adds
each posterior straight into the statistics (_session_stats) instead of writing a table per
session and summing it (_session, kept for `posteriors`): the same sums in the same order, a
third faster; a test checks the one against the other. Numerics: with
every probability inside [1e-6, 1 - 1e-6], b_r >= (1e-6)^(L - r) and Z >= b_{l+1} (b_0),
so plain products stay in float64's normal range for pages of up to MAX_K = 50 results (the
kernels refuse wider ones); a forward weight f_r that underflows only means a posterior
below 1e-300. The log-likelihood is one product per session, logged once (a logarithm per
impression cost more than the rest of the kernel), and folded into a sum of logarithms
whenever it falls below RESCALE, so that it never underflows.

Log-likelihood: log P(c) = sum_{r < l} [log P(C_r = c_r | E_r = 1) + log P(E_{r+1} = 1 | ...)]
+ log a_l + log Z. Predictions use the forward filter e_r = P(E_r = 1 | c_<r):
P(C_r = 1 | c_<r) = a_r e_r, then e_{r+1} = t1_r after a click and
e_r (1 - a_r) t0_r / (1 - a_r e_r) after none; unconditionally P(E_{r+1} = 1) =
P(E_r = 1) (a_r t1_r + (1 - a_r) t0_r).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numba import njit, parallel_chunksize, prange

from clicklog.sessions import Sessions
from em.layout import RESCALE, Layout, layout, prange_only, session_arrays
from em.model import Hidden, Model, Params, Stats

# Rows of the per-session posterior table: E and A, then (trials, successes) of the route
# draws S and of the three transition families.
ROW_E, ROW_A = 0, 1
ROW_SW, ROW_SS = 2, 3
ROW_T0W, ROW_T0S = 4, 5
ROW_C0W, ROW_C0S = 6, 7
ROW_C1W, ROW_C1S = 8, 9
N_ROWS = 10
MAX_K = 50
DRAWS = {"route": ROW_SW, "t0": ROW_T0W, "cont0": ROW_C0W, "cont1": ROW_C1W}
RANK_DRAWS = ("t0", "cont0", "cont1")


@njit(cache=True)
def _session(qd, click, length, last, attraction, sigma, t0, cont0, cont1, out, back):
    """Fill out[:, :length] with the posteriors of one session; return log P(c)."""
    out[:, :length] = 0.0
    # log P(c) as one product, logged once per session; folded into ll before it can leave
    # float64's normal range (each factor is at least 1e-12, see the module docstring)
    ll = 0.0
    p = 1.0
    for r in range(last):
        if p < RESCALE:
            ll += np.log(p)
            p = 1.0
        a = attraction[qd[r]]
        out[ROW_E, r] = 1.0
        if click[r]:
            s = sigma[qd[r]]
            p1 = s * cont1[r]
            p0 = (1.0 - s) * cont0[r]
            t1 = p1 + p0
            p *= a * t1
            out[ROW_A, r] = 1.0
            out[ROW_SW, r] = 1.0
            out[ROW_SS, r] = p1 / t1
            out[ROW_C1W, r] = p1 / t1
            out[ROW_C1S, r] = p1 / t1
            out[ROW_C0W, r] = p0 / t1
            out[ROW_C0S, r] = p0 / t1
        else:
            p *= (1.0 - a) * t0[r]
            out[ROW_T0W, r] = 1.0
            out[ROW_T0S, r] = 1.0

    back[length] = 1.0
    for r in range(length - 1, last, -1):
        back[r] = (1.0 - attraction[qd[r]]) * ((1.0 - t0[r]) + t0[r] * back[r + 1])

    f = 1.0
    z = back[0]
    if last >= 0:
        out[ROW_E, last] = 1.0
        out[ROW_A, last] = 1.0
        p *= attraction[qd[last]]
        z = 1.0
    if 0 <= last < length - 1:
        s = sigma[qd[last]]
        b = back[last + 1]
        c0 = cont0[last]
        c1 = cont1[last]
        f = s * c1 + (1.0 - s) * c0
        z = 1.0 - f + f * b
        out[ROW_SW, last] = 1.0
        out[ROW_SS, last] = s * (1.0 - c1 + c1 * b) / z
        out[ROW_C1W, last] = out[ROW_SS, last]
        out[ROW_C1S, last] = s * c1 * b / z
        out[ROW_C0W, last] = (1.0 - s) * (1.0 - c0 + c0 * b) / z
        out[ROW_C0S, last] = (1.0 - s) * c0 * b / z
    # z >= b_{l+1} can be as small as 1e-300: one logarithm of the product only when safe
    ll += np.log(p * z) if p * z > RESCALE else np.log(p) + np.log(z)

    # P(E_r = 1, E_{r+1} = 1 | c) is P(E_{r+1} = 1 | c): each rank's is carried to the next
    inv_z = 1.0 / z
    pe = f * back[last + 1] * inv_z
    for r in range(last + 1, length):
        a = attraction[qd[r]]
        out[ROW_E, r] = pe
        out[ROW_A, r] = (1.0 - pe) * a
        f *= (1.0 - a) * t0[r]
        if r < length - 1:
            out[ROW_T0W, r] = pe
            pe = f * back[r + 1] * inv_z
            out[ROW_T0S, r] = pe
    return ll


@njit(cache=True)
def _session_stats(qd, click, length, last, w, attraction, sigma, t0, cont0, cont1, by_qd,
                   by_rank, back):
    """_session's posteriors of one session of weight w added straight into the per-qd and
    per-rank statistics (rows of by_rank: ROW_T0W - ROW_T0W ..), without writing the table:
    the same sums in the same order, a zero entry of the table only adds nothing. Returns
    log P(c)."""
    ll = 0.0
    p = 1.0
    for r in range(last):
        if p < RESCALE:
            ll += np.log(p)
            p = 1.0
        q = qd[r]
        a = attraction[q]
        by_qd[q, 1] += w
        if click[r]:
            s = sigma[q]
            p1 = s * cont1[r]
            p0 = (1.0 - s) * cont0[r]
            t1 = p1 + p0
            p *= a * t1
            by_qd[q, 0] += w
            by_qd[q, 2] += w * (p1 / t1)
            by_qd[q, 3] += w
            by_rank[ROW_C0W - ROW_T0W, r] += w * (p0 / t1)
            by_rank[ROW_C0S - ROW_T0W, r] += w * (p0 / t1)
            by_rank[ROW_C1W - ROW_T0W, r] += w * (p1 / t1)
            by_rank[ROW_C1S - ROW_T0W, r] += w * (p1 / t1)
        else:
            p *= (1.0 - a) * t0[r]
            by_rank[0, r] += w
            by_rank[1, r] += w

    back[length] = 1.0
    for r in range(length - 1, last, -1):
        back[r] = (1.0 - attraction[qd[r]]) * ((1.0 - t0[r]) + t0[r] * back[r + 1])

    f = 1.0
    z = back[0]
    if last >= 0:
        q = qd[last]
        by_qd[q, 0] += w
        by_qd[q, 1] += w
        p *= attraction[q]
        z = 1.0
    if 0 <= last < length - 1:
        q = qd[last]
        s = sigma[q]
        b = back[last + 1]
        c0 = cont0[last]
        c1 = cont1[last]
        f = s * c1 + (1.0 - s) * c0
        z = 1.0 - f + f * b
        ss = s * (1.0 - c1 + c1 * b) / z
        by_qd[q, 2] += w * ss
        by_qd[q, 3] += w
        by_rank[ROW_C0W - ROW_T0W, last] += w * ((1.0 - s) * (1.0 - c0 + c0 * b) / z)
        by_rank[ROW_C0S - ROW_T0W, last] += w * ((1.0 - s) * c0 * b / z)
        by_rank[ROW_C1W - ROW_T0W, last] += w * ss
        by_rank[ROW_C1S - ROW_T0W, last] += w * (s * c1 * b / z)
    ll += np.log(p * z) if p * z > RESCALE else np.log(p) + np.log(z)

    inv_z = 1.0 / z
    pe = f * back[last + 1] * inv_z
    for r in range(last + 1, length):
        q = qd[r]
        a = attraction[q]
        by_qd[q, 0] += w * ((1.0 - pe) * a)
        by_qd[q, 1] += w
        f *= (1.0 - a) * t0[r]
        if r < length - 1:
            by_rank[0, r] += w * pe
            pe = f * back[r + 1] * inv_z
            by_rank[1, r] += w * pe
    return ll


@njit(parallel=prange_only(), cache=True)
def _estep(starts, qd, click, length, last, weight, attraction, sigma, t0, cont0, cont1,
           by_qd, ll):
    """Statistics of the query-ordered sessions and log P(c) of each into `ll` [n]; `by_qd`
    [n_qd, 4] zeros, per qd attraction successes and trials, route successes and trials (one
    cache line per qd entry, not four)."""
    K = qd.shape[1]
    n_chunks = starts.size - 1
    # per chunk and rank: (trials, successes) of t0, cont0 and cont1, rows ROW_T0W..ROW_C1S
    by_rank = np.zeros((n_chunks, N_ROWS - ROW_T0W, K))
    for c in prange(n_chunks):
        back = np.empty(K + 1)
        for i in range(starts[c], starts[c + 1]):
            # qd entries belong to one query, hence to this chunk alone
            ll[i] = _session_stats(
                qd[i], click[i], length[i], last[i], weight[i], attraction, sigma, t0, cont0,
                cont1, by_qd, by_rank[c], back,
            )
    return by_qd, by_rank.sum(axis=0), ll


@njit(parallel=prange_only(), cache=True)
def _table(qd, click, length, last, attraction, sigma, t0, cont0, cont1):
    """Every session's posterior table and log P(c)."""
    n, K = qd.shape
    ll = np.empty(n)
    table = np.empty((n, N_ROWS, K))
    for i in prange(n):
        table[i, :, length[i]:] = 0.0
        ll[i] = _session(
            qd[i], click[i], length[i], last[i], attraction, sigma, t0, cont0, cont1, table[i],
            np.empty(K + 1),
        )
    return table, ll


@njit(parallel=prange_only(), cache=True)
def _predict(qd, click, length, attraction, sigma, t0, cont0, cont1, conditional):
    n, K = qd.shape
    out = np.zeros((n, K))
    for i in prange(n):
        e = 1.0
        for r in range(length[i]):
            a = attraction[qd[i, r]]
            s = sigma[qd[i, r]]
            t1 = s * cont1[r] + (1.0 - s) * cont0[r]
            out[i, r] = a * e
            if not conditional:
                e *= a * t1 + (1.0 - a) * t0[r]
            elif click[i, r]:
                e = t1
            else:
                e = e * (1.0 - a) * t0[r] / (1.0 - a * e)
    return out


@dataclass(frozen=True)
class Chain:
    """The chain of one model at given parameters: per qd attraction and route probability
    sigma, per rank t0, cont0, cont1 (see the module docstring)."""

    attraction: np.ndarray
    sigma: np.ndarray
    t0: np.ndarray
    cont0: np.ndarray
    cont1: np.ndarray

    def arrays(self) -> tuple[np.ndarray, ...]:
        return self.attraction, self.sigma, self.t0, self.cont0, self.cont1


def per_rank(value: np.ndarray | float, K: int) -> np.ndarray:
    """A global or per-rank chain probability as a fresh float64 [K] array (a per-rank
    parameter fitted on wider pages is cut to the first K ranks). Always a writable copy:
    Numba compiles read-only arrays, such as broadcast views, as a type of their own."""
    value = np.asarray(value, np.float64)
    return np.array(np.broadcast_to(value[:K] if value.ndim else value, (K,)))


def _check_width(K: int) -> None:
    if K > MAX_K:
        raise ValueError(f"the cascade E-step handles pages of up to {MAX_K} results, not {K}")


def estep(lay: Layout, chain: Chain) -> tuple[Stats, float]:
    """Weighted (S1, T) of every family of draws, and the weighted log-likelihood.

    Keys: "attraction" (the A_r draws, per qd), "route" (S_r, per qd), and "t0", "cont0",
    "cont1" (transitions, per rank); each model module maps them onto its parameters.
    """
    _check_width(lay.K)
    # chunks handed out one at a time, so that a thread the machine delays does not hold
    # back the others (Numba's default: one equal share of the chunks per thread)
    with parallel_chunksize(1):
        by_qd, by_rank, ll = _estep(
            lay.starts, lay.qd, lay.click, lay.length, lay.last, lay.weight, *chain.arrays(),
            lay.scratch.zeros((chain.attraction.size, 4)), lay.scratch.zeros(lay.n),
        )
    stats = {"attraction": (by_qd[:, 0], by_qd[:, 1]), "route": (by_qd[:, 2], by_qd[:, 3])}
    for k, name in enumerate(RANK_DRAWS):
        stats[name] = (by_rank[2 * k + 1], by_rank[2 * k])
    return stats, lay.weighted_sum(ll)


def total(*pairs: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(S1, T) of a global parameter that several families of per-rank draws share."""
    return (
        np.asarray(sum(np.sum(s1) for s1, _ in pairs)),
        np.asarray(sum(np.sum(t) for _, t in pairs)),
    )


def posteriors(
    sessions: Sessions, chain: Chain, names: dict[str, tuple[str, ...]]
) -> tuple[Hidden, np.ndarray]:
    """Hidden E and A, and each name in `names` as the sum of the listed families of draws."""
    lay = layout(sessions)
    _check_width(lay.K)
    table, ll = _table(lay.qd, lay.click, lay.length, lay.last, *chain.arrays())
    out, ll = lay.unsort(table), lay.unsort(ll)
    drawn = sessions.mask.astype(np.float64)
    hidden = {"E": (drawn, out[:, ROW_E]), "A": (drawn, out[:, ROW_A])}
    for name, draws in names.items():
        rows = [DRAWS[d] for d in draws]
        hidden[name] = (
            sum(out[:, row] for row in rows),
            sum(out[:, row + 1] for row in rows),
        )
    return hidden, ll


def predict(sessions: Sessions, chain: Chain, conditional: bool) -> np.ndarray:
    """P(C_r = 1 | c_<r) if `conditional`, else P(C_r = 1); 0 at padded ranks."""
    return _predict(*session_arrays(sessions), *chain.arrays(), conditional)


def cascade_model(
    parameters: str,
    chain: Callable[[Params, int], Chain],
    collect: Callable[[Stats], Stats],
    names: dict[str, tuple[str, ...]],
    relevance: Callable[[Params, Sessions], np.ndarray],
) -> Model:
    """A cascade-family Model from its chain, its mapping of draws onto parameters and the
    reference names of its hidden draws."""

    def model_estep(lay: Layout, params: Params) -> tuple[Stats, float]:
        stats, ll = estep(lay, chain(params, lay.K))
        return collect(stats), ll

    def predictor(conditional: bool):
        return lambda params, sessions: predict(sessions, chain(params, sessions.K), conditional)

    return Model(
        parameters=parameters,
        estep=model_estep,
        conditional=predictor(True),
        unconditional=predictor(False),
        relevance=relevance,
        posteriors=lambda params, sessions: posteriors(
            sessions, chain(params, sessions.K), names
        ),
    )
