"""The vision models' gamma as a function of bias features in the gradient engine
(gradient/vision.py reading gradient/bias.py's per-session logits) and in model files
(clicklog.model_file, em/saved.py, gradient/saved.py).

- At the same weights and tables, the gradient engine's click probabilities and objective are
  EM's (em/bias.py with em/vision.cell_kernels) to 1e-9, on sessions with bias rows the fit
  never saw, for the four models: the per-session [B, K] / [B, K, K] logits are read at the
  right rank, column and session.
- A vision model with a function examination, saved and loaded, predicts exactly as the fit
  did (click probabilities and objective, bit for bit), in both engines, with sigma_d a table
  or a function of document features too; the file keys its examination on cells and keeps
  sigma_d per document.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import em
import gradient
from benchmarks.cli import main
from clicklog import catalogue, model_file, network
from clicklog.io_long import read_long, write_long
from em import bias as em_bias
from gradient import bias
from gradient.logmath import logits
from tests.em.test_vision_bias import simulate

PREDICTORS = ("click_probs", "conditional_click_probs")
ENGINES = {"em": em, "gradient": gradient}


def logs(model: str):
    """(training sessions, the same pages with other clicks and bias rows never trained on),
    with document features for a sigma_d source."""
    train, _, _ = simulate(model, n=300, n_queries=4, n_docs=12, pool=6, seed=4)
    rng = np.random.default_rng(9)
    train = replace(train, doc_features=rng.standard_normal((train.n_docs, 3)).astype(np.float32))
    rows = np.where(train.mask[..., None], rng.normal(0.3, 1.5, train.bias_features.shape), 0)
    click = train.click ^ (rng.random(train.click.shape) < 0.2) & train.mask
    return train, replace(train, click=click, bias_features=rows.astype(np.float32))


@pytest.mark.parametrize("model", catalogue.VISION_MODELS)
def test_gradient_evaluates_em_s_function(model):
    train, new = logs(model)
    fit = em.fit(model, train, sources={"examination": "linear"}, max_iter=5)
    start = bias.start(model, network.parse("linear"), train, 0)
    function = bias.Examination(fit.settings["examination_network"], start.activation,
                                start.K, start.by_last, start.mean, start.scale, start.l2)
    theta = {"attraction": logits(fit.params["attraction"]),
             "vision": logits(fit.params["vision"]), "examination": function}
    for field, predictor in (("unconditional", "click_probs"),
                             ("click", "conditional_click_probs")):
        got = bias._probabilities(model, theta, new, "float64", field)
        np.testing.assert_allclose(got, getattr(fit, predictor)(new), rtol=1e-9, atol=1e-12,
                                   err_msg=predictor)
    got = bias.objective(model, theta, fit.params, (2.0, 2.0), "float64", new)
    assert got == pytest.approx(fit.objective(new), rel=1e-9)


def _fitted(engine: str, model: str, sessions, sources: dict):
    # One float64 Adam epoch: the cheapest gradient fit to compile, in the precision where the
    # tables' saved logits matter.
    kw = ({"max_iter": 3} if engine == "em" else
          {"optimizer": "adam", "epochs": 1, "validation": None, "dtype": "float64"})
    return ENGINES[engine].fit(model, sessions, sources=sources, **kw)


EXAMINATION = {"examination": "linear"}
# sigma_d a function of the document features as well: saved as its table, no Beta prior on it
BOTH = {"examination": "linear", "vision": "linear"}


@pytest.mark.parametrize(("model", "sources"),
                         [("vpbm-2", EXAMINATION), ("vubm-1", EXAMINATION), ("vubm-2", BOTH)])
@pytest.mark.parametrize("engine", list(ENGINES))
def test_vision_model_with_a_function_examination_round_trips(engine, model, sources,
                                                              tmp_path):
    train, new = logs(model)
    new = replace(new, doc_features=train.doc_features)
    fit = _fitted(engine, model, train, sources)
    assert sorted(fit.settings["sources"]) == sorted(sources)
    path = tmp_path / "model.json"
    fit.save(path)
    loaded = ENGINES[engine].load(path)
    # bit for bit, but for the gradient engine's sigma_d network, which comes back as the
    # logits of its probabilities
    rtol = 1e-12 if engine == "gradient" and "vision" in sources else 0.0
    for what in PREDICTORS:
        np.testing.assert_allclose(getattr(loaded, what)(new), getattr(fit, what)(new),
                                   rtol=rtol, atol=0.0, err_msg=what)
    assert loaded.objective(new) == pytest.approx(fit.objective(new), rel=rtol, abs=0.0)
    # Scored by ids, as `clickfit predict` does.
    aligned_model, aligned, _ = model_file.align(model_file.read(path), new)
    scored = ENGINES[engine].saved.from_saved(aligned_model)
    np.testing.assert_allclose(scored.click_probs(aligned), fit.click_probs(new), rtol=rtol,
                               atol=0.0)
    content = json.loads(path.read_text())
    block = content[model_file.FUNCTION]
    by_last = model.startswith("vubm")
    assert (block["K"], block["by_last"], block["n_bias"]) == (train.K, by_last, 2)
    assert content["parameters"]["examination"]["keyed_on"] == "cell"
    assert content["parameters"]["vision"]["keyed_on"] == "doc"
    assert len(content["parameters"]["vision"]["value"]) == train.n_docs


@pytest.mark.parametrize("name", ["vubm-2", "pbm"])
def test_command_line_fit_and_predict(tmp_path, name):
    """`clickfit fit` on a long log with bias columns, `--source examination=linear`, for a
    vision model and for PBM (whose labels once came from the table model read on the cells):
    the fit em.fit makes, labels whose expected examinations are the fit's own posteriors', a saved
    model that `clickfit predict` scores another log with, as em.load's predicts."""
    train, new = (replace(s, doc_features=None) for s in logs("vubm-2"))
    write_long(train, tmp_path / "train.csv")
    write_long(new, tmp_path / "new.csv")
    log = read_long(tmp_path / "train.csv")
    labels, params, model = (tmp_path / name for name in ("labels.csv", "p.json", "m.json"))
    args = ["--source", "examination=linear", "--max-iter", "20", "--out", str(labels),
            "--params", str(params), "--save-model", str(model), "--no-progress"]
    assert main(["fit", "--model", name, "--engine", "gradient-lbfgs",
                 "--data", str(tmp_path / "train.csv"), *args]) == 0
    assert main(["fit", "--model", name, "--data", str(tmp_path / "train.csv"), *args]) == 0
    saved = json.loads(params.read_text())
    assert saved["settings"]["sources"] == {"examination": "linear"}
    direct = em.fit(name, log, sources={"examination": "linear"}, max_iter=20)
    assert abs(saved["objective_per_impression"] - direct.objective(log)) < 1e-6
    hidden, _ = em_bias.Examination.of(name, network.parse("linear"), log, 0).spec() \
        .posteriors(direct.params, log)
    weight = (log.weight[:, None] * hidden["E"][1])[log.mask]
    examinations = np.bincount(log.qd[log.mask], weight, minlength=log.n_qd)
    table = pd.read_csv(labels)
    pair = {key: i for i, key in enumerate(zip(log.query_ids[log.qd_query],
                                               log.doc_ids[log.qd_doc], strict=True))}
    rows = [pair[key] for key in zip(table["query"], table["doc"], strict=True)]
    np.testing.assert_allclose(table["examinations"], examinations[rows], rtol=1e-8)
    out = tmp_path / "probs.parquet"
    assert main(["predict", "--model-file", str(model), "--data", str(tmp_path / "new.csv"),
                 "--out", str(out)]) == 0
    aligned_model, aligned, _ = model_file.align(model_file.read(model),
                                                 read_long(tmp_path / "new.csv"))
    want = em.saved.from_saved(aligned_model).click_probs(aligned)[aligned.mask]
    np.testing.assert_array_equal(pd.read_parquet(out)["click_prob"].to_numpy(), want)
