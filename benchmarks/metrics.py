"""Every evaluation metric of the benchmark (DESIGN.md section 5), defined once.

Inputs are a `Sessions` object and the [n, K] predictions of a Fit on it:

    click_probs = fit.click_probs(sessions)              unconditional P(C_r = 1)
    cond_probs  = fit.conditional_click_probs(sessions)  P(C_r = 1 | c_<r)

Conventions shared by every function here:

- Weights: a session's `weight` is its multiplicity, and every sum counts it that many times,
  so a deduplicated log gives exactly the numbers of the expanded one.
- Padded ranks (r >= length) never count, whatever the arrays hold there.
- Probabilities are clipped into [PROB_MIN, 1 - PROB_MIN] before any logarithm.
  PROB_MIN = 1e-6 is PyClick's floor (`ParamEM.PROB_MIN`, `CM.PROB_MIN`), so a click the model
  calls impossible costs ln(1e-6) instead of -inf. A probability outside [0, 1] or NaN at a
  real rank is a bug upstream and raises ValueError.
- Ranks are 0-based in arrays (`per_rank[r]` is rank r + 1 in a table).

Metrics:

- Log-likelihood: sum_i w_i sum_{r < L_i} ln P(C_r = c_r | c_<r) / sum_i w_i L_i, the weighted
  mean over real impressions (`log_likelihood`); per session and per rank for paired tests and
  breakdowns. Note that CM's fitting objective stops at the first click while this metric
  scores every real rank (CM predicts 0 after the first click, as in PyClick).
- Perplexity (Dupret & Piwowarski, SIGIR 2008, as PyClick and CLAX compute it): per rank
  p_r = 2 ** (-(weighted mean over the sessions that have rank r of log2 P(C_r = c_r))),
  overall = the mean of p_r over ranks. With click_probs this is perplexity, with cond_probs
  conditional perplexity. It is not the pooled 2 ** (-mean over all impressions).
- Query-frequency buckets of Xu et al., "Incorporating Vision Bias into Click Models for
  Image-oriented Search Engine", Table 1: test sessions grouped by the weighted number of
  TRAINING sessions of their query.
- Improvements as that paper reports them: LL (LL_new - LL_base) / |LL_base|, perplexity
  (p_base - p_new) / (p_base - 1); significance by a paired t-test over test sessions.
- Ranking: MRR and nDCG@k of a per-qd relevance estimate against graded labels.
- Recovery on simulated data: absolute error of fitted against generating parameters.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import special, stats

from clicklog.sessions import Sessions

PROB_MIN = 1e-6

# Lower edges of the vision-bias paper's Table 1 buckets; bucket b is [edge_b, edge_{b+1}).
FREQUENCY_EDGES: tuple[int, ...] = (1, 10, 30, 100, 500, 2000, 10000)
FREQUENCY_LABELS: tuple[str, ...] = (
    "1-10",
    "10-30",
    "30-100",
    "100-500",
    "500-2000",
    "2000-10000",
    ">=10000",
)
UNSEEN = -1
UNSEEN_LABEL = "unseen"


class Perplexity(NamedTuple):
    overall: float
    per_rank: np.ndarray


class Scores(NamedTuple):
    log_likelihood: float
    perplexity: float
    conditional_perplexity: float


class BucketScores(NamedTuple):
    label: str
    sessions: float
    queries: int
    scores: Scores


class TTest(NamedTuple):
    """A paired t-test; `degenerate` when the data cannot carry one (paired_ttest)."""

    t: float
    p_value: float
    degenerate: bool = False


class RecoveryError(NamedTuple):
    mae: float
    max_error: float
    entries: int


def _require_sessions(sessions: Sessions) -> None:
    if sessions.n == 0:
        raise ValueError("a metric needs at least one session; got an empty Sessions")


def _weights(sessions: Sessions) -> np.ndarray:
    return sessions.weight.astype(np.float64)


def _per_session_array(sessions: Sessions, values: np.ndarray, name: str) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (sessions.n,):
        raise ValueError(f"{name} must have shape ({sessions.n},), got {values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} holds NaN or inf")
    return values


def observed_log_probs(sessions: Sessions, probs: np.ndarray) -> np.ndarray:
    """ln P(C_r = c_r) for P(C_r = 1) = probs, clipped to [PROB_MIN, 1 - PROB_MIN]; [n, K].

    Padded ranks hold 0, so that sums over ranks need no mask.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.shape != (sessions.n, sessions.K):
        raise ValueError(f"probabilities must have shape {(sessions.n, sessions.K)}, "
                         f"got {probs.shape}")
    mask = sessions.mask
    real = probs[mask]
    if not np.all((real >= 0.0) & (real <= 1.0)):
        raise ValueError("click probabilities at real ranks must lie in [0, 1] (NaN found "
                         "or a value outside)")
    p = np.clip(np.where(mask, probs, 0.5), PROB_MIN, 1.0 - PROB_MIN)
    logp = np.where(sessions.click, np.log(p), np.log1p(-p))
    return np.where(mask, logp, 0.0)


