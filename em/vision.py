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

Examination from bias features: with sources={"examination": "linear" | "mlp"} gamma is, as
PBM's and UBM's, a function of the impression's rank (vUBM: and column j) and bias features,
one probability per cell, the distinct (r, j, bias row) of the log (clicklog/cells.py). The same
kernels then read gamma[cell] in place of gamma[r, j] and hand back every impression's
P(P = 1 | c), which em/bias.py sums per cell and fits the function to (cell_kernels).

With sigma_d = 0 the "-2" models are exactly PBM and UBM (V never fires); with sigma_d = 1 the
"-1" models are. Relevance is attraction.
"""

from __future__ import annotations

from collections.abc import Callable

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
def _estep(starts, qd, click, length, weight, attraction, gamma, width, cell, vision, by_last,
           variant, pair, position, ll, table):
    """Per-qd attraction and vision statistics, log P(c) per session, with `keep` every
    session's posterior table (else an empty one), and the position examination's statistics.
    gamma is read as a table, gamma[r * width + j] (`cell` empty), then its (S1, T) per entry
    come back [2, gamma.size]; or per cell, gamma[cell[i, r]], then every impression's
    P(P = 1 | c) comes back [n, K] instead (em/bias.py sums them per cell: cells are shared by
    queries, so no chunk owns one). `vision` is per qd. Zeros the caller passes: `pair`
    [4, n_qd], per qd the attraction's S1 and T, then the vision's; `position` [n, K] (per
    cell, else [0, K]); `ll` [n]; `table` [n, ROWS, K] (with `keep`, else [0, ROWS, K])."""
    K = qd.shape[1]
    n_chunks = starts.size - 1
    per_cell = cell.shape[0] > 0
    keep = table.shape[0] > 0
    exam = np.zeros((0 if per_cell else n_chunks, 2, gamma.size))
    for c in prange(n_chunks):
        scratch = np.zeros((ROWS, K))
        for i in range(starts[c], starts[c + 1]):
            out = table[i] if keep else scratch
            w = weight[i]
            j = 0
            for r in range(length[i]):
                k = qd[i, r]
                at = cell[i, r] if per_cell else r * width + j
                ll[i] += _rank(attraction[k], gamma[at], vision[k], click[i, r], variant, out, r)
                # a qd pair belongs to one query, hence to this chunk alone
                pair[0, k] += w * out[ROW_A, r]
                pair[1, k] += w
                pair[2, k] += w * out[ROW_V, r]
                pair[3, k] += w * out[ROW_V_DRAWN, r]
                if per_cell:
                    position[i, r] = out[ROW_P, r]
                else:
                    exam[c, 0, at] += w * out[ROW_P, r]
                    exam[c, 1, at] += w
                if by_last and click[i, r]:
                    j = r + 1
    return pair, exam.sum(axis=0), position, ll, table


@njit(parallel=prange_only(), cache=True)
def _marginal(qd, length, attraction, gamma, width, cell, vision, variant):
    """vUBM's P(C_r = 1) [n, K], the last click above r marginalised by a forward pass over
    its distribution; gamma of rank r under column k is gamma[r * width + k] (a table, `cell`
    empty) or gamma[cell[i, r, k]]; `vision` is per qd."""
    n, K = qd.shape
    per_cell = cell.shape[0] > 0
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
                g = gamma[cell[i, r, k]] if per_cell else gamma[r * width + k]
                p = last[k] * a * _examined(g, s, variant)
                last[k] -= p
                out[i, r] += p
            last[r + 1] = out[i, r]
    return out


# The `cell` argument of a table examination (the kernels then index gamma by rank and column).
_NO_CELLS = np.zeros((0, 0), np.int32)
_NO_COLUMNS = np.zeros((0, 0, 0), np.int32)


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


def _cells(index: np.ndarray, order: np.ndarray | None = None) -> np.ndarray:
    """A cell index for the kernels: in the layout's `order`, padding (-1) read as cell 0."""
    index = index if order is None else index[order]
    return np.ascontiguousarray(np.maximum(index, 0), np.int32)


def _run(lay: Layout, params: Params, gamma: np.ndarray, width: int, cell: np.ndarray,
         by_last: bool, variant: int, keep: bool):
    n, K, zeros = lay.n, lay.K, lay.scratch.zeros
    return _estep(lay.starts, lay.qd, lay.click, lay.length, lay.weight, params["attraction"],
                  gamma, width, cell, _vision_by_qd(params, lay.qd_doc), by_last, variant,
                  zeros((4, np.size(params["attraction"]))),
                  zeros((n if cell.shape[0] > 0 else 0, K)), zeros(n),
                  zeros((n if keep else 0, ROWS, K)))


def _pair_stats(lay: Layout, params: Params, pair: np.ndarray) -> Stats:
    """Attraction's (S1, T) per qd and vision's per document, from the kernel's per-qd sums."""
    n_docs = np.size(params["vision"])
    vision = tuple(
        np.bincount(lay.qd_doc, weights=pair[row], minlength=n_docs) for row in (2, 3)
    )
    return {"attraction": (pair[0], pair[1]), "vision": vision}


