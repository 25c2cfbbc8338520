"""`clickfit accelerators` (benchmarks/accelerators.py): the table of where each method stops."""

from __future__ import annotations

import csv

import pytest

from benchmarks import accelerators
from benchmarks.cli import main


def test_writes_a_row_per_method_and_the_gap_to_the_reference(tmp_path):
    status = main(["accelerators", "--sizes", "1500,3000", "--models", "pbm,dbn",
                   "--plain-max", "1500", "--reference-esteps", "300",
                   "--data-dir", str(tmp_path / "data"), "--results", str(tmp_path / "out")])
    assert status == 0
    with open(tmp_path / "out" / "accelerators.csv") as handle:
        rows = list(csv.DictReader(handle))
    methods = {(int(r["sessions"]), r["model"]): [] for r in rows}
    for r in rows:
        methods[(int(r["sessions"]), r["model"])].append(r["method"])
    assert methods == {(1500, "pbm"): ["plain", "squarem", "anderson"],
                       (1500, "dbn"): ["plain", "squarem", "anderson"],
                       (3000, "pbm"): ["squarem", "anderson"],
                       (3000, "dbn"): ["squarem", "anderson"]}
    for r in rows:
        assert r["converged"] == "True"
        # the reference is the best objective seen, so a fit stops at most tol below it
        assert -1e-12 <= float(r["gap"]) < 1e-9
        assert float(r["reference"]) - float(r["objective"]) == pytest.approx(float(r["gap"]))
    text = (tmp_path / "out" / "accelerators.md").read_text()
    assert "| 1,500 | dbn |" in text and "below tol = 1e-09" in text
    assert "Do not edit by hand" in text


def test_models_without_iterations_are_refused():
    with pytest.raises(SystemExit, match="no iterations to accelerate"):
        main(["accelerators", "--models", "dctr"])
    assert "dctr" not in accelerators.MODELS
