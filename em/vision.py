"""vPBM-1, vPBM-2, vUBM-1, vUBM-2: PBM and UBM with vision bias, by exact EM (Xu et al.,
"Incorporating Vision Bias into Click Models for Image-oriented Search Engine", 2021).

Assumptions: a result is clicked iff it is examined and attractive, C_r = E~_r * A_r, but
examination E~_r combines a position examination P_r ~ Bern(gamma) with a vision draw
V_r ~ Bern(sigma_d) of the shown document d (its appearance catches the eye wherever it is):

    "-2" (eq. 4):   E~ = P or V,   P(E~ = 1) = gamma + (1 - gamma) sigma_d  (V drawn only if P = 0)
    "-1" (eq. 15):  E~ = P and V,  P(E~ = 1) = gamma * sigma_d

gamma = examination[r] for vPBM (PBM's), examination[r, j] for vUBM (UBM's, j = rank of the last
click above r plus 1, 0 without one). A_r ~ Bern(attraction[qd_r]); all draws independent.

Parameters: attraction [n_qd], examination [K] or [K, K], vision [n_docs] (sigma_d).

Click probabilities, with e_r = P(E~_r = 1) as above:

    P(C_r = 1 | c_<r) = attraction[qd_r] * e_r(gamma[r, j(c_<r)], sigma_d)
    P(C_r = 1)        = vPBM: the same;  vUBM: sum_j P(j at r) attraction[qd_r] e_r(gamma[r, j]),
                        marginalising the last click above r by a forward pass (as UBM).

E-step (exact, per rank; the paper's eqs. 9-14), with a, g, s the rank's attraction, gamma and
sigma, e = e_r and q = 1 - a e. After a click E~ = A = 1, and

    "-2":  P(P = 1 | c) = g / e,   P(V drawn | c) = P(V drawn, V = 1 | c) = (1 - g) s / e
    "-1":  P = V = 1;

after a skip

    "-2":  P(P = 1 | c) = g (1 - a) / q,   P(V drawn | c) = (1 - g)(1 - a s) / q,
           P(V drawn, V = 1 | c) = (1 - g) s (1 - a) / q
    "-1":  P(P = 1 | c) = g (1 - a s) / q,  P(V = 1 | c) = s (1 - a g) / q  (V always drawn)
    both:  P(A = 1 | c) = a (1 - e) / q,    P(E~ = 1 | c) = e (1 - a) / q.

Every rank is one trial of attraction and of examination; vision has P(V drawn | c) trials.
sigma_d is a document's: its statistics are gathered per qd pair (query-ordered chunks keep
those collision-free) and summed into the pair's document. M-step: the Beta MAP update of
em/engine.py (standard EM, per document), or with sources={"vision": "mlp"} (alias
vision="mlp") a function of the document features fitted to the same statistics
(regression-based EM, em/sources.py), as any parameter with a function source.

With sigma_d = 0 the "-2" models are exactly PBM and UBM (V never fires); with sigma_d = 1 the
"-1" models are. Relevance is attraction.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from clicklog import catalogue
from clicklog.sessions import Sessions
from em.layout import Layout, layout, prange_only, session_arrays
from em.model import Hidden, Model, Params, Stats, by_qd

ROWS = 5
ROW_P, ROW_V_DRAWN, ROW_V, ROW_E, ROW_A = range(ROWS)


@njit(cache=True)
def _examined(g, s, variant):
    """P(E~ = 1): eq. 4 for variant 2, eq. 15 for variant 1."""
    return g + (1.0 - g) * s if variant == 2 else g * s


@njit(cache=True)
def _rank(a, g, s, clicked, variant, out, r):
    """Posteriors of rank r into out[:, r] (module docstring); return log P(c_r | c_<r)."""
    e = _examined(g, s, variant)
    if clicked:
        out[ROW_E, r] = 1.0
        out[ROW_A, r] = 1.0
        if variant == 2:
            out[ROW_P, r] = g / e
            out[ROW_V_DRAWN, r] = (1.0 - g) * s / e
            out[ROW_V, r] = out[ROW_V_DRAWN, r]
        else:
            out[ROW_P, r] = 1.0
            out[ROW_V_DRAWN, r] = 1.0
            out[ROW_V, r] = 1.0
        return np.log(a * e)
    q = 1.0 - a * e
    out[ROW_E, r] = e * (1.0 - a) / q
    out[ROW_A, r] = a * (1.0 - e) / q
    if variant == 2:
        out[ROW_P, r] = g * (1.0 - a) / q
        out[ROW_V_DRAWN, r] = (1.0 - g) * (1.0 - a * s) / q
        out[ROW_V, r] = (1.0 - g) * s * (1.0 - a) / q
    else:
        out[ROW_P, r] = g * (1.0 - a * s) / q
        out[ROW_V_DRAWN, r] = 1.0
        out[ROW_V, r] = s * (1.0 - a * g) / q
    return np.log(q)


@njit(parallel=prange_only(), cache=True)
def _estep(starts, qd, click, length, weight, attraction, examination, vision, by_last, variant,
           keep):
    """Per-qd attraction and vision statistics, the examination table's, log P(c) per session
    and, with `keep`, every session's posterior table (else an empty one). `vision` is per qd."""
    n, K = qd.shape
    n_chunks = starts.size - 1
    pair = np.zeros((4, attraction.size))  # attraction S1, T; vision S1, T
    exam = np.zeros((n_chunks, 2) + examination.shape)
    ll = np.zeros(n)
    table = np.zeros((n if keep else 0, ROWS, K))
    for c in prange(n_chunks):
        scratch = np.zeros((ROWS, K))
        for i in range(starts[c], starts[c + 1]):
            out = table[i] if keep else scratch
            w = weight[i]
            j = 0
            for r in range(length[i]):
                k = qd[i, r]
                ll[i] += _rank(attraction[k], examination[r, j], vision[k], click[i, r], variant,
                               out, r)
                # a qd pair belongs to one query, hence to this chunk alone
                pair[0, k] += w * out[ROW_A, r]
                pair[1, k] += w
                pair[2, k] += w * out[ROW_V, r]
                pair[3, k] += w * out[ROW_V_DRAWN, r]
                exam[c, 0, r, j] += w * out[ROW_P, r]
                exam[c, 1, r, j] += w
                if by_last and click[i, r]:
                    j = r + 1
    return pair, exam.sum(axis=0), ll, table