def _posteriors(params: Params, sessions: Sessions, gamma: np.ndarray, width: int,
                index: np.ndarray | None, by_last: bool, variant: int) -> tuple[Hidden, np.ndarray]:
    """Every hidden draw's posteriors and log P(c) per session; gamma a table (index None) or
    per cell of `index` (clicklog.cells, in the sessions' order)."""
    lay = layout(sessions)
    cell = _NO_CELLS if index is None else _cells(index, lay.order)
    _, _, _, ll, table = _run(lay, params, gamma, width, cell, by_last, variant, True)
    table, ll = lay.unsort(table), lay.unsort(ll)
    drawn = sessions.mask.astype(np.float64)
    hidden = {
        "P": (drawn, table[:, ROW_P]),
        "V": (table[:, ROW_V_DRAWN], table[:, ROW_V]),
        "E": (drawn, table[:, ROW_E]),
        "A": (drawn, table[:, ROW_A]),
    }
    return hidden, ll


def _conditional(params: Params, sessions: Sessions, gamma: np.ndarray,
                 variant: int) -> np.ndarray:
    """attraction * e(gamma, sigma_d) at every real rank, gamma given per impression [n, K]."""
    qd = np.maximum(sessions.qd, 0)
    sigma = _vision_by_qd(params, sessions.qd_doc)[qd]
    p = params["attraction"][qd] * _examined(gamma, sigma, variant)
    return np.where(sessions.mask, p, 0.0)


def _model(name: str) -> Model:
    """The model with its examination a table [K] or [K, K]."""
    by_last = name.startswith("vubm")
    variant = int(name[-1])

    def gamma(params: Params) -> tuple[np.ndarray, int]:
        table = _table(params, by_last)
        return table.ravel(), table.shape[1]

    def estep(lay: Layout, params: Params) -> tuple[Stats, float]:
        pair, exam, _, ll, _ = _run(lay, params, *gamma(params), _NO_CELLS, by_last, variant,
                                    False)
        exam = exam.reshape(2, lay.K, -1)
        examination = (exam[0], exam[1]) if by_last else (exam[0][:, 0], exam[1][:, 0])
        return ({**_pair_stats(lay, params, pair), "examination": examination},
                lay.weighted_sum(ll))

    def posteriors(params: Params, sessions: Sessions) -> tuple[Hidden, np.ndarray]:
        return _posteriors(params, sessions, *gamma(params), None, by_last, variant)

    def conditional(params: Params, sessions: Sessions) -> np.ndarray:
        """With the clicks' column j."""
        column = _column(sessions.click, by_last)
        per_impression = _table(params, by_last)[np.arange(sessions.K), column]
        return _conditional(params, sessions, per_impression, variant)

    def unconditional(params: Params, sessions: Sessions) -> np.ndarray:
        if not by_last:
            return conditional(params, sessions)
        qd, _, length = session_arrays(sessions)
        return _marginal(qd, length, params["attraction"], *gamma(params), _NO_COLUMNS,
                         _vision_by_qd(params, sessions.qd_doc), variant)

    return Model(
        parameters=name,
        estep=estep,
        conditional=conditional,
        unconditional=unconditional,
        relevance=lambda params, sessions: by_qd(params["attraction"], sessions),
        posteriors=posteriors,
    )


def cell_kernels(name: str) -> dict[str, Callable]:
    """The model's E-step and predictors with gamma a function's probability per cell, the
    fields of em/bias.Kernels (whose docstring gives their arguments): the same kernels as the
    table's, reading gamma[cell] in place of gamma[r, j]."""
    by_last = name.startswith("vubm")
    variant = int(name[-1])

    def estep(lay: Layout, params: Params, gamma: np.ndarray, cell: np.ndarray):
        pair, _, position, ll, _ = _run(lay, params, gamma, 1, cell, by_last, variant, False)
        return _pair_stats(lay, params, pair), position, ll

    def posteriors(params: Params, sessions: Sessions, gamma: np.ndarray, index: np.ndarray):
        return _posteriors(params, sessions, gamma, 1, index, by_last, variant)

    def conditional(params: Params, sessions: Sessions, gamma: np.ndarray) -> np.ndarray:
        return _conditional(params, sessions, gamma, variant)

    def unconditional(params: Params, sessions: Sessions, gamma: np.ndarray,
                      index: np.ndarray) -> np.ndarray:
        qd, _, length = session_arrays(sessions)
        return _marginal(qd, length, params["attraction"], gamma, 1, _cells(index),
                         _vision_by_qd(params, sessions.qd_doc), variant)

    return {"estep": estep, "posteriors": posteriors, "conditional": conditional,
            "unconditional": unconditional}


VISION_MODELS: dict[str, Model] = {name: _model(name) for name in catalogue.VISION_MODELS}

