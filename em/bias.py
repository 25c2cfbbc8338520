"""Examination as a function of per-impression bias features, for PBM, UBM and the vision
family (regression-based EM; DESIGN.md section 9, Wang et al., "Position Bias Estimation for
Unbiased Learning to Rank in Personal Search", WSDM 2018).

The model is PBM's or UBM's (em/pbm.py, em/ubm.py), or a vision model's (em/vision.py, gamma
being the position part of its examination), with the examination table replaced by

    P(E_r = 1) = f(x),  x = [one-hot r, one-hot j (UBM, vUBM), bias features of the impression],

f a linear or MLP source (clicklog.network). Impressions are keyed by their cell, the
distinct (r, j, bias row) combination (clicklog/cells.py): the model's kernels (`Kernels`:
this module's for PBM and UBM, em/vision.cell_kernels for the vision family) read the
examination probability of each impression's cell from a flat vector, exactly as the table
kernels read examination[r, j], with the same exact posteriors. The E-step returns (S1, T) per
cell; the M-step fits f to them (em.sources.Regression: soft-target cross-entropy, warm start,
kept only if it does not lower the objective). Sessions other than the training ones
(predictions, held-out objectives) get their own cells, whose probabilities come from f.

Table examination never comes here: em/position.py's and em/vision.py's table models stay as
they are.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from functools import partial

import numpy as np
from numba import njit, prange

from clicklog import catalogue, cells, model_file, network
from clicklog.sessions import Sessions
from em import vision
from em.layout import Layout, layout, prange_only, session_arrays
from em.model import Hidden, Model, Params, Stats, by_qd
from em.sources import Regression

ROW_E, ROW_A = 0, 1
NAME = cells.NAME


@njit(cache=True)
def _session(qd, click, length, attraction, examination, cell, out):
    """P(E_r = 1 | c), P(A_r = 1 | c) into out; return log P(c) (em/position.py's formulas)."""
    ll = 0.0
    for r in range(length):
        a = attraction[qd[r]]
        e = examination[cell[r]]
        if click[r]:
            ll += np.log(a * e)
            out[ROW_E, r] = 1.0
            out[ROW_A, r] = 1.0
        else:
            p0 = 1.0 - a * e
            ll += np.log(p0)
            out[ROW_E, r] = e * (1.0 - a) / p0
            out[ROW_A, r] = a * (1.0 - e) / p0
    return ll


@njit(parallel=prange_only(), cache=True)
def _estep(starts, qd, click, length, weight, attraction, examination, cell, attr, table, ll):
    """Attraction statistics into `attr` [2, n_qd], every impression's posterior table into
    `table` [n, 2, K] and log P(c) into `ll` [n] (all zeros)."""
    for c in prange(starts.size - 1):
        for i in range(starts[c], starts[c + 1]):
            ll[i] = _session(qd[i], click[i], length[i], attraction, examination, cell[i],
                             table[i])
            w = weight[i]
            for r in range(length[i]):
                # qd entries belong to one query, hence to this chunk alone
                attr[0, qd[i, r]] += w * table[i, ROW_A, r]
                attr[1, qd[i, r]] += w
    return attr, table, ll


@njit(parallel=prange_only(), cache=True)
def _unconditional(qd, length, attraction, examination, cell):
    """UBM's P(C_r = 1), marginalising the column by the forward pass of em/position.py;
    cell[i, r, j]: the cell of rank r under column j."""
    n, K = qd.shape
    out = np.zeros((n, K))
    for i in prange(n):
        p_last = np.zeros(K + 1)
        p_last[0] = 1.0
        for r in range(length[i]):
            a = attraction[qd[i, r]]
            p = 0.0
            for k in range(r + 1):
                ae = a * examination[cell[i, r, k]]
                p += p_last[k] * ae
                p_last[k] *= 1.0 - ae
            p_last[r + 1] = p
            out[i, r] = p
    return out


@dataclass(frozen=True)
class Kernels:
    """A model's exact E-step and predictors with its examination read per cell: gamma is the
    probability of every cell [n_cells], index / cell a cell index (clicklog.cells.Cells.index).

    estep(layout, params, gamma, cell in the layout's order [n, K]) -> (the other parameters'
    (S1, T), every impression's P(examined | c) [n, K] (its examination's success), log P(c)
    per session [n]), all in the layout's order; posteriors(params, sessions, gamma, index
    [n, K]) -> (hidden, log P(c) [n]) as em.model.Model's; conditional(params, sessions,
    gamma of every impression [n, K], 0 at padding) -> P(C_r = 1 | c_<r); unconditional(params,
    sessions, gamma, index of rank r under every column j [n, K, K]) -> P(C_r = 1) (models
    with a column j only)."""

    estep: Callable
    posteriors: Callable
    conditional: Callable
    unconditional: Callable


def _run(lay: Layout, params: Params, gamma: np.ndarray, cell: np.ndarray):
    zeros = lay.scratch.zeros
    return _estep(lay.starts, lay.qd, lay.click, lay.length, lay.weight, params["attraction"],
                  gamma, cell, zeros((2, np.size(params["attraction"]))),
                  zeros((lay.n, 2, lay.K)), zeros(lay.n))


def _pbm_estep(lay: Layout, params: Params, gamma: np.ndarray, cell: np.ndarray):
    attr, table, ll = _run(lay, params, gamma, cell)
    return {"attraction": (attr[0], attr[1])}, table[:, ROW_E], ll


def _pbm_posteriors(params: Params, sessions: Sessions, gamma: np.ndarray,
                    index: np.ndarray) -> tuple[Hidden, np.ndarray]:
    lay = layout(sessions)
    cell = np.ascontiguousarray(np.maximum(index[lay.order], 0))
    _, table, ll = _run(lay, params, gamma, cell)
    table, ll = lay.unsort(table), lay.unsort(ll)
    drawn = sessions.mask.astype(np.float64)
    return {"E": (drawn, table[:, ROW_E]), "A": (drawn, table[:, ROW_A])}, ll


def _pbm_unconditional(params: Params, sessions: Sessions, gamma: np.ndarray,
                       index: np.ndarray) -> np.ndarray:
    qd, _, length = session_arrays(sessions)
    return _unconditional(qd, length, params["attraction"], gamma,
                          np.ascontiguousarray(np.maximum(index, 0)))


# PBM's and UBM's kernels are one (UBM's column only changes the cells), then the vision
# family's: every model of clicklog.cells.MODELS.
_PBM_UBM = Kernels(
    estep=_pbm_estep,
    posteriors=_pbm_posteriors,
    conditional=lambda params, sessions, gamma: by_qd(params["attraction"], sessions) * gamma,
    unconditional=_pbm_unconditional,
)
KERNELS: dict[str, Kernels] = {
    "pbm": _PBM_UBM,
    "ubm": _PBM_UBM,
    **{name: Kernels(**vision.cell_kernels(name)) for name in catalogue.VISION_MODELS},
}


@dataclass(eq=False)
class Examination:
    """The examination function of one fit: its training sessions' cells and its M-step."""

    model: str
    sessions: Sessions
    regression: Regression
    by_last: bool
    cells: cells.Cells
    _sorted: tuple = field(default=(None, None, None), repr=False)

    @classmethod
    def of(cls, model: str, spec: network.Spec, sessions: Sessions, seed: int) -> Examination:
        found = cells.of(sessions, model, cells.by_last(model))
        return cls(model, sessions, Regression(spec, found.features, seed),
                   cells.by_last(model), found)

    def _training_cells(self, lay: Layout) -> tuple[np.ndarray, np.ndarray]:
        """Cells in the layout's order and the trials of every cell, for a layout of the
        training sessions (or of their first rows: compile_kernels' one session); cached for
        the layout the EM loop reuses."""
        if self._sorted[0] is not lay:
            cell = np.ascontiguousarray(self.cells.index[lay.order])
            trials = np.bincount(cell[lay.mask], np.broadcast_to(lay.weight[:, None],
                                 cell.shape)[lay.mask], minlength=self.cells.n_cells)
            self._sorted = (lay, cell, trials)
        return self._sorted[1], self._sorted[2]

    def lookup(self, params: Params, sessions: Sessions,
               every_column: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(cell index, examination of every cell) of `sessions`: the fitted cells for the
        training sessions, else their own cells with the function's probabilities."""
        if sessions is self.sessions and not every_column:
            return self.cells.index, params[NAME]
        found = cells.of(sessions, self.model, self.by_last, self.sessions.K, every_column)
        return found.index, self.regression.table(found.features)

    @property
    def kernels(self) -> Kernels:
        return KERNELS[catalogue.base_model(self.model)]

    def estep(self, lay: Layout, params: Params) -> tuple[Stats, float]:
        cell, trials = self._training_cells(lay)
        stats, examined, ll = self.kernels.estep(lay, params, params[NAME], cell)
        mask = lay.mask
        s1 = np.bincount(cell[mask], (lay.weight[:, None] * examined)[mask],
                         minlength=trials.size)
        return {**stats, NAME: (s1, trials)}, lay.weighted_sum(ll)

    def posteriors(self, params: Params, sessions: Sessions) -> tuple[Hidden, np.ndarray]:
        index, examination = self.lookup(params, sessions)
        return self.kernels.posteriors(params, sessions, examination, index)

    def conditional(self, params: Params, sessions: Sessions) -> np.ndarray:
        index, examination = self.lookup(params, sessions)
        e = np.where(sessions.mask, examination[np.maximum(index, 0)], 0.0)
        return self.kernels.conditional(params, sessions, e)

    def unconditional(self, params: Params, sessions: Sessions) -> np.ndarray:
        if not self.by_last:
            return self.conditional(params, sessions)
        index, examination = self.lookup(params, sessions, every_column=True)
        return self.kernels.unconditional(params, sessions, examination, index)

    def spec(self) -> Model:
        return Model(
            parameters=self.model,
            estep=self.estep,
            conditional=self.conditional,
            unconditional=self.unconditional,
            relevance=lambda params, sessions: by_qd(params["attraction"], sessions),
            posteriors=self.posteriors,
        )

    def objective(self, params: Params, prior, free: Collection[str],
                  sessions: Sessions) -> float:
        """The shared objective per impression of the fit on any sessions (no Beta prior on
        the function sources `free`; the examination weights' own prior, 0 without l2)."""
        _, ll = self.posteriors(params, sessions)
        rest = {k: v for k, v in params.items() if k not in free}
        total = (float(np.sum(sessions.weight * ll)) + catalogue.log_prior(rest, prior)
                 + self.regression.log_prior())
        return total / sessions.n_impressions

    def state(self) -> dict:
        """The model file's fields of the function (clicklog.model_file.function_state)."""
        r = self.regression
        return {model_file.FUNCTION: model_file.function_state(
            r.spec.describe(), r.weights, self.sessions.K, self.by_last, r.scaling.mean,
            r.scaling.scale)}


@dataclass
class Attached:
    """What em.fit runs with: the model, its starting parameters, the sources left for
    em.sources.regressions, the examination's M-step (if any) and the fit's objective."""

    spec: Model
    params: Params
    sources: dict
    regressions: dict = field(default_factory=dict)
    examination: Examination | None = None

    def objective(self, params: Params, prior, free: Collection[str]):
        """sessions -> objective, for the Fit, carrying the function for its model file
        (clicklog.model_file.Objective); None for em.engine's own."""
        if self.examination is None:
            return None
        return model_file.Objective(
            partial(self.examination.objective, params, prior, tuple(free)),
            self.examination.state())


def attach(spec: Model, params: Params, sessions: Sessions, sources: Mapping | None,
           seed: int, init: Mapping | None = None) -> Attached:
    """em.fit's model and parameters, with examination a function of the bias features when
    `sources` asks for it (the model unchanged otherwise)."""
    source, rest = cells.split(spec.parameters, sources)
    if source is None:
        return Attached(spec, params, rest)
    if init and NAME in init:
        raise ValueError("init cannot set 'examination' when it has a function source; its "
                         "starting value is the seeded network's 1/2")
    examination = Examination.of(spec.parameters, source, sessions, seed)
    params = {**params, NAME: examination.regression.table()}
    return Attached(examination.spec(), params, rest, {NAME: examination.regression},
                    examination)
