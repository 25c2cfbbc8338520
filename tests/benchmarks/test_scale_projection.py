"""The Baidu-ULTR extrapolation of `clickfit scale` (benchmarks/scale_projection.py)."""

from __future__ import annotations

import pytest

from benchmarks import scale_projection


def test_hours_scale_time_per_estep_and_session():
    # 200 E-steps of 0.5 s on 10^7 sessions: 0.5 s * 120 per E-step at 1.2e9, 200 of them
    record = {"fit_seconds": 100.0, "esteps": 200, "sessions": 10_000_000}
    assert scale_projection.hours(record) == pytest.approx(0.5 * 120 * 200 / 3600)


def test_table_rows_per_streamed_model():
    streamed = {"dbn": {"fit_seconds": 120.0, "esteps": 240, "sessions": 10_000_000}}
    in_memory = {"dbn": {"fit_seconds": 84.0, "esteps": 240, "sessions": 10_000_000}}
    lines = scale_projection.table(in_memory, streamed)
    assert len(lines) == 3
    # 0.5 s per E-step streamed, 0.35 in memory; 4.0 h and 2.8 h on 2 cores, 0.5 h on 16
    assert lines[2] == "| dbn | 240 | 0.50 (0.35) | 4.0 (2.8) | 0.50 | 2 (all models) |"
