"""`simulate`: sessions sampled from a known click model, returned with the truth.

Everything is a deterministic function of the seed. The seed is split (numpy SeedSequence)
into a world stream (queries, pools, ranker, default parameters) and a session stream, so a
simulation with more sessions keeps the same world and truth. Large logs are drawn in chunks
from one simulation with `sample_sessions(sim, n, seed=(seed, chunk_index))`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from benchmarks.simulate.clicks import sample_clicks
from benchmarks.simulate.truth import Truth, graded_labels, make_truth, true_relevance
from benchmarks.simulate.world import World, sample_pages, synthetic_world
from clicklog import catalogue
from clicklog.sessions import Sessions

Seed = int | Sequence[int] | np.random.SeedSequence


@dataclass(frozen=True, eq=False)
class Simulation:
    """Sampled sessions, the generating parameters (catalogue names and shapes, indexed by
    the sessions' vocabularies) and the world they were drawn from."""

    model: str
    sessions: Sessions
    truth: Truth
    world: World


def seed_sequence(seed: Seed) -> np.random.SeedSequence:
    return seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)


def sample_sessions(simulation: Simulation, n_sessions: int, seed: Seed) -> Sessions:
    """Fresh sessions from the simulation's world and truth (same vocabularies)."""
    return draw_sessions(
        simulation.model, simulation.world, simulation.truth, simulation.sessions.labels,
        n_sessions, seed,
    )


def draw_sessions(
    model: str,
    world: World,
    truth: Truth,
    labels: np.ndarray | None,
    n_sessions: int,
    seed: Seed,
) -> Sessions:
    rng = np.random.default_rng(seed_sequence(seed))
    query, qd, doc, length = sample_pages(world, n_sessions, rng)
    click = sample_clicks(model, truth, qd, doc, length, rng)
    return Sessions(
        query=query,
        qd=qd,
        doc=doc,
        click=click,
        length=length,
        weight=np.ones(n_sessions, np.float32),
        query_ids=world.query_ids,
        doc_ids=world.doc_ids,
        qd_query=world.qd_query,
        qd_doc=world.qd_doc,
        doc_features=world.doc_features,
        labels=labels,
        source=f"simulated {model}",
    )


def simulate_world(
    model: str, world: World, n_sessions: int, truth_rng: np.random.Generator,
    session_seed: np.random.SeedSequence, params: dict | None,
) -> Simulation:
    """Truth for `model` on a given world, then `n_sessions` sessions drawn from it."""
    model = catalogue.base_model(model)
    truth = make_truth(model, world, truth_rng, params)
    labels = world.labels
    if labels is None:
        relevance = true_relevance(model, truth)
        labels = None if relevance is None else graded_labels(relevance)
    sessions = draw_sessions(model, world, truth, labels, n_sessions, session_seed)
    return Simulation(model=model, sessions=sessions, truth=truth, world=world)


def seeded_world(
    seed: Seed, **options
) -> tuple[World, np.random.Generator, np.random.SeedSequence]:
    """A synthetic world (options as `simulate`) from the seed's world stream, returned with
    that stream's generator (for the truth) and the session stream."""
    world_seq, session_seq = seed_sequence(seed).spawn(2)
    rng = np.random.default_rng(world_seq)
    return synthetic_world(rng, **options), rng, session_seq


def simulate(
    model: str, n_sessions: int, seed: Seed, *, params: dict | None = None, **world_options
) -> Simulation:
    """Sample `n_sessions` sessions of `model` (any catalogue model, vision ones included).

    World options (benchmarks.simulate.world.synthetic_world), with their defaults:
    n_queries=100 queries of Zipf frequencies (zipf_exponent=1.0), each with pool_size=2K
    distinct documents out of n_docs shared ones (default max(2 * pool_size,
    n_queries * pool_size // 4), so a document sits in about four pools); pages of K=10
    results ranked by a noisy ranker (ranker_noise=1.0: its fixed error per qd pair;
    ranking_noise=1.0: the Gumbel scale that varies rankings between impressions); page
    lengths uniform in [min_length, K] when min_length (default None: all K) is given.
    Truth: the defaults of benchmarks.simulate.truth, with any of `params` replacing them.
    Labels (`sessions.labels`): graded 0/1/2 from the true relevance, for the models that
    have a per-qd one.
    """
    world, rng, session_seq = seeded_world(seed, **world_options)
    return simulate_world(model, world, n_sessions, rng, session_seq, params)
