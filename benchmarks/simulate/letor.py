"""Clicks simulated on LETOR queries and documents (e.g. MQ2008, ../shared/data/mq2008-sample).

The files are read by clicklog.io_letor. Each LETOR query becomes a query whose pool is its
judged documents (pages are shorter than K where a query has fewer documents). Clicks are
driven by the graded labels: attraction = label_attraction[label] and, for DBN/SDBN,
satisfaction = label_satisfaction[label]; the other parameters take the defaults of
benchmarks.simulate.truth, and for the vision models sigma_d is the nonlinear feature function
of benchmarks.simulate.image. Documents are keyed by DOCID, shared where two queries judge the
same one; a document's `doc_features` row is the mean of its rows (LETOR features describe a
(query, document) pair), and `qd_features` holds each pair's own row.

The query-document pairs are numbered query by query (queries in first-seen order), in file
order inside a query: `pair_rows(letor)` gives the LETOR row of each pair index.

Two entry points:

    simulate_from_letor   Zipf query frequencies in file order (the original simulator)
    simulate_ranking_log  the ranking benchmark's log: Zipf frequencies over a seeded random
                          order of the queries (so frequency is unrelated to pool size or
                          file order) and an optional set of pairs that are never shown
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from benchmarks.simulate.core import Seed, Simulation, seed_sequence, simulate_world
from benchmarks.simulate.image import vision_from_features
from benchmarks.simulate.world import World, build_world, zipf_probabilities
from clicklog import catalogue
from clicklog.io_letor import Letor, letor_files, read_letor
from clicklog.io_report import FormatError

LABEL_ATTRACTION = (0.05, 0.3, 0.7)
LABEL_SATISFACTION = (0.1, 0.4, 0.8)

__all__ = ["letor_files", "pair_rows", "read_letor", "simulate_from_letor",
           "simulate_ranking_log", "with_ranker_score"]


def _first_seen(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(unique values in first-seen order, index of each value among them)."""
    uniq, first, inverse = np.unique(values, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return uniq[order], rank[inverse]


def pair_rows(letor: Letor) -> np.ndarray:
    """The LETOR row of every query-document pair index of the simulated sessions, int [n]."""
    _, query = _first_seen(letor.qid)
    return np.argsort(query, kind="stable")


def _letor(path: str | os.PathLike | Letor, n_grades: int) -> Letor:
    data = path if isinstance(path, Letor) else read_letor(path)
    if data.label.max() >= n_grades:
        where = "LETOR data" if isinstance(path, Letor) else path
        raise FormatError(where, None, f"labels must lie in [0, {n_grades - 1}] (one "
                                       f"attraction per grade), found {int(data.label.max())}")
    return data


def _world(
    data: Letor, rng: np.random.Generator, query_p, *, K: int, min_length: int | None,
    ranking_noise: float, ranker_noise: float, label_attraction,
) -> World:
    query_ids, query = _first_seen(data.qid)
    doc_ids, doc = _first_seen(data.docid)
    features = np.zeros((doc_ids.size, data.features.shape[1]), np.float64)
    np.add.at(features, doc, data.features)
    features /= np.bincount(doc, minlength=doc_ids.size)[:, None]

    order = pair_rows(data)
    pool_len = np.bincount(query, minlength=query_ids.size)
    slot = np.arange(order.size) - np.repeat(np.cumsum(pool_len) - pool_len, pool_len)
    shape = (query_ids.size, int(pool_len.max()))
    pool_doc = np.zeros(shape, np.int64)
    pool_label = np.zeros(shape, np.int64)
    pool_doc[query[order], slot] = doc[order]
    pool_label[query[order], slot] = data.label[order]
    return build_world(
        rng,
        query_p=query_p(query_ids.size),
        pool_doc=pool_doc,
        pool_len=pool_len,
        pool_relevance=np.asarray(label_attraction)[pool_label],
        K=K,
        min_length=min_length,
        ranking_noise=ranking_noise,
        ranker_noise=ranker_noise,
        query_ids=query_ids,
        doc_ids=doc_ids,
        doc_features=features.astype(np.float32),
        pool_labels=pool_label,
    )


def _simulate(
    model: str, world: World, data: Letor, n_sessions: int, rng: np.random.Generator,
    session_seq: np.random.SeedSequence, label_satisfaction, vision_strength: float,
    params: dict | None,
) -> Simulation:
    label_driven = {}
    kinds = catalogue.parameters(model)
    if "satisfaction" in kinds:
        label_driven["satisfaction"] = np.asarray(label_satisfaction)[world.labels.astype(int)]
    if "vision" in kinds:
        label_driven["vision"] = vision_from_features(
            world.doc_features.astype(np.float64), model, vision_strength, rng)
    sim = simulate_world(
        model, world, n_sessions, rng, session_seq, {**label_driven, **(params or {})}
    )
    qd_features = np.ascontiguousarray(data.features[pair_rows(data)], np.float32)
    return replace(sim, sessions=replace(sim.sessions, qd_features=qd_features))


def simulate_from_letor(
    path: str | Path,
    model: str,
    n_sessions: int,
    seed: Seed,
    *,
    K: int = 10,
    zipf_exponent: float = 1.0,
    min_length: int | None = None,
    ranking_noise: float = 1.0,
    ranker_noise: float = 1.0,
    label_attraction: tuple[float, float, float] = LABEL_ATTRACTION,
    label_satisfaction: tuple[float, float, float] = LABEL_SATISFACTION,
    vision_strength: float = 1.0,
    params: dict | None = None,
) -> Simulation:
    """Sessions of `model` on the LETOR queries of `path` (module docstring), Zipf query
    frequencies in file order; other options as `simulate`. Sessions carry the LETOR labels,
    per-document features and per-pair features."""
    model = catalogue.base_model(model)
    data = _letor(path, len(label_attraction))
    world_seq, session_seq = seed_sequence(seed).spawn(2)
    rng = np.random.default_rng(world_seq)
    world = _world(
        data, rng, lambda n: zipf_probabilities(n, zipf_exponent), K=K, min_length=min_length,
        ranking_noise=ranking_noise, ranker_noise=ranker_noise,
        label_attraction=label_attraction,
    )
    return _simulate(model, world, data, n_sessions, rng, session_seq, label_satisfaction,
                     vision_strength, params)


def hide_pairs(world: World, shown: np.ndarray) -> World:
    """The world with the pairs where `shown` is False never on a page: they keep their pair
    index (labels, features, truth) but sort last and fall outside every page's length.
    Queries left with no shown pair are never asked."""
    shown = np.asarray(shown, bool)
    if shown.shape != (world.n_qd,):
        raise ValueError(f"shown must be bool [n_pairs={world.n_qd}], got shape {shown.shape}")
    valid = world.pool_qd >= 0
    visible = np.zeros(world.pool_qd.shape, bool)
    visible[valid] = shown[world.pool_qd[valid]]
    pool_len = visible.sum(axis=1)
    query_p = np.where(pool_len > 0, world.query_p, 0.0)
    if query_p.sum() == 0:
        raise ValueError("shown hides every pair: nothing left to show")
    return replace(world, score=np.where(visible, world.score, -np.inf), pool_len=pool_len,
                   query_p=query_p / query_p.sum())


def with_ranker_score(world: World, ranker_score: np.ndarray) -> World:
    """The world with the production ranker's fixed score replaced by `ranker_score`, float
    per pair index (finite)."""
    ranker_score = np.asarray(ranker_score, np.float64)
    if ranker_score.shape != (world.n_qd,):
        raise ValueError(f"ranker_score must be float [n_pairs={world.n_qd}], got shape "
                         f"{ranker_score.shape}")
    if not np.all(np.isfinite(ranker_score)):
        raise ValueError("ranker_score must be finite")
    valid = world.pool_qd >= 0
    score = np.full(world.pool_qd.shape, -np.inf)
    score[valid] = ranker_score[world.pool_qd[valid]]
    return replace(world, score=score)


def simulate_ranking_log(
    path: str | os.PathLike | Letor,
    model: str,
    n_sessions: int,
    seed: Seed,
    *,
    K: int = 10,
    zipf_exponent: float = 1.0,
    ranking_noise: float = 0.5,
    ranker_noise: float = 1.5,
    shown: np.ndarray | None = None,
    label_attraction: tuple[float, float, float] = LABEL_ATTRACTION,
    label_satisfaction: tuple[float, float, float] = LABEL_SATISFACTION,
    params: dict | None = None,
    ranker_score: np.ndarray | None = None,
) -> Simulation:
    """A click log of `model` on the LETOR data of `path` for ranking against the labels.

    - Queries: Zipf(zipf_exponent) frequencies over a random order of the queries drawn from
      the seed, so a handful are asked hundreds of times and most a few times.
    - The production ranker: a fixed noisy score per pair, logit(label_attraction[label]) +
      Normal(0, ranker_noise), plus Gumbel(0, ranking_noise) per impression (world.py), so
      its order is informative but often wrong, and rankings vary between impressions.
    - Clicks: `model` with label-driven attraction (and satisfaction), as the module says.
    - `shown`: bool per pair index (`pair_rows` order); pairs where it is False stay in the
      vocabulary with labels and features but never appear on a page (held-out pairs).
    - `ranker_score`: float per pair index, a production ranker's fixed score to use in place
      of the label-driven one (e.g. benchmarks.simulate.letor_ranker.judged_ranker, a function
      of the features); the Gumbel noise per impression stays. The label-driven draw is still
      made, so the rest of the simulation (clicks, satisfaction) is the same for a seed.

    `sessions.labels` are the graded labels and `sessions.qd_features` the pairs' LETOR
    features, both per pair index.
    """
    model = catalogue.base_model(model)
    data = _letor(path, len(label_attraction))
    world_seq, session_seq = seed_sequence(seed).spawn(2)
    rng = np.random.default_rng(world_seq)

    def query_p(n: int) -> np.ndarray:
        return zipf_probabilities(n, zipf_exponent)[rng.permutation(n)]

    world = _world(
        data, rng, query_p, K=K, min_length=None, ranking_noise=ranking_noise,
        ranker_noise=ranker_noise, label_attraction=label_attraction,
    )
    if ranker_score is not None:
        world = with_ranker_score(world, ranker_score)
    if shown is not None:
        world = hide_pairs(world, shown)
    return _simulate(model, world, data, n_sessions, rng, session_seq, label_satisfaction,
                     1.0, params)
