"""Examination cells: the keys of an examination parameter whose source is a function of
per-impression bias features (DESIGN.md section 9), shared by both engines.

A table examination is keyed by rank r (PBM, vPBM) or by (r, j) (UBM, vUBM, j = rank of the
last click above r + 1, 0 without one). With bias features (Sessions.bias_features, e.g.
device, result type) every impression has its own examination probability f(x), the
function's input being

    x = [one-hot r (K columns), one-hot j (K columns, UBM and vUBM only), bias features (B)],

so the function can still learn any per-rank (per-cell) table and, on top, how the bias
features move it. The distinct (r, j, bias row) combinations of a log are its cells: EM
gathers the E-step's statistics per cell and fits the function to them (regression-based EM),
and the gradient engine standardises its inputs with the same per-column mean and scale over
the cells (clicklog.network.Scaling), so both engines evaluate one function.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from clicklog import catalogue, network
from clicklog.sessions import Sessions

NAME = "examination"
# The models whose examination can be a function of bias features: PBM's and UBM's, and the
# position part gamma of the vision family's (em/bias.py runs each through its own kernels).
MODELS = ("pbm", "ubm", *catalogue.VISION_MODELS)


@dataclass(frozen=True)
class Cells:
    """index: the cell of every impression, int32 [n, K] (with `every_column`, [n, K, K]: the
    cell of rank r under every column j <= r), -1 at padded ranks (and at j > r);
    features: the raw network input of every cell, float64 [n_cells, F]."""

    index: np.ndarray
    features: np.ndarray

    @property
    def n_cells(self) -> int:
        return int(self.features.shape[0])


def n_inputs(K: int, n_bias: int, by_last: bool) -> int:
    """F, the width of a cell's input row."""
    return K * (2 if by_last else 1) + n_bias


def bias_of(sessions: Sessions, model: str) -> np.ndarray:
    """Sessions.bias_features, or a ValueError naming what is missing."""
    if sessions.bias_features is None:
        raise ValueError(
            f"a function source for {model}'s 'examination' needs per-impression bias features, "
            "but these sessions have none (Sessions.bias_features is None; long logs: columns "
            "bias_feature_<j> or the reader's bias_features=...)"
        )
    return sessions.bias_features


def last_click_column(click: np.ndarray) -> np.ndarray:
    """j per rank, int64 [n, K]: 1 + the rank of the last click strictly above r, 0 if none."""
    n, K = click.shape
    clicked = np.where(click, np.arange(1, K + 1), 0)
    after = np.maximum.accumulate(clicked, axis=1)
    return np.concatenate([np.zeros((n, 1), np.int64), after[:, :-1]], axis=1)


def inputs(rank: np.ndarray, column: np.ndarray, bias: np.ndarray, K: int,
           by_last: bool) -> np.ndarray:
    """The raw network input rows [m, F] of m impressions (rank, column, bias row [m, B])."""
    m = rank.shape[0]
    parts = [np.zeros((m, K)), *([np.zeros((m, K))] if by_last else []),
             np.asarray(bias, np.float64)]
    parts[0][np.arange(m), rank] = 1.0
    if by_last:
        parts[1][np.arange(m), column] = 1.0
    return np.concatenate(parts, axis=1)


def of(sessions: Sessions, model: str, by_last: bool, K: int | None = None,
       every_column: bool = False) -> Cells:
    """The cells of `sessions` for a model with (UBM: by_last) or without a column j, whose
    one-hot rank width is K (the training sessions' K; default these sessions' own);
    every_column (UBM, vUBM only) keys rank r under every column j <= r."""
    if every_column and not by_last:
        raise ValueError("every_column applies to a model with a column j (UBM)")
    bias = bias_of(sessions, model)
    n, k_here = sessions.qd.shape
    K = k_here if K is None else K
    if k_here > K:
        raise ValueError(f"these sessions have {k_here} ranks, the examination function was "
                         f"fitted on {K}")
    mask = sessions.mask
    rows, ranks = np.nonzero(mask)
    if every_column:
        # rank r under every column j <= r (the forward pass of UBM's unconditional clicks)
        pick = np.arange(k_here)[None, :] <= ranks[:, None]
        which, columns = np.nonzero(pick)
        rows, ranks = rows[which], ranks[which]
    else:
        columns = last_click_column(sessions.click)[rows, ranks] if by_last else 0 * ranks
    values = bias[rows, ranks]
    first, inverse = _distinct(ranks * (K + 1) + columns, values)
    shape = (n, k_here, k_here) if every_column else (n, k_here)
    index = np.full(shape, -1, np.int32)
    where = (rows, ranks, columns) if every_column else (rows, ranks)
    index[where] = inverse.ravel().astype(np.int32)
    features = inputs(ranks[first], columns[first], values[first], K, by_last)
    return Cells(index, features)


def _distinct(code: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first row of every distinct (code, values row), the distinct one of every row), in
    the order of the combined codes. Column by column on 1-d arrays: np.unique over rows
    (axis=0) sorts them as byte strings, 10x slower on the 2e7 impressions of 2M sessions."""
    code = np.unique(code, return_inverse=True)[1].ravel().astype(np.int64)
    for column in values.T:
        levels = np.unique(column, return_inverse=True)[1].ravel()
        code = np.unique(code * (int(levels.max()) + 1) + levels, return_inverse=True)[1].ravel()
    _, first, inverse = np.unique(code, return_index=True, return_inverse=True)
    return first, inverse.ravel()


def by_last(model: str) -> bool:
    """Whether the model's examination has a column j (UBM, vUBM) or not (PBM, vPBM)."""
    return catalogue.parameters(model)[NAME] == "rank_last"


def split(model: str, sources: Mapping | None) -> tuple[network.Spec | None, dict]:
    """(the examination's function source or None, the other sources), for both engines."""
    rest = dict(sources or {})
    if NAME not in rest or NAME not in catalogue.parameters(model):
        return None, rest
    spec = network.parse(rest.pop(NAME))
    if spec is not None and catalogue.base_model(model) not in MODELS:
        raise ValueError(
            f"examination from bias features is built for {', '.join(MODELS)}; {model}'s "
            "examination has no cell kernels (em/bias.py): use a table"
        )
    return spec, rest
