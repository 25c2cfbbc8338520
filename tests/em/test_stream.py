"""Streamed EM (em/stream.py) and the query partitions under it (em/partition.py).

A streamed fit must be the in-memory fit: the same iterates for every model, from a file of
several row groups dealt into several partitions, with weights, padding and duplicates.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.simulate import simulate
from clicklog import catalogue
from clicklog.dedup import dedup
from clicklog.io_parquet import parquet_header, write_parquet
from em import MODELS, fit
from em.partition import build, deal, kinds_of, split
from em.stream import fit_parquet, prepare, resident


def _log(model: str = "dbn", n: int = 1200, seed: int = 0):
    """Pages of 4 to 6 results, every session twice (so deduplication has work), weights 1-3."""
    base = simulate(model.removesuffix("-counting"), n, seed=seed, n_queries=15, K=6,
                    min_length=4).sessions
    doubled = base.subset(np.repeat(np.arange(base.n), 2))
    weights = np.random.default_rng(seed).integers(1, 4, doubled.n)
    return doubled.with_weight(weights)


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stream")
    out = {}
    for model in ("pbm", "dbn", "ccm"):
        sessions = _log(model)
        path = folder / f"{model}.parquet"
        write_parquet(sessions, path, row_group_size=500)
        out[model] = sessions, path
    return out


@pytest.mark.parametrize("model", list(MODELS))
def test_streamed_fit_is_the_in_memory_fit(model, logs):
    sessions, path = logs[{"ubm": "pbm", "rctr": "pbm", "gctr": "pbm", "dctr": "pbm",
                           "cm": "pbm", "dcm": "ccm", "dcm-counting": "ccm"}.get(model, "dbn")]
    memory = fit(model, sessions, max_iter=8, tol=0.0)
    streamed = fit_parquet(model, path, max_iter=8, tol=0.0, partition_sessions=700)
    assert streamed.settings["partitions"] == 4
    assert streamed.settings["distinct_sessions"] < sessions.n // 2 + 1
    assert list(streamed.params) == list(memory.params)
    for name, value in memory.params.items():
        np.testing.assert_allclose(streamed.params[name], value, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose([h["objective"] for h in streamed.history],
                               [h["objective"] for h in memory.history], rtol=1e-12)
    assert streamed.objective(sessions) == pytest.approx(memory.history[-1]["objective"])


def test_em_fit_streams_a_path_and_accelerates(logs):
    sessions, path = logs["ccm"]
    memory = fit("ccm", sessions, max_iter=30, tol=1e-9, accelerate=True)
    streamed = fit("ccm", path, max_iter=30, tol=1e-9, accelerate=True)
    assert streamed.settings["streamed"] == str(path) and streamed.settings["accelerate"]
    assert streamed.settings["esteps"] == memory.settings["esteps"]
    for name, value in memory.params.items():
        np.testing.assert_allclose(streamed.params[name], value, rtol=1e-9, atol=1e-12)


def test_no_deduplication_changes_nothing_but_the_rows(logs, tmp_path):
    sessions, path = logs["dbn"]
    a = fit_parquet("dbn", path, max_iter=5, tol=0.0, deduplicate=False, scratch=tmp_path)
    b = fit_parquet("dbn", path, max_iter=5, tol=0.0, deduplicate=True, scratch=tmp_path)
    assert a.settings["distinct_sessions"] == sessions.n > b.settings["distinct_sessions"]
    for name, value in a.params.items():
        np.testing.assert_allclose(b.params[name], value, rtol=1e-10, atol=1e-13)
    assert list(tmp_path.iterdir()) == []  # the scratch copy is gone


def test_partitions_own_every_pair_and_session_once(logs):
    sessions = logs["dbn"][0]
    parts = split(sessions, 3)
    pairs = np.concatenate([p.qd_global for p in parts])
    assert np.array_equal(np.sort(pairs), np.arange(sessions.n_qd))
    assert sum(float(p.weight.sum()) for p in parts) == pytest.approx(sessions.total_weight)
    assert sum(p.n for p in parts) == dedup(sessions).n
    for index, part in enumerate(parts):
        assert np.all(part.query % 3 == index) and np.all(np.diff(part.query) >= 0)
        mask = part.qd >= 0
        global_qd = part.qd_global[part.qd[mask]]
        assert np.all(sessions.qd_query[global_qd] == np.repeat(part.query, mask.sum(1)))
        assert np.array_equal(part.qd_doc, sessions.qd_doc[part.qd_global])
    lay = parts[1].layout()
    assert lay.n_qd == parts[1].qd_global.size and lay.n_impressions == pytest.approx(
        float(np.sum(parts[1].weight * parts[1].length)))


def test_a_partition_from_pieces_is_the_partition_of_the_whole(logs):
    sessions = logs["pbm"][0]
    halves = [sessions.subset(np.arange(sessions.n) < sessions.n // 2),
              sessions.subset(np.arange(sessions.n) >= sessions.n // 2)]
    pieces = [deal(half, 2)[1] for half in halves]
    whole = split(sessions, 2)[1]
    part = build(pieces, sessions, 1, 2)
    for name in ("query", "qd", "click", "length", "weight", "qd_global"):
        assert np.array_equal(getattr(part, name), getattr(whole, name)), name


def test_prepare_counts_and_layout(logs, tmp_path):
    sessions, path = logs["pbm"]
    vocabulary, sizes = parquet_header(path)
    assert list(sizes) == [500] * 4 + [sessions.n - 2000]
    store = prepare(path, tmp_path, vocabulary, int(sizes.sum()), partition_sessions=1000)
    assert store.n_parts == 3 and store.sessions == sessions.n
    assert store.n_impressions == pytest.approx(sessions.n_impressions)
    loaded = list(store.partitions())
    assert sum(p.n for p in loaded) == store.distinct == dedup(sessions).n
    assert sorted(d.name for d in tmp_path.iterdir()) == ["part-0", "part-1", "part-2"]


def test_document_parameters_are_refused(logs):
    for model in catalogue.VISION_MODELS:
        with pytest.raises(ValueError, match="per-document"):
            kinds_of(model)
    assert kinds_of("dbn") == catalogue.parameters("dbn")


def test_partitions_held_in_memory_or_streamed_from_disk_give_the_in_memory_fit(logs):
    """Every model above runs with its partitions held in memory; DBN from disk too."""
    sessions, path = logs["dbn"]
    memory = fit("dbn", sessions, max_iter=6, tol=0.0)
    held = fit_parquet("dbn", path, max_iter=6, tol=0.0, partition_sessions=700)
    disk = fit_parquet("dbn", path, max_iter=6, tol=0.0, partition_sessions=700,
                       resident_bytes=0)
    assert held.settings["resident"] and not disk.settings["resident"]
    assert held.settings["impressions"] == pytest.approx(sessions.n_impressions)
    assert held.settings["distinct_impressions"] == dedup(sessions).length.sum()
    for streamed in (held, disk):
        for name, value in memory.params.items():
            np.testing.assert_allclose(streamed.params[name], value, rtol=1e-11, atol=1e-13)


def test_gathered_partitions_keep_each_query_contiguous(logs, tmp_path):
    sessions, path = logs["dbn"]
    vocabulary, sizes = parquet_header(path)
    store = prepare(path, tmp_path, vocabulary, int(sizes.sum()), partition_sessions=700)
    lay = resident(store, vocabulary)
    distinct = dedup(sessions)
    assert lay.n == distinct.n and lay.n_qd == sessions.n_qd
    assert lay.n_impressions == pytest.approx(sessions.n_impressions)
    # the same (query, qd row, clicks) rows with the same weights, in the vocabulary's qd
    mask = lay.mask
    query = sessions.qd_query[lay.qd[:, 0]]
    assert np.all(lay.qd[~mask] == -1) and np.all(sessions.qd_query[lay.qd[mask]] ==
                                                  np.repeat(query, mask.sum(1)))
    changes = np.flatnonzero(np.diff(query)) + 1
    assert np.unique(query).size == changes.size + 1  # no query comes back after another
    assert set(np.diff(lay.starts) > 0) == {True}
    assert np.all(np.isin(lay.starts[1:-1], changes))
    assert _rows(lay.qd, lay.click, lay.weight) == _rows(distinct.qd, distinct.click,
                                                         distinct.weight.astype(np.float64))


def _rows(qd, click, weight):
    """Rows as a sorted list of (qd row, click row, weight), for comparing orderless."""
    return sorted(zip(map(tuple, qd), map(tuple, click), weight, strict=True))
