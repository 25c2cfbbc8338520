"""The classic counting estimators of DCM and SDBN, kept as the variants dcm-counting and
sdbn-counting so that the benchmark can show how far they land from the exact EM fit.

They pretend that everything up to the last click was examined and nothing after it (all
ranks of a session without clicks), which makes every draw observed:

    attraction[qd]     = clicks on qd / impressions of qd at ranks <= the last click
    continuation[r]    = 1 - last clicks at r / clicks at r                (DCM, Guo et al. 2009)
    satisfaction[qd]   = last clicks on qd / clicks on qd                  (SDBN, Chuklin et al.
                                                                            2015, section 4.2)

with the same Beta prior pseudo-counts as the exact fit (engine.map_update), counting every
click, also those at the last rank. Predictions and the reported objective are those of the
exact model at these parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from em.bernoulli import counts, keys
from em.layout import Layout
from em.model import Model, Params, Stats


def _ranks(lay: Layout) -> np.ndarray:
    return np.arange(lay.K)[None, :]


def attraction_counts(lay: Layout) -> tuple[np.ndarray, np.ndarray]:
    """(clicks, impressions) per qd over the ranks up to the last click (all without one)."""
    last = lay.last[:, None]
    examined = lay.mask & ((_ranks(lay) <= last) | (last < 0))
    return counts(keys("qd", lay.qd), lay.click, examined, lay.weight, lay.n_qd)


def is_last_click(lay: Layout) -> np.ndarray:
    """[n, K] True at the rank of each session's last click."""
    return _ranks(lay) == lay.last[:, None]


def counting_model(exact: Model, count: Callable[[Layout], Stats]) -> Model:
    """`exact` with its E-step replaced by the counts (a one-step, closed-form fit)."""

    def estep(lay: Layout, params: Params) -> tuple[Stats, float]:
        _, ll = exact.estep(lay, params)
        return count(lay), ll

    return replace(exact, estep=estep, closed_form=True)