def session_log_likelihood(sessions: Sessions, probs: np.ndarray) -> np.ndarray:
    """sum over real ranks of ln P(C_r = c_r) per session, [n] (unweighted: one row's value)."""
    return observed_log_probs(sessions, probs).sum(axis=1)


def log_likelihood(sessions: Sessions, cond_probs: np.ndarray) -> float:
    """Weighted mean over real impressions of ln P(C_r = c_r | c_<r), in nats."""
    _require_sessions(sessions)
    total = np.dot(_weights(sessions), session_log_likelihood(sessions, cond_probs))
    return float(total / sessions.n_impressions)


def rank_log_likelihood(sessions: Sessions, probs: np.ndarray) -> np.ndarray:
    """Per rank r, the weighted mean of ln P(C_r = c_r) over the sessions that have rank r.

    Length max(session length): every rank below it is held by at least one session.
    """
    _require_sessions(sessions)
    depth = int(sessions.length.max())
    w = _weights(sessions)
    total = w @ observed_log_probs(sessions, probs)[:, :depth]
    count = w @ sessions.mask[:, :depth].astype(np.float64)
    return total / count


def perplexity(sessions: Sessions, probs: np.ndarray) -> Perplexity:
    """Per-rank perplexity and its mean over ranks (the PyClick/CLAX definition).

    click_probs give perplexity, cond_probs conditional perplexity. per_rank has one entry per
    rank that some session reaches (length max(session length)).
    """
    # 2 ** (-mean log2 p) is exp(-mean ln p).
    per_rank = np.exp(-rank_log_likelihood(sessions, probs))
    return Perplexity(overall=float(per_rank.mean()), per_rank=per_rank)


def scores(sessions: Sessions, click_probs: np.ndarray, cond_probs: np.ndarray) -> Scores:
    """Log-likelihood, perplexity and conditional perplexity of one prediction."""
    return Scores(
        log_likelihood=log_likelihood(sessions, cond_probs),
        perplexity=perplexity(sessions, click_probs).overall,
        conditional_perplexity=perplexity(sessions, cond_probs).overall,
    )


def query_frequency(train: Sessions) -> np.ndarray:
    """Weighted number of training sessions of every query in the vocabulary, float [n_queries]."""
    return np.bincount(train.query, weights=_weights(train), minlength=train.n_queries)


def frequency_bucket(frequency: np.ndarray) -> np.ndarray:
    """Bucket index of each frequency: b for [FREQUENCY_EDGES[b], FREQUENCY_EDGES[b+1]).

    A frequency of 0 (query not in training) gives UNSEEN (-1). The first bucket takes every
    seen query below 10, so a fractional weight below 1 still lands in "1-10".
    """
    frequency = np.asarray(frequency, dtype=np.float64)
    bucket = np.searchsorted(np.asarray(FREQUENCY_EDGES[1:], np.float64), frequency, "right")
    return np.where(frequency > 0, bucket, UNSEEN)


def bucket_label(bucket: int) -> str:
    return UNSEEN_LABEL if bucket == UNSEEN else FREQUENCY_LABELS[bucket]


