"""benchmarks/bench/mstep_speed.py: the speed table's rows, and that its three solvers (today's,
em/sources.py of BEFORE_COMMIT, em/mlp.py of OLD_COMMIT, read from git history) solve the same
problem: from the same weights each lowers the same loss, and the earlier two reach exactly
what they reached before (same iterations on the same function)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.bench import mstep_speed


def test_table_rows_and_losses():
    if mstep_speed.before_solver() is None or mstep_speed.old_solver() is None:
        pytest.skip("git history of the earlier solvers is not available")
    table = mstep_speed.measure(sizes=((2_000, 4),), old_max_keys=2_000)
    assert list(table.source) == ["linear", "mlp"]
    assert set(c.name for c in mstep_speed.COLUMNS) <= set(table.columns)
    start = np.log(2.0)  # every solver starts at p = 1/2
    for _, row in table.iterrows():
        assert row.seconds > 0 and row.before_seconds > 0
        assert row.before_speedup == pytest.approx(row.before_seconds / row.seconds)
        assert row.loss < start and row.before_loss < start
        assert row.warm_seconds > 0 and row.before_warm_seconds > 0
    # Newton reaches the convex optimum, at least as far as 20 conjugate-gradient iterations.
    linear = table[table.source == "linear"].iloc[0]
    assert linear.loss <= linear.before_loss + 1e-12
    mlp = table[table.source == "mlp"].iloc[0]
    assert mlp.old_loss == pytest.approx(mlp.before_loss, abs=1e-9)
    assert np.isnan(table[table.source == "linear"].iloc[0].old_seconds)