@njit(parallel=prange_only(), cache=True)
def _marginal(qd, length, attraction, examination, vision, variant):
    """vUBM's P(C_r = 1) [n, K], the last click above r marginalised by a forward pass over
    its distribution; `vision` is per qd."""
    n, K = qd.shape
    out = np.zeros((n, K))
    for i in prange(n):
        # last[k]: probability that the last click above the current rank is at rank k - 1
        # (k = 0: no click above it)
        last = np.zeros(K + 1)
        last[0] = 1.0
        for r in range(length[i]):
            a = attraction[qd[i, r]]
            s = vision[qd[i, r]]
            for k in range(r + 1):
                p = last[k] * a * _examined(examination[r, k], s, variant)
                last[k] -= p
                out[i, r] += p
            last[r + 1] = out[i, r]
    return out


def _column(click: np.ndarray, by_last: bool) -> np.ndarray:
    """The examination column j of every rank [n, K]: 1 + the rank of the last click above it
    (0 without one) for vUBM, always 0 for vPBM."""
    n, K = click.shape
    if not by_last:
        return np.zeros((n, K), np.intp)
    after = np.maximum.accumulate(np.where(click, np.arange(1, K + 1), 0), axis=1)
    return np.concatenate([np.zeros((n, 1), np.intp), after[:, :-1]], axis=1)


def _table(params: Params, by_last: bool) -> np.ndarray:
    """The examination table the kernels index [r, j]: vPBM's one column, vUBM's K."""
    examination = np.asarray(params["examination"], np.float64)
    return np.ascontiguousarray(examination if by_last else examination[:, None])


def _vision_by_qd(params: Params, qd_doc: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(params["vision"], np.float64)[qd_doc])


def _model(name: str) -> Model:
    by_last = name.startswith("vubm")
    variant = int(name[-1])

    def run(lay: Layout, params: Params, keep: bool):
        return _estep(
            lay.starts, lay.qd, lay.click, lay.length, lay.weight, params["attraction"],
            _table(params, by_last), _vision_by_qd(params, lay.qd_doc), by_last, variant, keep,
        )

    def estep(lay: Layout, params: Params) -> tuple[Stats, float]:
        pair, exam, ll, _ = run(lay, params, False)
        n_docs = np.size(params["vision"])
        vision = tuple(
            np.bincount(lay.qd_doc, weights=pair[row], minlength=n_docs) for row in (2, 3)
        )
        examination = (exam[0], exam[1]) if by_last else (exam[0][:, 0], exam[1][:, 0])
        stats = {"attraction": (pair[0], pair[1]), "examination": examination, "vision": vision}
        return stats, lay.weighted_sum(ll)

    def posteriors(params: Params, sessions: Sessions) -> tuple[Hidden, np.ndarray]:
        lay = layout(sessions)
        _, _, ll, table = run(lay, params, True)
        table, ll = lay.unsort(table), lay.unsort(ll)
        drawn = sessions.mask.astype(np.float64)
        hidden = {
            "P": (drawn, table[:, ROW_P]),
            "V": (table[:, ROW_V_DRAWN], table[:, ROW_V]),
            "E": (drawn, table[:, ROW_E]),
            "A": (drawn, table[:, ROW_A]),
        }
        return hidden, ll

    def conditional(params: Params, sessions: Sessions) -> np.ndarray:
        """attraction * e(gamma[r, j], sigma_d) at every real rank, with the clicks' j."""
        qd = np.maximum(sessions.qd, 0)
        gamma = _table(params, by_last)[np.arange(sessions.K), _column(sessions.click, by_last)]
        sigma = _vision_by_qd(params, sessions.qd_doc)[qd]
        p = params["attraction"][qd] * _examined(gamma, sigma, variant)
        return np.where(sessions.mask, p, 0.0)

    def unconditional(params: Params, sessions: Sessions) -> np.ndarray:
        if not by_last:
            return conditional(params, sessions)
        qd, _, length = session_arrays(sessions)
        return _marginal(qd, length, params["attraction"], _table(params, True),
                         _vision_by_qd(params, sessions.qd_doc), variant)

    return Model(
        parameters=name,
        estep=estep,
        conditional=conditional,
        unconditional=unconditional,
        relevance=lambda params, sessions: by_qd(params["attraction"], sessions),
        posteriors=posteriors,
    )


VISION_MODELS: dict[str, Model] = {name: _model(name) for name in catalogue.VISION_MODELS}