def frequency_breakdown(
    train: Sessions, test: Sessions, click_probs: np.ndarray, cond_probs: np.ndarray
) -> list[BucketScores]:
    """Scores of the test sessions grouped by their query's training frequency.

    Rows come in increasing frequency, "unseen" (queries absent from training) first; buckets
    without test sessions are left out. Perplexities are per-rank means inside each bucket.
    `train` and `test` must be splits of one log (one query vocabulary).
    """
    if train.n_queries != test.n_queries:
        raise ValueError(f"train has {train.n_queries} queries in its vocabulary and test "
                         f"{test.n_queries}: split both from one log")
    click_probs = np.asarray(click_probs)
    cond_probs = np.asarray(cond_probs)
    bucket = frequency_bucket(query_frequency(train))[test.query]
    rows = []
    for b in np.unique(bucket):
        rows_b = np.flatnonzero(bucket == b)
        part = test.subset(rows_b)
        rows.append(
            BucketScores(
                label=bucket_label(int(b)),
                sessions=part.total_weight,
                queries=int(np.unique(part.query).size),
                scores=scores(part, click_probs[rows_b], cond_probs[rows_b]),
            )
        )
    return rows


def ll_improvement(ll_base: float, ll_new: float) -> float:
    """(LL_new - LL_base) / |LL_base|: positive when the new model is better."""
    if ll_base == 0:
        raise ValueError("the base log-likelihood is 0: the relative improvement is undefined")
    return (ll_new - ll_base) / abs(ll_base)


def perplexity_improvement(p_base: float, p_new: float) -> float:
    """(p_base - p_new) / (p_base - 1): the share of the base model's excess over a perfect 1."""
    if p_base == 1:
        raise ValueError("the base perplexity is 1: the relative improvement is undefined")
    return (p_base - p_new) / (p_base - 1)


def paired_ttest(
    sessions: Sessions, per_session_a: np.ndarray, per_session_b: np.ndarray
) -> TTest:
    """Two-sided paired t-test of a against b over sessions, each counted `weight` times.

    With d_i = a_i - b_i, N = sum w_i, mean = sum w_i d_i / N,
    s^2 = sum w_i (d_i - mean)^2 / (N - 1): t = mean / sqrt(s^2 / N) on N - 1 degrees of
    freedom, which is scipy.stats.ttest_rel on the expanded log.

    Where that is undefined, a total weight N <= 1 (no degrees of freedom) or every difference
    the same (no spread: one session, or a constant shift), the data say nothing about
    significance, so the answer is t = 0, p = 1 with `degenerate` set: never a NaN, and never
    the t = inf, p = 0 that would mark any change seen once as certain.
    """
    _require_sessions(sessions)
    d = _per_session_array(sessions, per_session_a, "per_session_a") - _per_session_array(
        sessions, per_session_b, "per_session_b"
    )
    w = _weights(sessions)
    n = w.sum()
    if n <= 1 or np.all(d == d[0]):
        return TTest(0.0, 1.0, degenerate=True)
    mean = np.dot(w, d) / n
    variance = np.dot(w, (d - mean) ** 2) / (n - 1)
    t = float(mean / np.sqrt(variance / n))
    return TTest(t, float(2.0 * stats.t.sf(abs(t), n - 1)))


def qd_counts(sessions: Sessions) -> np.ndarray:
    """Weighted number of impressions of every query-document pair, float [n_qd]."""
    mask = sessions.mask
    w = np.broadcast_to(_weights(sessions)[:, None], mask.shape)[mask]
    return np.bincount(sessions.qd[mask], weights=w, minlength=sessions.n_qd)


