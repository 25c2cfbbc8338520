"""Relevance intervals: how well the log measured each pair's relevance, for either engine.

`relevance_intervals(fit, sessions)` gives, per query-document pair, a central credible
interval (90% by default) of the model's relevance and the pair's effective number of
examinations, so that a user can tell a well-measured pair from one the prior decided
(DESIGN.md section 10; `clickfit fit --out` writes them as relevance_low, relevance_high,
examinations).

How. The EM engine's exact E-step is run once at the fit's parameters (whichever engine fitted
them: em and gradient stay independent, this module uses both), giving every parameter's
expected counts. A relevance parameter theta_k of a pair then has the Beta posterior

    theta_k | clicks  ~  Beta(a + s_k, b + t_k - s_k)

with (a, b) the fit's prior of that family (Beta(1, 1) without one) and (s_k, t_k) the pair's
binomial-equivalent counts (em.empirical.binomial_counts, the same data as the empirical
prior's type-II fit): the binomial with the score and the observed information of the pair's
likelihood at the fit (Louis's identity), so that an unclicked impression counts only as much
as it tells, not as a full examination with an imputed outcome; its mode is the fitted MAP.
The `examinations` column is the pair's expected number of examinations at the fit, the sum
over its impressions of P(E = 1 | clicks) (every shown result for the CTR models and DCTR);
the counts' trials are at most that.

Relevance is attraction for most models: its interval is the Beta's quantiles, exactly. DBN's
and SDBN's relevance is attraction * satisfaction: the interval is the empirical
quantiles of DRAWS products of independent draws from the two posteriors (seeded, so one seed
gives one table on any machine). GCTR's relevance is its one click rate (the Beta of its
counts); RCTR's, the mean of the per-rank rates over the pair's impressions (Monte Carlo).

Approximations, all of them plug-in ones: the counts are computed at the fitted parameters, so
the uncertainty of the other parameters (examination, continuation, taus: rank-level and well
measured) is left out, the posteriors of different parameters are taken as independent, and
a Beta with the likelihood's mode and curvature stands in for the likelihood itself. On
simulated logs the 90% intervals hold the true relevance of at least 85% of the pairs
(tests/benchmarks/test_intervals.py).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from clicklog import catalogue, priors
from clicklog.fit import Fit
from clicklog.sessions import Sessions
from em import empirical
from em.engine import check_compatible
from em.layout import layout
from em.saved import model_of

LEVEL = 0.9
DRAWS = 4000
CHUNK = 1024


def _posterior(fit: Fit, name: str, counts: tuple[np.ndarray, np.ndarray]):
    """The Beta(a + s, b + t - s) parameters of family `name` at counts (s, t)."""
    a, b = priors.prior_of(fit.prior, name) or (1.0, 1.0)
    s, t = (np.asarray(v, np.float64) for v in counts)
    t = np.clip(t, 0.0, None)
    s = np.clip(s, 0.0, t)
    return a + s, b + t - s


def _monte_carlo(sample, n: int, level: float, rng: np.random.Generator):
    """Central `level` quantiles of sample(rng, pairs) -> [DRAWS, len(pairs)], chunk by chunk."""
    low, high = np.empty(n), np.empty(n)
    tail = (1.0 - level) / 2.0
    for start in range(0, n, CHUNK):
        part = np.arange(start, min(start + CHUNK, n))
        draws = sample(rng, part)
        low[part], high[part] = np.quantile(draws, [tail, 1.0 - tail], axis=0)
    return low, high


def relevance_intervals(
    fit: Fit, sessions: Sessions, level: float = LEVEL, seed: int = 0
) -> dict[str, np.ndarray]:
    """Per qd pair of `sessions` (the fit's training sessions, or ones sharing their
    vocabulary): `relevance_low`, `relevance_high` (the central `level` interval, module
    docstring) and `examinations`; float64 [n_qd] each."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be inside (0, 1), got {level}")
    model = catalogue.base_model(fit.model)
    spec, params = model_of(fit, sessions)
    params = {k: np.asarray(v, np.float64) for k, v in params.items()}
    check_compatible(params, sessions)
    stats_, _ = spec.estep(layout(sessions), params)
    hidden, _ = spec.posteriors(params, sessions)
    rng = np.random.default_rng(seed)
    tail = (1.0 - level) / 2.0
    n = sessions.n_qd
    examinations = _expected(hidden.get("E"), sessions)
    if model in ("gctr", "rctr"):
        a, b = _posterior(fit, "ctr", stats_["ctr"])
        if model == "gctr":
            low, high = (np.full(n, stats.beta.ppf(q, a, b)) for q in (tail, 1.0 - tail))
        else:
            shares = _rank_shares(sessions)
            low, high = _monte_carlo(
                lambda g, part: g.beta(a, b, size=(DRAWS, a.size)) @ shares[:, part],
                n, level, rng)
    else:
        counts = empirical.binomial_counts(fit.model, spec, sessions, params, stats_)
        a, b = _posterior(fit, "attraction", counts["attraction"])
        if "satisfaction" in counts:
            sa, sb = _posterior(fit, "satisfaction", counts["satisfaction"])
            low, high = _monte_carlo(
                lambda g, part: g.beta(a[part], b[part], size=(DRAWS, part.size))
                * g.beta(sa[part], sb[part], size=(DRAWS, part.size)),
                n, level, rng)
        else:
            low, high = stats.beta.ppf(tail, a, b), stats.beta.ppf(1.0 - tail, a, b)
    return {"relevance_low": np.asarray(low, np.float64),
            "relevance_high": np.asarray(high, np.float64),
            "examinations": np.asarray(examinations, np.float64)}


def _expected(examined, sessions: Sessions) -> np.ndarray:
    """Per qd, weighted: sum of P(E = 1 | clicks) over its impressions (every real rank for
    models without an examination variable)."""
    mask = sessions.mask
    p = mask.astype(np.float64) if examined is None else examined[1]
    w = sessions.weight.astype(np.float64)[:, None] * p
    return np.bincount(sessions.qd[mask], weights=w[mask], minlength=sessions.n_qd)


def _rank_shares(sessions: Sessions) -> np.ndarray:
    """[K, n_qd]: the weighted share of each pair's impressions at each rank."""
    mask = sessions.mask
    w = np.broadcast_to(sessions.weight.astype(np.float64)[:, None], mask.shape)
    ranks = np.broadcast_to(np.arange(sessions.K)[None, :], mask.shape)
    shares = np.zeros((sessions.K, sessions.n_qd))
    np.add.at(shares, (ranks[mask], sessions.qd[mask]), w[mask])
    return shares / np.maximum(shares.sum(axis=0, keepdims=True), 1e-300)
