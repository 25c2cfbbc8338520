"""Saved models whose examination is a function of bias features (clicklog.model_file,
em/saved.py, gradient/saved.py): PBM and UBM, linear and MLP, both engines, saved, loaded in a
fresh Python process, give the fit's own click probabilities bit for bit on sessions with bias
rows the training log never had; `clickfit predict` scores a log with the bias columns and
refuses one without them in one line."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import em
import gradient
from benchmarks.cli import main
from clicklog import FormatError, model_file
from clicklog.io_long import read_long, write_long
from tests.em.test_bias_examination import simulate

ROOT = Path(__file__).resolve().parents[1]
ENGINES = {"em": em, "gradient": gradient}
CASES = [(e, m, s) for e in ENGINES for m in ("pbm", "ubm") for s in ("linear", "mlp")]
PREDICTORS = ("click_probs", "conditional_click_probs")


def logs():
    """(training sessions, the same pages with other clicks and bias rows never trained on)."""
    train, _ = simulate("ubm", n=300, n_queries=3, pool=6, seed=4)
    rng = np.random.default_rng(9)
    bias = np.where(train.mask[..., None], rng.normal(0.3, 1.5, train.bias_features.shape), 0)
    click = train.click ^ (rng.random(train.click.shape) < 0.2) & train.mask
    return train, replace(train, click=click, bias_features=bias.astype(np.float32))


def fitted(engine: str, model: str, source: str, sessions):
    # One float64 Adam epoch: the cheapest gradient fit to compile, in the precision where the
    # tables' saved logits matter (float32 logits survive a trip through probabilities).
    kw = ({"max_iter": 3} if engine == "em" else
          {"optimizer": "adam", "epochs": 1, "validation": None, "dtype": "float64"})
    return ENGINES[engine].fit(model, sessions, sources={"examination": source}, **kw)


FRESH = """
import numpy as np, em, gradient
from tests.test_model_file_bias import logs
_, new = logs()
out = {{}}
for engine, model, source in {cases!r}:
    key = f"{{engine}}-{{model}}-{{source}}"
    fit = {{"em": em, "gradient": gradient}}[engine].load({folder!r} + f"/{{key}}.json")
    for what in {predictors!r}:
        out[f"{{key}}-{{what}}"] = getattr(fit, what)(new)
    out[f"{{key}}-objective"] = np.asarray(fit.objective(new))
np.savez({folder!r} + "/fresh.npz", **out)
"""


def test_bias_examination_round_trips_through_a_fresh_process(tmp_path):
    train, new = logs()
    expected = {}
    for engine, model, source in CASES:
        fit = fitted(engine, model, source, train)
        path = tmp_path / f"{engine}-{model}-{source}.json"
        fit.save(path)
        key = f"{engine}-{model}-{source}"
        for what in PREDICTORS:
            expected[f"{key}-{what}"] = getattr(fit, what)(new)
        expected[f"{key}-objective"] = fit.objective(new)
        # Scored by ids as `clickfit predict` does, in this process; saved again, unchanged.
        aligned_model, aligned, _ = model_file.align(model_file.read(path), new)
        loaded = ENGINES[engine].saved.from_saved(aligned_model)
        np.testing.assert_array_equal(loaded.click_probs(aligned), expected[f"{key}-click_probs"])
        ENGINES[engine].load(path).save(tmp_path / "again.json")
        first, again = (json.loads(p.read_text()) for p in (path, tmp_path / "again.json"))
        assert again[model_file.FUNCTION] == first[model_file.FUNCTION]
        assert again["parameters"] == first["parameters"]
        assert again.get("logits") == first.get("logits")
    content = json.loads((tmp_path / "gradient-ubm-mlp.json").read_text())
    block = content[model_file.FUNCTION]
    assert (block["K"], block["by_last"], block["n_bias"]) == (train.K, True, 2)
    assert len(block["mean"]) == 2 * train.K + 2 and block["source"]["hidden"] == [16, 8]
    assert content["parameters"]["examination"]["keyed_on"] == "cell"
    script = FRESH.format(cases=CASES, folder=str(tmp_path), predictors=PREDICTORS)
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True, timeout=600)
    fresh = np.load(tmp_path / "fresh.npz")
    assert set(fresh.files) == set(expected)
    for key, value in expected.items():
        np.testing.assert_array_equal(fresh[key], value, err_msg=key)


def test_predict_needs_the_bias_columns(tmp_path, capsys):
    train, new = logs()
    write_long(train, tmp_path / "train.csv")
    write_long(new, tmp_path / "new.csv")
    write_long(replace(new, bias_features=None), tmp_path / "bare.csv")
    model = tmp_path / "m.json"
    assert main(["fit", "--model", "pbm", "--data", str(tmp_path / "train.csv"),
                 "--source", "examination=linear", "--max-iter", "3", "--no-progress",
                 "--out", str(tmp_path / "labels.csv"), "--save-model", str(model)]) == 0
    out = tmp_path / "probs.parquet"
    assert main(["predict", "--model-file", str(model), "--data", str(tmp_path / "new.csv"),
                 "--out", str(out)]) == 0
    log = read_long(tmp_path / "new.csv")
    aligned_model, aligned, _ = model_file.align(model_file.read(model), log)
    want = em.saved.from_saved(aligned_model).click_probs(aligned)[aligned.mask]
    np.testing.assert_array_equal(pd.read_parquet(out)["click_prob"].to_numpy(), want)
    capsys.readouterr()
    assert main(["predict", "--model-file", str(model), "--data", str(tmp_path / "bare.csv"),
                 "--out", str(tmp_path / "bare-probs.csv")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("clickfit: error:") and "\n" not in err
    assert "function of 2 bias feature(s)" in err and "bare.csv" in err
    with pytest.raises(ValueError, match="2 bias feature"):
        model_file.align(model_file.read(model), replace(log, bias_features=None))
    content = json.loads(model.read_text())
    content[model_file.FUNCTION]["mean"].pop()
    model.write_text(json.dumps(content))
    with pytest.raises(FormatError, match="m.json.*examination_function.*do not fit"):
        model_file.read(model)
    del content[model_file.FUNCTION]
    model.write_text(json.dumps(content))
    with pytest.raises(FormatError, match="has no 'examination_function'"):
        model_file.read(model)