def per_qd(sessions: Sessions, values: np.ndarray) -> np.ndarray:
    """Weighted mean of an [n, K] per-impression array per qd, float [n_qd]; NaN where unshown.

    The way to a ranking input: `per_qd(test, fit.relevance(test))`. For models whose relevance
    is a per-qd parameter every impression holds the same value and the result is exactly it;
    for rank-dependent relevance (RCTR) it is the mean over the pair's impressions.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (sessions.n, sessions.K):
        raise ValueError(f"values must have shape {(sessions.n, sessions.K)}, got {values.shape}")
    mask = sessions.mask
    qd = sessions.qd[mask]
    v = values[mask]
    if not np.all(np.isfinite(v)):
        raise ValueError("values hold NaN or inf at a real rank")
    w = np.broadcast_to(_weights(sessions)[:, None], mask.shape)[mask]
    count = np.bincount(qd, weights=w, minlength=sessions.n_qd)
    total = np.bincount(qd, weights=w * v, minlength=sessions.n_qd)
    lo = np.full(sessions.n_qd, np.inf)
    hi = np.full(sessions.n_qd, -np.inf)
    np.minimum.at(lo, qd, v)
    np.maximum.at(hi, qd, v)
    shown = count > 0
    out = np.full(sessions.n_qd, np.nan)
    # Rounding can move a mean of equal values off the value; clipping to the observed range
    # restores it exactly, so that equal relevances stay ties for the ranking metrics.
    out[shown] = np.clip(total[shown] / count[shown], lo[shown], hi[shown])
    return out


class _Ranking(NamedTuple):
    """Judged shown documents of every query, ordered by query then decreasing relevance.

    Documents with equal relevance form a tie group; the metrics take their expectation over
    the orders of each group (McSherry & Najork, ECIR 2008), so no arbitrary tie-break counts.
    """

    label: np.ndarray  # per document, in ranked order
    group: np.ndarray  # tie group of each document
    group_query: np.ndarray  # per group: the position of its query in `queries`
    group_start: np.ndarray  # per group: 0-based rank of its first document inside its query
    group_size: np.ndarray
    ideal_label: np.ndarray  # labels sorted decreasing inside each query
    ideal_position: np.ndarray
    ideal_query: np.ndarray
    n_queries: int


def _positions(query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For a sorted query array: 0-based position inside each query's block, block index."""
    new = np.r_[True, query[1:] != query[:-1]]
    block = np.cumsum(new) - 1
    start = np.flatnonzero(new)
    return np.arange(query.size) - start[block], block


