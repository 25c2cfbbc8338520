"""Distributed EM on Dask (em/distributed.py) against the single-process fit.

A LocalCluster of two workers (threads of this process, so that the test starts in about a
second): the same fit from in-memory sessions and from a Parquet path must give the
parameters and objectives of em.fit to 1e-6 (in practice to rounding), and a partition's
report to the client must hold no per-qd statistics.
"""

from __future__ import annotations

import numpy as np
import pytest

import em.distributed
from benchmarks.simulate import simulate
from clicklog.io_parquet import write_parquet
from em import fit
from em.distributed import _start, _step
from em.distributed import fit as distributed_fit
from em.partition import split

distributed = pytest.importorskip("dask.distributed")

MODELS = ["pbm", "ubm", "cm", "dcm", "ccm", "dbn", "sdbn", "rctr", "dctr", "dcm-counting"]


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster:
        with distributed.Client(cluster) as c:
            yield c


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    sessions = simulate("dbn", 4000, seed=3, n_queries=30, K=7, min_length=5).sessions
    sessions = sessions.with_weight(np.random.default_rng(0).integers(1, 3, sessions.n))
    path = tmp_path_factory.mktemp("dask") / "log.parquet"
    write_parquet(sessions, path, row_group_size=600)
    return sessions, path


def _same(a, b, atol=1e-6):
    assert list(a.params) == list(b.params)
    for name, value in a.params.items():
        np.testing.assert_allclose(b.params[name], value, rtol=0, atol=atol)
    assert [h["objective"] for h in b.history] == pytest.approx(
        [h["objective"] for h in a.history], abs=1e-9)


@pytest.mark.parametrize("model", MODELS)
def test_dask_fit_matches_one_process(model, client, log):
    sessions, path = log
    single = fit(model, sessions, max_iter=12, tol=0.0)
    _same(single, distributed_fit(model, sessions, client, max_iter=12, tol=0.0))
    from_file = distributed_fit(model, path, client, n_partitions=3, max_iter=12, tol=0.0)
    _same(single, from_file)
    assert from_file.settings["partitions"] == 3 and from_file.settings["workers"] == 2


def test_dask_fit_stops_like_one_process(client, log):
    sessions, _ = log
    single = fit("dbn", sessions, max_iter=500, tol=1e-6)
    spread = distributed_fit("dbn", sessions, client, max_iter=500, tol=1e-6)
    assert spread.converged and spread.iterations == single.iterations
    _same(single, spread)
    assert spread.objective(sessions) == pytest.approx(single.history[-1]["objective"])


def test_reports_carry_no_per_qd_statistics(log):
    sessions, _ = log
    part = split(sessions, 2)[0]
    state = _start(part, "dbn")
    assert set(state.params) == {"attraction", "satisfaction"}
    assert state.params["attraction"].shape == part.qd_global.shape
    stepped = _step(state, {"continuation": np.asarray(0.5)}, (2.0, 2.0))
    stats, loglik = stepped.report
    assert set(stats) == {"continuation"} and np.isfinite(loglik)
    assert set(stepped.stats) == {"attraction", "satisfaction"}
    again = _step(stepped, {"continuation": np.asarray(0.6)}, (2.0, 2.0))
    assert not np.array_equal(again.params["attraction"], state.params["attraction"])


def test_own_local_cluster_and_refusals(log):
    sessions, _ = log
    own = distributed_fit("pbm", sessions, max_iter=3, tol=0.0)
    _same(fit("pbm", sessions, max_iter=3, tol=0.0), own)
    vision = simulate("vpbm-1", 50, seed=0, n_queries=2, K=4).sessions
    with pytest.raises(ValueError, match="per-document"):
        distributed_fit("vpbm-1", vision, max_iter=1)


def test_a_lost_worker_is_named_and_the_fit_ends_as_without_the_loss(log, caplog):
    """One of three workers closed before iteration 5 of a fit from memory, another one
    before iteration 5 of a fit from Parquet: the scheduler recomputes what they held on the
    others, every parameter ends as in the fit that lost nothing, and the log names them."""
    sessions, path = log
    single = fit("dbn", sessions, max_iter=12, tol=0.0)
    with distributed.LocalCluster(n_workers=3, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster:
        with distributed.Client(cluster) as c:
            killed = []

            def losing_one(client, states, workers, lost, prior, shared):
                calls.append(1)
                if len(calls) == 5:
                    victim = cluster.workers[sorted(cluster.workers)[len(killed)]]
                    killed.append(victim.address)
                    client.sync(victim.close)
                return remote_estep(client, states, workers, lost, prior, shared)

            remote_estep = em.distributed._remote_estep
            with pytest.MonkeyPatch.context() as patch, caplog.at_level("WARNING"):
                patch.setattr(em.distributed, "_remote_estep", losing_one)
                calls = []
                from_memory = distributed_fit("dbn", sessions, c, max_iter=12, tol=0.0)
                calls = []
                from_file = distributed_fit("dbn", path, c, n_partitions=4, max_iter=12,
                                            tol=0.0)
    assert len(killed) == 2
    assert from_memory.settings["lost_workers"] == killed[:1]
    assert from_file.settings["lost_workers"] == killed[1:]
    assert (from_memory.settings["workers"], from_file.settings["workers"]) == (3, 2)
    _same(single, from_memory)
    _same(single, from_file)
    warned = [r.getMessage() for r in caplog.records if r.name == "em.distributed"]
    assert [w for w in killed if any(w in m and "lost" in m for m in warned)] == killed
