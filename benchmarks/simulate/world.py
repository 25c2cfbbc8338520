"""The search-engine side of a simulation: who asks what, and which results the engine shows.

A `World` holds everything that does not depend on the click model:

- queries with Zipf frequencies, P(query q) proportional to (q + 1)^-s (query 0 is the most
  frequent one in the synthetic worlds);
- per query a pool of candidate documents drawn from one global document set, so documents
  are shared across queries (that is what makes a document-keyed `vision` identifiable);
- the qd vocabulary: every (query, pool document) pair, numbered pool slot by pool slot;
- a latent relevance per qd pair (the default attraction) and the ranker's fixed score per
  pair, logit(relevance) + Normal(0, ranker_noise);
- the page: each impression ranks the pool by score + Gumbel(0, ranking_noise) and shows the
  top K, i.e. a Plackett-Luce draw, so rankings of one query vary across impressions (without
  that variation position bias is not identifiable); the page length is min(K, pool size),
  or, with `min_length`, uniform in [min_length, K] capped by the pool size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clicklog.sessions import PAD

# Latent relevance of a synthetic (query, document) pair: 0.01 + 0.98 * Beta(1.5, 3), mean
# about 0.34, strictly inside (0, 1).
RELEVANCE_BETA = (1.5, 3.0)
RELEVANCE_RANGE = (0.01, 0.98)


@dataclass(frozen=True, eq=False)
class World:
    """Queries, pools, vocabularies and the ranker; see the module docstring.

    Pool arrays are [n_queries, P] with P the largest pool; slots past `pool_len` hold -1 in
    `pool_qd` and `pool_doc` and -inf in `score`.
    """

    query_p: np.ndarray
    pool_qd: np.ndarray
    pool_doc: np.ndarray
    pool_len: np.ndarray
    score: np.ndarray
    relevance: np.ndarray
    qd_query: np.ndarray
    qd_doc: np.ndarray
    query_ids: np.ndarray
    doc_ids: np.ndarray
    K: int
    min_length: int | None
    ranking_noise: float
    doc_features: np.ndarray | None = None
    labels: np.ndarray | None = None

    @property
    def n_queries(self) -> int:
        return int(self.query_p.shape[0])

    @property
    def n_docs(self) -> int:
        return int(self.doc_ids.shape[0])

    @property
    def n_qd(self) -> int:
        return int(self.qd_query.shape[0])


def zipf_probabilities(n_queries: int, exponent: float) -> np.ndarray:
    """P(query q) = (q + 1)^-s / sum_q' (q' + 1)^-s, the finite Zipf law."""
    weights = np.arange(1, n_queries + 1, dtype=np.float64) ** -float(exponent)
    return weights / weights.sum()


def distinct_docs(n_rows: int, size: int, n_docs: int, rng: np.random.Generator) -> np.ndarray:
    """[n_rows, size] documents, each row a uniform random subset of range(n_docs).

    Floyd's sampling algorithm, vectorised over rows (a loop over the `size` slots only).
    """
    if size > n_docs:
        raise ValueError(f"a pool of {size} documents needs n_docs >= {size}, got {n_docs}")
    chosen = np.empty((n_rows, size), np.int64)
    for k, j in enumerate(range(n_docs - size, n_docs)):
        candidate = rng.integers(0, j + 1, size=n_rows)
        taken = (chosen[:, :k] == candidate[:, None]).any(axis=1)
        chosen[:, k] = np.where(taken, j, candidate)
    return chosen


def build_world(
    rng: np.random.Generator,
    *,
    query_p: np.ndarray,
    pool_doc: np.ndarray,
    pool_len: np.ndarray,
    pool_relevance: np.ndarray,
    K: int,
    min_length: int | None,
    ranking_noise: float,
    ranker_noise: float,
    query_ids: np.ndarray,
    doc_ids: np.ndarray,
    doc_features: np.ndarray | None = None,
    pool_labels: np.ndarray | None = None,
) -> World:
    """Number the qd pairs of the given pools and draw the ranker's scores.

    `pool_relevance` (and `pool_labels`) are [n_queries, P] like `pool_doc`; entries past
    `pool_len` are ignored.
    """
    if K < 1:
        raise ValueError(f"K must be >= 1, got {K}")
    if min_length is not None and not 1 <= min_length <= K:
        raise ValueError(f"min_length must lie in [1, K={K}], got {min_length}")
    n_queries, width = pool_doc.shape
    valid = np.arange(width)[None, :] < pool_len[:, None]
    n_qd = int(valid.sum())
    pool_qd = np.full((n_queries, width), PAD, np.int32)
    pool_qd[valid] = np.arange(n_qd, dtype=np.int32)
    relevance = np.asarray(pool_relevance, np.float64)[valid]
    if not np.all((relevance > 0.0) & (relevance < 1.0)):
        raise ValueError("relevance (the default attraction) must lie strictly inside (0, 1)")
    rows = np.broadcast_to(np.arange(n_queries, dtype=np.int32)[:, None], valid.shape)
    logit = np.log(relevance) - np.log1p(-relevance)
    score = np.full((n_queries, width), -np.inf)
    score[valid] = logit + ranker_noise * rng.standard_normal(n_qd)
    return World(
        query_p=query_p,
        pool_qd=pool_qd,
        pool_doc=np.where(valid, pool_doc, PAD).astype(np.int32),
        pool_len=np.asarray(pool_len, np.int64),
        score=score,
        relevance=relevance,
        qd_query=rows[valid],
        qd_doc=np.asarray(pool_doc, np.int32)[valid],
        query_ids=query_ids,
        doc_ids=doc_ids,
        K=K,
        min_length=min_length,
        ranking_noise=float(ranking_noise),
        doc_features=doc_features,
        labels=None if pool_labels is None else np.asarray(pool_labels, np.float32)[valid],
    )


def synthetic_world(
    rng: np.random.Generator,
    *,
    n_queries: int = 100,
    K: int = 10,
    pool_size: int | None = None,
    zipf_exponent: float = 1.0,
    n_docs: int | None = None,
    min_length: int | None = None,
    ranking_noise: float = 1.0,
    ranker_noise: float = 1.0,
) -> World:
    """Zipf queries, each with `pool_size` (None: 2K) distinct documents out of `n_docs` shared
    ones (None: max(2 * pool_size, n_queries * pool_size // 4), about four pools a document)."""
    pool_size = 2 * K if pool_size is None else pool_size
    n_docs = max(2 * pool_size, n_queries * pool_size // 4) if n_docs is None else n_docs
    if n_queries < 1:
        raise ValueError(f"n_queries must be >= 1, got {n_queries}")
    if pool_size < K:
        raise ValueError(f"pool_size ({pool_size}) must be >= K ({K})")
    pool_doc = distinct_docs(n_queries, pool_size, n_docs, rng)
    low, span = RELEVANCE_RANGE
    relevance = low + span * rng.beta(*RELEVANCE_BETA, size=pool_doc.shape)
    return build_world(
        rng,
        query_p=zipf_probabilities(n_queries, zipf_exponent),
        pool_doc=pool_doc,
        pool_len=np.full(n_queries, pool_size),
        pool_relevance=relevance,
        K=K,
        min_length=min_length,
        ranking_noise=ranking_noise,
        ranker_noise=ranker_noise,
        query_ids=np.arange(n_queries),
        doc_ids=np.arange(n_docs),
    )


def sample_pages(
    world: World, n_sessions: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Draw queries and result pages: (query [n], qd [n, K], doc [n, K], length [n]).

    Ranks at or past the page length hold -1 in qd and doc.
    """
    K = world.K
    query = rng.choice(world.n_queries, size=n_sessions, p=world.query_p).astype(np.int32)
    gumbel = rng.gumbel(size=(n_sessions, world.score.shape[1]))
    top = np.argsort(-(world.score[query] + world.ranking_noise * gumbel), axis=1)[:, :K]
    length = np.minimum(world.pool_len[query], K)
    if world.min_length is not None:
        length = np.minimum(length, rng.integers(world.min_length, K + 1, size=n_sessions))
    qd = np.full((n_sessions, K), PAD, np.int32)
    doc = np.full((n_sessions, K), PAD, np.int32)
    width = top.shape[1]
    shown = np.arange(width)[None, :] < length[:, None]
    qd[:, :width] = np.where(shown, np.take_along_axis(world.pool_qd[query], top, axis=1), PAD)
    doc[:, :width] = np.where(shown, np.take_along_axis(world.pool_doc[query], top, axis=1), PAD)
    return query, qd, doc, length.astype(np.int16)
