"""Saved models (clicklog.model_file): every model of both engines, saved, loaded in a fresh
Python process, predicts exactly what the fit predicted; a log from another vocabulary is an
error for a Fit and is matched by original ids by `align`, unseen pairs at the fallback."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import clicklog
import em
import gradient
from benchmarks.simulate import simulate, simulate_image_search
from clicklog import catalogue, model_file
from clicklog.fit import VocabularyError

ROOT = Path(__file__).resolve().parents[1]
ENGINES = {"em": em, "gradient": gradient}
PREDICTORS = ("click_probs", "conditional_click_probs", "relevance")


def small_log(seed: int = 0) -> clicklog.Sessions:
    return simulate("dbn", 200, seed, K=4, n_queries=4, pool_size=5).sessions


def cases() -> list[tuple[str, str]]:
    models = catalogue.MODELS + tuple(catalogue.VARIANTS)
    return [(m, e) for e in ENGINES for m in models if e == "em" or m in catalogue.MODELS]


FRESH = """
import sys, numpy as np, em, gradient
sys.path.insert(0, {tests!r})
from test_model_file import small_log
sessions = small_log()
out = {{}}
for name, engine in {cases!r}:
    fit = {{"em": em, "gradient": gradient}}[engine].load({folder!r} + f"/{{name}}-{{engine}}.json")
    for what in {predictors!r}:
        out[f"{{name}}-{{engine}}-{{what}}"] = getattr(fit, what)(sessions)
    out[f"{{name}}-{{engine}}-objective"] = np.asarray(fit.objective(sessions))
