"""A paper-shaped image-search log: the conditions of Xu et al.'s evaluation ("Incorporating
Vision Bias into Click Models for Image-oriented Search Engine", 2021), simulated.

The paper's log is not public. What it says of it, and how each is reproduced here:

- 3.25M sessions over 128,525 queries and 184,335 images (PAPER). A log of S sessions keeps
  the paper's ratios: round(S * 128,525 / 3.25M) query types and 1.434 images per query type.
- Query frequencies: P(query of frequency rank q) proportional to q^-s over the N query types,
  s solved (bisection, `zipf_exponent`) so that the rarest type expects exactly one session:
  sum_q (N / q)^s = S. At the paper's size s = 1.10 and the most frequent query expects
  ~420k sessions, so every row of the paper's Table 1 (1-10 up to >= 10000 training sessions)
  is populated; at smaller S the top rows thin out and the >= 10000 row empties. This law is
  fitted to the totals above, not to Table 1's per-bucket rows: those were not available to
  this reproduction (the generated Table 1 says so, benchmarks/paper_vision_statistics.py).
- Variable page lengths, about five results per query: query q owns a pool of
  m_q = min(K, 1 + NegativeBinomial(2, mean 4)) images (mean 4.9, sd 3.4, 8% at 10 or more,
  cut at K = 15) and every impression shows all of it, ranked by the noisy ranker of
  benchmarks.simulate.world (a Plackett-Luce draw per impression, so rankings vary and
  position bias is identifiable). Pools draw images uniformly from the shared set, so an
  image sits in about 3.5 pools, which is what makes a document-keyed sigma_d identifiable.
- About one click per session: attraction 0.01 + 0.98 * Beta(1.2, 3) per pair (mean 0.29);
  the mean clicks per session of each generator is reported in Table 1.
- 64 features per image, x_d ~ Normal(0, I), and the true sigma_d a nonlinear function of them
  (benchmarks.simulate.image.vision_from_features, "-2" form, strength 1).
- Session order is time order: train on the first 75%, test on the last 25%, the test
  restricted to sessions whose query and every shown image occur in training (`split`).

Generators (GENERATORS), all on the same world, pages and seed, so they differ in clicks only:
"vubm-2" (the paper's model, the winning one), "ubm" (no vision bias), and "dbn-vision", a
model outside the vision family: a DBN cascade (continuation 0.9, satisfaction Beta(2, 2) per
pair) whose examination is also driven by the image's features, E~_r = E_r or V_r with
V_r ~ Bern(sigma_d): an eye-catching image is looked at even after the cascade has ended, but
a click there does not restart it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmarks.simulate.core import Seed, seed_sequence
from benchmarks.simulate.image import vision_from_features
from benchmarks.simulate.truth import Truth, graded_labels, make_truth
from benchmarks.simulate.world import World, build_world, distinct_docs, sample_pages
from clicklog.sessions import Sessions

PAPER_SESSIONS = 3_250_000
PAPER_QUERIES = 128_525
PAPER_IMAGES = 184_335
K = 15
N_FEATURES = 64
POOL_SHAPE = (2, 4.0)  # negative binomial (shape, mean) of the pool size minus one
ATTRACTION_BETA = (1.2, 3.0)
DBN_CONTINUATION = 0.9
TRAIN_FRACTION = 0.75
GENERATORS = ("vubm-2", "ubm", "dbn-vision")
# Pages are drawn in chunks of this many sessions, so that memory stays bounded at the
# paper's size; fixed, so that the log does not depend on the machine.
CHUNK = 250_000


@dataclass(frozen=True, eq=False)
class PaperLog:
    """One generator's sessions in time order, and what generated them."""

    generator: str
    sessions: Sessions
    truth: Truth
    world: World
    zipf_exponent: float


def zipf_exponent(n_queries: int, n_sessions: int) -> float:
    """s with sum_{q=1..N} (N / q)^s = S (the rarest query expects one session)."""
    if n_sessions < n_queries:
        raise ValueError(f"need at least one session per query type ({n_queries}), "
                         f"got {n_sessions} sessions")
    ratio = n_queries / np.arange(1, n_queries + 1, dtype=np.float64)
    low, high = 0.0, 8.0
    for _ in range(100):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if np.sum(ratio**mid) < n_sessions else (low, mid)
    return 0.5 * (low + high)


def shape(n_sessions: int) -> tuple[int, int]:
    """(query types, images) of a log of `n_sessions` with the paper's ratios."""
    if n_sessions < 100:
        raise ValueError(f"a paper-shaped log needs at least 100 sessions, got {n_sessions}")
    n_queries = max(10, round(n_sessions * PAPER_QUERIES / PAPER_SESSIONS))
    n_docs = max(2 * K, round(n_queries * PAPER_IMAGES / PAPER_QUERIES))
    return n_queries, n_docs


