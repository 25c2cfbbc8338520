"""em.layout.Scratch: E-step buffers reused across calls on one layout, never while anything
still holds them (a view included), and zeroed before reuse."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from benchmarks.simulate import simulate
from em.engine import get_model, initial_params
from em.layout import SCRATCH_KEPT, Scratch, layout


def test_an_array_is_handed_out_again_only_once_nothing_holds_it():
    scratch = Scratch()
    a = scratch.zeros((4, 3))
    a += 1.0
    column = a[:, 1]  # a view, as an E-step's statistics are
    del a
    b = scratch.zeros((4, 3))
    assert not np.shares_memory(b, column)
    address = b.ctypes.data
    del b
    c = scratch.zeros((4, 3))
    assert c.ctypes.data == address and not c.any()
    del column
    assert scratch.zeros(12).shape == (12,)


def test_at_most_a_few_arrays_of_one_shape_are_kept():
    scratch = Scratch()
    held = [scratch.zeros(7) for _ in range(SCRATCH_KEPT + 2)]
    assert len(scratch._kept) == SCRATCH_KEPT
    kept = [id(a) for a in scratch._kept]
    del held
    again = [scratch.zeros(7) for _ in range(SCRATCH_KEPT + 2)]
    assert [id(a) for a in again[:SCRATCH_KEPT]] == kept and len(scratch._kept) == SCRATCH_KEPT


def test_a_pickled_layout_keeps_no_buffers():
    lay = layout(simulate("pbm", 50, seed=0, n_queries=3, K=4).sessions)
    lay.scratch.zeros(lay.n)
    assert pickle.loads(pickle.dumps(lay)).scratch._kept == []


def _copy(stats):
    return {k: tuple(np.array(v, copy=True) for v in pair) for k, pair in stats.items()}


@pytest.mark.parametrize("model", ["pbm", "ubm", "dbn", "ccm", "vpbm-2"])
def test_statistics_a_caller_keeps_survive_the_next_e_steps(model):
    sessions = simulate(model, 400, seed=3, n_queries=6, K=5).sessions
    spec = get_model(model)
    rng = np.random.default_rng(1)
    start = initial_params(spec.parameters, sessions)
    other = {k: rng.uniform(0.1, 0.9, np.shape(v)) for k, v in start.items()}
    lay = layout(sessions)
    kept, loglik = spec.estep(lay, start)
    before = _copy(kept)
    for params in (other, start, other):
        stats, reused_loglik = spec.estep(lay, params)
    fresh, fresh_loglik = spec.estep(layout(sessions), other)
    again, again_loglik = spec.estep(lay, start)
    for name in before:
        for held, copied in zip(kept[name], before[name], strict=True):
            np.testing.assert_array_equal(held, copied)
        for reused, new in zip(stats[name], fresh[name], strict=True):
            np.testing.assert_array_equal(reused, new)
        for reused, first in zip(again[name], before[name], strict=True):
            np.testing.assert_array_equal(reused, first)
    assert (again_loglik, reused_loglik) == (loglik, fresh_loglik)