def _ranking(sessions: Sessions, relevance: np.ndarray, labels: np.ndarray) -> _Ranking:
    relevance = np.asarray(relevance, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    for name, arr in (("relevance", relevance), ("labels", labels)):
        if arr.shape != (sessions.n_qd,):
            raise ValueError(f"{name} must have shape ({sessions.n_qd},), got {arr.shape}")
    candidate = np.flatnonzero((qd_counts(sessions) > 0) & ~np.isnan(labels))
    if not np.all(np.isfinite(relevance[candidate])):
        raise ValueError("relevance is NaN or inf for a judged document shown in the sessions")
    query = sessions.qd_query[candidate]
    rel = relevance[candidate]
    label = labels[candidate]
    order = np.lexsort((-rel, query))
    query, rel, label = query[order], rel[order], label[order]
    position, block = _positions(query)
    new_group = (position == 0) | np.r_[True, rel[1:] != rel[:-1]]
    group = np.cumsum(new_group) - 1
    ideal = np.lexsort((-label, query))
    return _Ranking(
        label=label,
        group=group,
        group_query=block[new_group],
        group_start=position[new_group],
        group_size=np.bincount(group),
        ideal_label=label[ideal],
        ideal_position=position,
        ideal_query=block,
        n_queries=int(block[-1]) + 1 if block.size else 0,
    )


def _mean_over_queries(values: np.ndarray, defined: np.ndarray, metric: str) -> float:
    if not defined.any():
        raise ValueError(f"{metric}: no query has a shown document with a label above 0")
    return float(values[defined].mean())


def mrr(sessions: Sessions, relevance: np.ndarray, labels: np.ndarray) -> float:
    """Mean reciprocal rank of the first document with label > 0, ranked by `relevance`.

    Per query, the candidates are the query's qd pairs shown in `sessions` with a label (NaN
    labels are unjudged and left out), sorted by decreasing relevance; ties count by their
    expected reciprocal rank over random orders. The mean is unweighted over the queries that
    have at least one document with label > 0 (each query counts once, as in TREC and LETOR,
    however many sessions it has). relevance, labels: float [n_qd], e.g. from `per_qd`.
    """
    r = _ranking(sessions, relevance, labels)
    relevant = np.bincount(r.group, weights=(r.label > 0).astype(np.float64),
                           minlength=r.group_size.size)
    with_relevant = np.flatnonzero(relevant > 0)
    # Groups are in query order, so the first hit of each query is its first relevant group.
    query, first = np.unique(r.group_query[with_relevant], return_index=True)
    g = with_relevant[first]
    start, size, hits = r.group_start[g], r.group_size[g], relevant[g].astype(np.int64)
    # Inside a tie group of m documents with h relevant, the first relevant one sits at offset
    # x with probability C(m - 1 - x, h - 1) / C(m, h), x = 0 .. m - h.
    spread = size - hits + 1
    owner = np.repeat(np.arange(g.size), spread)
    x = np.arange(owner.size) - np.repeat(np.cumsum(spread) - spread, spread)
    m, h = size[owner], hits[owner]
    log_p = _log_comb(m - 1 - x, h - 1) - _log_comb(m, h)
    expected = np.bincount(owner, weights=np.exp(log_p) / (start[owner] + 1 + x),
                           minlength=g.size)
    values = np.zeros(r.n_queries)
    values[query] = expected
    defined = np.zeros(r.n_queries, dtype=bool)
    defined[query] = True
    return _mean_over_queries(values, defined, "MRR")


def _log_comb(n: np.ndarray, k: np.ndarray) -> np.ndarray:
    return special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(n - k + 1)


def ndcg_at_k(sessions: Sessions, relevance: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Mean nDCG@k over queries, ranking each query's judged shown documents by `relevance`.

    DCG@k = sum_{p < k} (2 ** label_p - 1) / log2(p + 2) (Burges et al. 2005, as PyClick and
    LETOR), divided by the DCG@k of the label-sorted order. Candidates, unjudged documents and
    the unweighted mean over queries with a label above 0 are as in `mrr`; a tie group shares
    its mean gain over the positions it spans (the expectation over its orders).
    """
    if k < 1:
        raise ValueError(f"nDCG@k needs k >= 1, got {k}")
    r = _ranking(sessions, relevance, labels)
    depth = int(r.group_size.max(initial=0) + r.group_start.max(initial=0))
    discount = 1.0 / np.log2(np.arange(depth) + 2.0)
    discount[k:] = 0.0
    cumulative = np.r_[0.0, np.cumsum(discount)]
    gain = 2.0 ** r.label - 1.0
    mean_gain = np.bincount(r.group, weights=gain) / r.group_size
    span = cumulative[r.group_start + r.group_size] - cumulative[r.group_start]
    dcg = np.bincount(r.group_query, weights=mean_gain * span, minlength=r.n_queries)
    ideal_gain = (2.0 ** r.ideal_label - 1.0) * discount[r.ideal_position]
    idcg = np.bincount(r.ideal_query, weights=ideal_gain, minlength=r.n_queries)
    defined = idcg > 0
    return _mean_over_queries(dcg / np.where(defined, idcg, 1.0), defined, "nDCG")


def recovery_error(
    true: np.ndarray,
    fitted: np.ndarray,
    counts: np.ndarray | None = None,
    min_count: float = 0,
) -> RecoveryError:
    """Mean and max of |fitted - true| over the entries of a parameter array.

    With `counts` (same shape, e.g. `qd_counts(train)` for a per-qd parameter) only entries
    with counts >= min_count take part, so that parameters the data hardly informs can be
    left out.
    """
    true = np.asarray(true, dtype=np.float64)
    fitted = np.asarray(fitted, dtype=np.float64)
    if true.shape != fitted.shape:
        raise ValueError(f"true has shape {true.shape} and fitted {fitted.shape}")
    if counts is None:
        if min_count:
            raise ValueError("min_count needs counts")
        keep = np.ones(true.shape, dtype=bool)
    else:
        counts = np.asarray(counts)
        if counts.shape != true.shape:
            raise ValueError(f"counts has shape {counts.shape}, the parameter {true.shape}")
        keep = counts >= min_count
    error = np.abs(fitted - true)[keep]
    if error.size == 0:
        raise ValueError(f"no parameter entry was shown at least {min_count} times")
    if not np.all(np.isfinite(error)):
        raise ValueError("true or fitted parameters hold NaN or inf")
    return RecoveryError(mae=float(error.mean()), max_error=float(error.max()),
                         entries=int(error.size))