np.savez({folder!r} + "/fresh.npz", **out)
"""


@pytest.mark.slow
def test_every_model_round_trips_through_a_fresh_process(tmp_path):
    sessions = small_log()
    expected = {}
    for name, engine in cases():
        # One Adam epoch: the cheapest gradient fit to compile; saving does not depend on the
        # optimiser that produced the parameters.
        kw = ({"max_iter": 3} if engine == "em"
              else {"optimizer": "adam", "epochs": 1, "validation": None})
        fit = ENGINES[engine].fit(name, sessions, **kw)
        fit.save(tmp_path / f"{name}-{engine}.json")
        for what in PREDICTORS:
            expected[f"{name}-{engine}-{what}"] = getattr(fit, what)(sessions)
        expected[f"{name}-{engine}-objective"] = fit.objective(sessions)
    script = FRESH.format(tests=str(ROOT / "tests"), cases=cases(), folder=str(tmp_path),
                          predictors=PREDICTORS)
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True, timeout=600)
    fresh = np.load(tmp_path / "fresh.npz")
    assert set(fresh.files) == set(expected)
    for key, value in expected.items():
        np.testing.assert_allclose(fresh[key], value, rtol=0, atol=1e-12, err_msg=key)


def test_file_holds_ids_model_engine_prior_and_version(tmp_path):
    sessions = small_log()
    fit = em.fit("dbn", sessions, prior=(3.0, 2.0), max_iter=5)
    fit.save(tmp_path / "m.json")
    content = json.loads((tmp_path / "m.json").read_text())
    assert (content["model"], content["engine"], content["prior"]) == ("dbn", "em", [3.0, 2.0])
    assert content["clickfit_version"] == model_file.clickfit_version()
    assert content["settings"]["max_iter"] == 5 and content["iterations"] == 5
    # Pair i of the file is (query id, doc id) of qd index i, its attraction the fitted one.
    pairs = content["pairs"]
    i = int(sessions.qd[7, 2])
    assert pairs["query"][i] == sessions.query_ids[sessions.qd_query[i]]
    assert pairs["doc"][i] == sessions.doc_ids[sessions.qd_doc[i]]
    assert content["parameters"]["attraction"]["value"][i] == fit.params["attraction"][i]
    assert content["parameters"]["continuation"]["keyed_on"] == "global"


def test_another_vocabulary_is_an_error_and_align_maps_by_ids(tmp_path):
    train = small_log(0)
    fit = em.fit("pbm", train, max_iter=20)
    fit.save(tmp_path / "m.json")
    # The same sessions with the pair and document vocabularies listed in another order: the
    # indices differ, the ids do not.
    order = np.random.default_rng(1).permutation(train.n_qd)
    shuffled = clicklog.Vocabulary()
    shuffled.doc_index(train.doc_ids[::-1])
    shuffled.qd_index(*[shuffled.query_index(train.query_ids[train.qd_query[order]]),
                        shuffled.doc_index(train.doc_ids[train.qd_doc[order]])])
    other = shuffled.adopt(train)
    assert not np.array_equal(other.qd, train.qd)
    with pytest.raises(VocabularyError, match="another vocabulary"):
        fit.click_probs(other)
    with pytest.raises(VocabularyError):
        fit.objective(other)
    saved, aligned, report = model_file.align(model_file.read(tmp_path / "m.json"), other)
    loaded = em.saved.from_saved(saved)
    np.testing.assert_allclose(loaded.click_probs(aligned), fit.click_probs(train), atol=1e-15)
    assert report.unseen_pairs == 0 and report.pairs == np.unique(train.qd[train.mask]).size


def test_unseen_pairs_get_the_prior_mode_and_are_counted(tmp_path):
    train = small_log(0)
    fit = em.fit("dctr", train, prior=(3.0, 2.0), max_iter=5)
    fit.save(tmp_path / "m.json")
    # A one-session log: a known pair at rank 1, a new document at rank 2, shown twice more.
    q, d = train.query_ids[train.query[0]], train.doc_ids[train.doc[0, 0]]
    log = clicklog.from_arrays(
        np.zeros(2, np.int32), np.array([[0, 1], [1, 0]]), np.array([[1, 0], [0, 0]], bool),
        weight=np.array([1.0, 2.0]), query_ids=np.array([q]),
        doc_ids=np.array([d, 10_000]),
    )
    saved, aligned, report = model_file.align(model_file.read(tmp_path / "m.json"), log)
    assert (report.pairs, report.unseen_pairs) == (2, 1)
    assert report.unseen_impressions == 3.0 and report.impressions == 6.0
    assert report.fallback == {"attraction": pytest.approx(2.0 / 3.0)}  # Beta(3, 2)'s mode
    probs = em.saved.from_saved(saved).click_probs(aligned)
    known = fit.params["attraction"][train.qd[0, 0]]
    np.testing.assert_allclose(probs, [[known, 2.0 / 3.0], [2.0 / 3.0, known]], atol=1e-12)


def test_malformed_model_files_name_the_file(tmp_path):
    path = tmp_path / "m.json"
    path.write_text("{not json")
    with pytest.raises(clicklog.FormatError, match="m.json.*not a clickfit model file"):
        model_file.read(path)
    fit = em.fit("pbm", small_log(), max_iter=2)
    fit.save(path)
    content = json.loads(path.read_text())
    content["parameters"]["examination"]["value"] = [0.5]
    path.write_text(json.dumps(content))
    with pytest.raises(clicklog.FormatError, match="examination.*shape"):
        model_file.read(path)
    fit.save(path)
    with pytest.raises(ValueError, match="gradient.load"):
        em.saved.from_saved(replace(model_file.read(path), engine="gradient"))


def test_a_network_source_and_a_learned_prior_survive(tmp_path):
    image = simulate_image_search("vpbm-2", 300, 1, K=4, n_queries=4, pool_size=6,
                                  min_length=3).sessions
    fit = em.fit("vpbm-2", image, vision="mlp", max_iter=3)
    fit.save(tmp_path / "v.json")
    content = json.loads((tmp_path / "v.json").read_text())
    assert isinstance(content["settings"]["vision_network"], dict)
    loaded = em.load(tmp_path / "v.json")
    np.testing.assert_allclose(loaded.click_probs(image), fit.click_probs(image), atol=1e-12)
    assert loaded.objective(image) == pytest.approx(fit.objective(image), abs=1e-12)
    sessions = small_log()
    learned = em.fit("dbn", sessions, prior="empirical", max_iter=3)
    learned.save(tmp_path / "e.json")
    again = em.load(tmp_path / "e.json")
    assert again.prior == {k: tuple(v) for k, v in learned.prior.items()}
    assert again.objective(sessions) == pytest.approx(learned.objective(sessions), abs=1e-12)