def paper_world(n_sessions: int, rng: np.random.Generator) -> tuple[World, float]:
    """Queries, pools, features and ranker for a log of `n_sessions` (module docstring)."""
    n_queries, n_docs = shape(n_sessions)
    s = zipf_exponent(n_queries, n_sessions)
    weights = np.arange(1, n_queries + 1, dtype=np.float64) ** -s
    r, mean = POOL_SHAPE
    pool_len = np.minimum(K, 1 + rng.negative_binomial(r, r / (r + mean), n_queries))
    pool_doc = distinct_docs(n_queries, K, n_docs, rng)
    relevance = 0.01 + 0.98 * rng.beta(*ATTRACTION_BETA, size=pool_doc.shape)
    features = rng.standard_normal((n_docs, N_FEATURES)).astype(np.float32)
    world = build_world(
        rng, query_p=weights / weights.sum(), pool_doc=pool_doc, pool_len=pool_len,
        pool_relevance=relevance, K=K, min_length=None, ranking_noise=1.0, ranker_noise=1.0,
        query_ids=np.arange(n_queries), doc_ids=np.arange(n_docs), doc_features=features,
    )
    return world, s


def _truth(generator: str, world: World, rng: np.random.Generator) -> Truth:
    vision = vision_from_features(world.doc_features, "vubm-2", 1.0, rng)
    if generator == "dbn-vision":
        truth = make_truth("dbn", world, rng, {"continuation": DBN_CONTINUATION})
        return {**truth, "vision": vision}
    params = {"vision": vision} if generator == "vubm-2" else {}
    return make_truth(generator, world, rng, params)


def _dbn_vision_clicks(truth: Truth, qd: np.ndarray, doc: np.ndarray, length: np.ndarray,
                       rng: np.random.Generator) -> np.ndarray:
    """The "dbn-vision" program (module docstring), vectorised over sessions."""
    n, width = qd.shape
    click = np.zeros((n, width), bool)
    cascade = np.ones(n, bool)
    for r in range(width):
        real = r < length
        qd_r = np.where(real, qd[:, r], 0)
        caught = cascade | (rng.random(n) < truth["vision"][np.where(real, doc[:, r], 0)])
        click[:, r] = real & caught & (rng.random(n) < truth["attraction"][qd_r])
        satisfied = click[:, r] & (rng.random(n) < truth["satisfaction"][qd_r])
        cascade &= ~(cascade & satisfied) & (rng.random(n) < truth["continuation"])
    return click


def _clicks(generator: str, truth: Truth, qd, doc, length, rng) -> np.ndarray:
    if generator == "dbn-vision":
        return _dbn_vision_clicks(truth, qd, doc, length, rng)
    # imported here: benchmarks.simulate.clicks is the shared sampler of the catalogue models
    from benchmarks.simulate.clicks import sample_clicks

    return sample_clicks(generator, truth, qd, doc, length, rng)


def simulate_paper_log(generator: str, n_sessions: int, seed: Seed) -> PaperLog:
    """`n_sessions` sessions of `generator` on the paper-shaped world of `seed`.

    The world, truth streams and pages depend on the seed and size only, so the three
    generators of one seed see the same queries, pools and rankings."""
    if generator not in GENERATORS:
        raise ValueError(f"unknown generator {generator!r}; known: {', '.join(GENERATORS)}")
    world_seq, truth_seq, page_seq, click_seq = seed_sequence(seed).spawn(4)
    world, s = paper_world(n_sessions, np.random.default_rng(world_seq))
    # One truth stream per generator, so that adding a generator changes no other one.
    streams = truth_seq.spawn(len(GENERATORS))
    truth_rng = np.random.default_rng(streams[GENERATORS.index(generator)])
    truth = _truth(generator, world, truth_rng)
    relevance = truth["attraction"] * truth.get("satisfaction", 1.0)
    parts = []
    n_chunks = -(-n_sessions // CHUNK)
    for c, (pages, clicks) in enumerate(zip(page_seq.spawn(n_chunks), click_seq.spawn(n_chunks),
                                            strict=True)):
        size = min(CHUNK, n_sessions - c * CHUNK)
        query, qd, doc, length = sample_pages(world, size, np.random.default_rng(pages))
        click = _clicks(generator, truth, qd, doc, length, np.random.default_rng(clicks))
        parts.append((query, qd, doc, click, length))
    query, qd, doc, click, length = (np.concatenate(column) for column in zip(*parts,
                                                                             strict=True))
    sessions = Sessions(
        query=query, qd=qd, doc=doc, click=click, length=length,
        weight=np.ones(n_sessions, np.float32), query_ids=world.query_ids,
        doc_ids=world.doc_ids, qd_query=world.qd_query, qd_doc=world.qd_doc,
        doc_features=world.doc_features, labels=graded_labels(relevance),
        source=f"simulated paper-shaped image search, {generator}",
    )
    return PaperLog(generator, sessions, truth, world, s)


def split(sessions: Sessions) -> tuple[Sessions, Sessions]:
    """75/25 by session order; the test keeps the sessions whose query and every shown image
    occur in training."""
    cut = int(np.floor(TRAIN_FRACTION * sessions.n))
    train = sessions.subset(np.arange(cut))
    test = sessions.subset(np.arange(cut, sessions.n))
    seen_query = np.zeros(sessions.n_queries, bool)
    seen_query[train.query] = True
    seen_doc = np.zeros(sessions.n_docs, bool)
    seen_doc[train.doc[train.mask]] = True
    unseen_doc = test.mask & ~seen_doc[np.maximum(test.doc, 0)]
    keep = seen_query[test.query] & ~unseen_doc.any(axis=1)
    return train, test.subset(keep)

