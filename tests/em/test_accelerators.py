"""The accelerators (em/squarem.py, em/anderson.py): the same optimum as plain EM in fewer
E-steps, never going down."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.simulate import simulate
from em import fit

STEP = {"squarem": "jump", "anderson": "anderson"}


@pytest.mark.parametrize("accelerate", ["squarem", "anderson"])
@pytest.mark.parametrize("model", ["pbm", "ubm", "dcm", "ccm", "dbn", "sdbn"])
def test_same_optimum_in_fewer_esteps(model, accelerate):
    sessions = simulate(model, 2000, seed=7, n_queries=10, K=6, min_length=4).sessions
    plain = fit(model, sessions, max_iter=3000, tol=1e-12)
    fast = fit(model, sessions, max_iter=3000, tol=1e-12, accelerate=accelerate)
    assert plain.converged and fast.converged
    # the window rule needs 2 * WINDOW + 1 kept points; plain EM needs fewer on the logs
    # where it converges fast (DCM, DBN, SDBN here: 40 to 65 E-steps)
    assert fast.settings["esteps"] < plain.settings["esteps"]
    if plain.settings["esteps"] > 100:
        assert fast.settings["esteps"] < plain.settings["esteps"] / 2
    objective = np.array([fast.settings["initial_objective"]]
                         + [h["objective"] for h in fast.history])
    assert np.all(np.diff(objective) >= -1e-13)
    assert any(h["step"] == STEP[accelerate] for h in fast.history)
    # both stop near the one optimum (plain EM on Aitken's estimate of the gain to come, the
    # accelerators on the same estimate over windows): within 1e-10 of each other
    assert fast.history[-1]["objective"] >= plain.history[-1]["objective"] - 1e-10
    for name, value in plain.params.items():
        np.testing.assert_allclose(fast.params[name], value, atol=2e-3)
    assert fast.objective(sessions) == pytest.approx(fast.history[-1]["objective"], rel=1e-12)


def test_accelerate_names_are_checked():
    sessions = simulate("pbm", 50, seed=1, n_queries=3, K=4).sessions
    assert fit("pbm", sessions, accelerate=True, max_iter=3).settings["accelerate"] == "anderson"
    assert fit("pbm", sessions, max_iter=3).settings["accelerate"] is False
    with pytest.raises(ValueError, match="accelerate must be"):
        fit("pbm", sessions, accelerate="aitken")
