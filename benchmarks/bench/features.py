"""`clickfit bench --datasets features`: parameters as functions of features, on pairs never shown.

DESIGN.md section 9. A table knows nothing about a query-document pair it never saw; a
function of the pair's features does. The question: do clicks, through a click model whose
attraction is a function of the features, give labels that rank never-shown pairs better
than the production ranker that produced the click log?

The log. benchmarks.simulate.letor.simulate_ranking_log on MQ2008: label-driven clicks, a
seeded HELD_OUT share of the pairs never shown (new pairs), and pages ordered by a production
ranker that is itself a function of the features, as real ones are
(benchmarks.simulate.letor_ranker.judged_ranker): ridge regression of the graded label on the
46 LETOR features of the pairs of a seeded JUDGED share of the queries (about 31 of 313), the
ridge strength chosen by cross-validation over those queries, its scores plus the simulator's
Gumbel noise per impression deciding which pairs are shown at which rank and which never (a
pair the ranker puts low in a long pool is rarely or never on a page). Why this ranker and not
the best single feature (BM25-like): picking a feature needs judgements too, and a ranker
fitted on a few judged queries is what a team has before click data; it uses the same
features as the click model, so any gain comes from the clicks. The former benchmark's
ranker, the logit of the label's attraction plus Normal(0, 1.5), copies the label, which no
real ranker can; its order is kept as a second, labelled baseline ("label-copy order"), and it
did not produce these logs. The judged queries are left out of every score (the ranker has
seen their labels).

Fits: PBM, UBM and DBN on their own generator's log, attraction from a table, a linear
function and an MLP of the features (sources={"attraction": ...}), by EM and by L-BFGS; each
query's pairs ranked by fitted attraction and scored by nDCG@10 against the graded labels on

    held-out pairs   the HELD_OUT pairs, never shown (the claim)
    shown pairs      pairs with at least one impression
    unshown pairs    the other pairs no page showed (the ranker's tail; selection-biased)

Baselines on the same pairs: chance (the exact expectation over random orders; every unseen
pair of a table fit has the prior's mode, so a table scores exactly this), ranker order (the
production ranker's own score), label-copy order, and "linear on all labels, cross-fitted":
the same ridge ranker fitted on the labels of all queries but the scored one's fold
(CROSS_FOLDS folds of the queries, letor_ranker.cross_fitted_ranker), where a linear function
of the features gets with (almost) every judgement, so that readers see how far the clicks and the
production ranker are from it. A query counts when its pairs in the set carry two labels or
more. Everything is repeated for SEEDS (log, held-out pairs, judged
queries and ranker all drawn from the seed) and reported as mean and standard deviation over
seeds; the claims table gives, per fit, the paired difference from chance and from the
ranker order (mean ± standard error over seeds) and decides by it (features_claims.verdict).
The MLP is fitted on every seed, like the linear function, with its weight prior l2 chosen
per seed on the first generator's log from clicks alone (choose_l2), so its claims are
decided by the same paired standard errors.

How many judgements are the clicks worth? The judged-share sweep repeats every seed with the
production ranker fitted on SWEEP's other shares of the queries (3% and 30% besides JUDGED's
10%): each share's ranker orders its own logs and its claims are paired with its own order,
on the queries it did not judge. Only SWEEP_SOURCES (linear) is fitted at those shares, in
both engines and all three models: the benchmark must stay under about 700 s on a quiet
2-core machine, and the MLP with its l2 choice would about double the sweep's cost.

Also per fit: fit seconds (compilation apart), iterations, convergence and the objective
reached, so that the report can compare the optima EM and L-BFGS reach; and the speed of the
regression M-step (benchmarks.bench.mstep_speed). Writes results/features.md
(tables and claims), results/features.csv (every fit of every seed),
results/features-baselines.csv (the baselines each claim is paired with),
results/features-speed.csv and results/figures/features-ndcg.png.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.bench import features_report, mstep_speed
from benchmarks.bench.ranking_data import mq2008_dir
from benchmarks.metrics import log_likelihood
from benchmarks.simulate.letor import simulate_ranking_log
from benchmarks.simulate.letor_ranker import cross_fitted_ranker, judged_queries, judged_ranker
from clicklog.dedup import dedup
from clicklog.split import split_by_query

MODELS = ("pbm", "ubm", "dbn")
SOURCES = ("table", "linear", "mlp")
ENGINES = ("em", "gradient")
HELD_OUT = 0.3
JUDGED = 0.1
# The judged-share sweep: the same seeds' logs again, each ordered by a ranker fitted on the
# judgements of SWEEP's shares of the queries (nested: the judged queries of a smaller share
# are among those of a larger one), fitted with SWEEP_SOURCES only. Linear only: it is what the
# claim turns on (the MLP stays behind the linear function at JUDGED), and the MLP's fits and
# l2 choice would double the benchmark's time (budget: under about 700 s on a quiet 2-core
# machine).
SWEEP = (0.03, 0.3)
SWEEP_SOURCES = ("linear",)
# Folds of the cross-fitted "linear on all labels" baseline: each query scored by the ridge
# ranker fitted on the labels of the other 90% of the queries.
CROSS_FOLDS = 10
# 20,000 sessions: more clicks on the same pages hardly move a linear attraction (PBM seed 1,
# EM: held-out nDCG@10 0.7991 at 20,000 sessions, 0.7922 at 100,000); what spreads the
# comparison with the ranker is the seed (judged queries, ranker, held-out pairs), so the
# benchmark buys seeds rather than sessions.
N_SESSIONS = 20_000
SEED = 0
SEEDS = (0, 1, 2, 3, 4)
# Sources fitted on the first seed only (none: run_fits takes the option for short runs).
FIRST_SEED_ONLY: tuple[str, ...] = ()
K = 10
PRIOR = (2.0, 2.0)
# EM with a function attraction converges linearly and slowly: on PBM seed 1 the objective's
# gain shrinks by a factor 0.996-0.998 per iteration from iteration 50 on, so the loop's stop
# rule (gain and Aitken's estimate of the gain still to come below tol) holds after about 2,100
# iterations (20 s); a 300-iteration cap left PBM and UBM unconverged. 5000 is a budget, not
# a stop: every fit of the table stops on the rule.
EM_SETTINGS = {"max_iter": 5000, "tol": 1e-6}
# An MLP needs more than 1000 L-BFGS steps even with a weight prior (PBM seed 0, l2 = 1: the
# stop rule holds at step 1179).
GRADIENT_SETTINGS = {"optimizer": "lbfgs", "dtype": "float64", "tol": 1e-7, "max_iter": 5000}
# The MLP's weight prior (clicklog.network, option l2), chosen on each seed's log of the
# first generator by the click log alone and used for every generator: the candidates' L-BFGS
# fits on the sessions of 80% of the queries, scored by the log-likelihood of the other 20%
# queries' clicks, whose pairs the fit never saw (the held-out condition, without its labels).
# Once per seed, not per generator: each candidate is an L-BFGS fit (l2 is traced, so the
# candidates share one compilation). On seed 0 the score rises from l2 = 1 to 100 for every
# generator (PBM -0.363, -0.262, -0.215; UBM -0.305, -0.240, -0.228; DBN -0.332, -0.308,
# -0.270 nats for l2 = 1, 10, 100), so the grid starts at 100.
L2_GRID = (100.0, 1000.0, 10000.0)
VALIDATION = 0.2

def _dcg(labels: np.ndarray) -> float:
    gains = 2.0 ** labels[:K] - 1.0
    return float(np.sum(gains / np.log2(np.arange(gains.size) + 2.0)))


# Scores closer than this to their neighbour in the order are tied: a function that the
# weight prior has flattened to a constant (an MLP at a large l2: its output layer at 0) still
# gives its keys scores that differ at rounding level, and an order by rounding is no ranking.
TIE = 1e-9


def ndcg(query: np.ndarray, score: np.ndarray, labels: np.ndarray) -> float:
    """Mean over queries (with two labels or more) of nDCG@10 of the pairs ranked by score;
    ties (chains of scores each within TIE of the next) share their mean gain, which is the
    expectation over their orders."""
    values = []
    for q in np.unique(query):
        at = query == q
        lab, s = labels[at].astype(np.float64), score[at]
        if np.unique(lab).size < 2:
            continue
        order = np.argsort(-s, kind="stable")
        lab_sorted, s_sorted = lab[order], s[order]
        gains = 2.0 ** lab_sorted - 1.0
        group = np.concatenate([[0], np.cumsum(-np.diff(s_sorted) > TIE)])
        counts = np.bincount(group)
        mean_gain = np.bincount(group, weights=gains) / counts
        discount = 1.0 / np.log2(np.arange(lab.size) + 2.0)
        discount[K:] = 0.0
        values.append(float(np.sum(mean_gain[group] * discount)) / _dcg(np.sort(lab)[::-1]))
    return float(np.mean(values)) if values else float("nan")


def chance(query: np.ndarray, labels: np.ndarray) -> float:
    """The expected nDCG@10 of a random order (all scores tied: exact, no sampling needed)."""
    return ndcg(query, np.zeros(query.size), labels)


def _pair_scores(world) -> np.ndarray:
    """The production ranker's fixed score per pair index, from the world's pools."""
    score = np.full(world.n_qd, np.nan)
    valid = world.pool_qd >= 0
    score[world.pool_qd[valid]] = world.score[valid]
    return score


@dataclass(frozen=True)
class Ranker:
    """The production ranker of a seed: score per pair, the judged queries' pairs it was fitted
    on, its ridge strength; the former label-copy ranker's score, for comparison; and the
    same ridge ranker cross-fitted on the labels of all queries (the linear ceiling)."""

    score: np.ndarray
    judged: np.ndarray
    ridge: float
    label_copy: np.ndarray
    all_labels: np.ndarray


def ranker(path: Path, seed: int = SEED, share: float | None = None,
           all_labels: np.ndarray | None = None) -> Ranker:
    """The seed's feature-based production ranker fitted on the judgements of `share` of the
    queries (default JUDGED; module docstring); the same for every generator, since it sees
    only features and the judged labels. `all_labels`: the seed's cross-fitted ranker if
    already computed (it does not depend on the share)."""
    sim = simulate_ranking_log(path, "pbm", 1, seed)
    s = sim.sessions
    judged = judged_queries(s.n_queries, JUDGED if share is None else share, [seed, 7])
    score, strength = judged_ranker(s.qd_features, s.labels, s.qd_query, judged, [seed, 8])
    if all_labels is None:
        all_labels, _ = cross_fitted_ranker(s.qd_features, s.labels, s.qd_query, [seed, 9],
                                            CROSS_FOLDS)
    return Ranker(score, judged[s.qd_query], strength, _pair_scores(sim.world), all_labels)


def make_log(path: Path, model: str, n_sessions: int = N_SESSIONS, seed: int = SEED,
             production: Ranker | None = None):
    """(deduplicated sessions, held-out mask per pair (never shown), production ranker's score
    per pair) for `model`'s clicks on pages ordered by the seed's ranker."""
    production = production or ranker(path, seed)
    held = np.random.default_rng([seed, 12]).random(production.score.size) < HELD_OUT
    sim = simulate_ranking_log(path, model, n_sessions, seed, shown=~held,
                               ranker_score=production.score)
    return dedup(sim.sessions), held, production.score


def _spec(source: str, l2: float | None) -> str | dict:
    """The attraction source of a fit: the MLP with its chosen weight prior."""
    return {"kind": source, "l2": l2} if source == "mlp" else source


def _fit(engine: str, model: str, sessions, source: str | dict):
    sources = {"attraction": source}
    if engine == "em":
        import em

        return em.fit(model, sessions, prior=PRIOR, sources=sources, **EM_SETTINGS)
    import gradient

    return gradient.fit(model, sessions, prior=PRIOR, sources=sources, **GRADIENT_SETTINGS)


def choose_l2(model: str, sessions, seed: int, grid=L2_GRID) -> tuple[float, dict[float, float]]:
    """(the l2 of the MLP attraction with the best validation log-likelihood, that
    log-likelihood per candidate, nats per impression): L-BFGS fits on the sessions of
    1 - VALIDATION of the queries, scored on the clicks of the others (L2_GRID's comment).
    L-BFGS for the choice, as EM reaches the same optimum of the same objective, slower."""
    train, valid = split_by_query(sessions, VALIDATION, seed)
    scores = {}
    for l2 in grid:
        fit = _fit("gradient", model, train, _spec("mlp", l2))
        scores[l2] = log_likelihood(valid, fit.conditional_click_probs(valid))
    return max(grid, key=scores.__getitem__), scores


def run_fits(path: Path, models=MODELS, sources=SOURCES, engines=ENGINES,
             n_sessions: int = N_SESSIONS, seeds=SEEDS,
             first_seed_only=FIRST_SEED_ONLY, l2_grid=L2_GRID, sweep=SWEEP,
             sweep_sources=SWEEP_SOURCES) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per seed x judged share x model x engine x source, one row of baselines per
    seed x judged share x model); `sources` at the share JUDGED, `sweep_sources` (those of
    them in `sources`) at each share of `sweep`; the sources in `first_seed_only` are fitted
    on the first seed only; an MLP's l2 is chosen (choose_l2) per seed on the first
    generator's log at JUDGED, its validation scores kept in that generator's baselines row."""
    rows, baselines = [], []
    shares = (JUDGED, *(s for s in sweep if s != JUDGED))
    cross_fitted: dict[int, np.ndarray] = {}
    for seed, share in ((seed, share) for seed in seeds for share in shares):
        production = ranker(path, seed, share, cross_fitted.get(seed))
        cross_fitted[seed] = production.all_labels
        l2 = None
        share_sources = sources if share == JUDGED else [s for s in sources
                                                         if s in sweep_sources]
        for model in models:
            sessions, held, score = make_log(path, model, n_sessions, seed, production)
            labels, query = sessions.labels, sessions.qd_query
            shown = np.bincount(sessions.qd[sessions.mask], minlength=sessions.n_qd) > 0
            scored = ~production.judged
            sets = {"held_out": held & scored, "shown": shown & scored,
                    "unshown": ~held & ~shown & scored}
            base = {"seed": seed, "judged": share, "model": model, "sessions": n_sessions,
                    "ridge": production.ridge, "judged_pairs": int(production.judged.sum()),
                    "judged_queries": int(np.unique(query[production.judged]).size)}
            for name, at in sets.items():
                base[f"{name}_pairs"] = int(at.sum())
                base[f"chance_{name}"] = chance(query[at], labels[at])
                base[f"ranker_{name}"] = ndcg(query[at], score[at], labels[at])
                base[f"label_copy_{name}"] = ndcg(query[at], production.label_copy[at],
                                                  labels[at])
                base[f"all_labels_{name}"] = ndcg(query[at], production.all_labels[at],
                                                  labels[at])
            fitted = [s for s in share_sources if s not in first_seed_only or seed == seeds[0]]
            if "mlp" in fitted and l2 is None:
                l2, scores = choose_l2(model, sessions, seed, l2_grid)
                base.update({f"validation_l2_{c:g}": v for c, v in scores.items()})
            if "mlp" in fitted:
                base["l2"] = l2
            baselines.append(base)
            for engine in engines:
                for source in fitted:
                    fit = _fit(engine, model, sessions, _spec(source, l2))
                    a = fit.params["attraction"]
                    rows.append({
                        "seed": seed, "judged": share, "model": model, "engine": engine,
                        "source": source,
                        "l2": l2 if source == "mlp" else np.nan,
                        **{f"ndcg_{name}": ndcg(query[at], a[at], labels[at])
                           for name, at in sets.items()},
                        "fit_seconds": fit.fit_seconds, "compile_seconds": fit.compile_seconds,
                        "iterations": fit.iterations, "converged": bool(fit.converged),
                        "objective": fit.history[-1]["objective"],
                    })
    return pd.DataFrame(rows), pd.DataFrame(baselines)


FEATURES = "features"
DESCRIPTIONS = {
    "features.md": "attraction as a table, a linear function or an MLP of the LETOR features: "
                   "nDCG@10 on pairs never shown against a feature-based production ranker, "
                   "both engines, several seeds, fit time; the M-step speed table",
    "features.csv": "every fit of every seed of features.md at full precision (CSV)",
    "features-speed.csv": "the regression M-step speed table of features.md (CSV)",
    "features-baselines.csv": "the baselines of every seed, judged share and generator of "
                              "features.md (chance, ranker order, label-copy, linear on all "
                              "labels; per set of pairs): with features.csv, the claims (CSV)",
    "figures/features-ndcg.png": "nDCG@10 on held-out pairs by attraction source and engine",
}


def run_in_bench(options) -> list[tuple[str, str]]:
    """`clickfit bench`'s features part for a runner.Options (data_dir, results_dir): nothing
    unless "features" is among its datasets; without MQ2008 it is skipped, or an error where
    --data was given or features were asked for by name (options.require_features)."""
    if FEATURES not in options.datasets:
        return []
    if mq2008_dir(options.data_dir) is None and not (
        options.data_dir or getattr(options, "require_features", False)
    ):
        return []
    made = run(Path(options.results_dir), options.data_dir)
    root = Path(options.results_dir)
    return [(str(p.relative_to(root)), DESCRIPTIONS[str(p.relative_to(root))]) for p in made]


def run(results: Path, data_dir=None, n_sessions: int = N_SESSIONS, seeds=SEEDS) -> list[Path]:
    """The whole benchmark (module docstring); FileNotFoundError without MQ2008."""
    path = mq2008_dir(data_dir)
    if path is None:
        raise FileNotFoundError("--datasets features needs the MQ2008 sample (mq2008-sample) "
                                "under the shared data directory; pass --data DIR")
    started = time.perf_counter()
    fits, baselines = run_fits(path, n_sessions=n_sessions, seeds=seeds)
    speed = mstep_speed.measure()
    setup = {"order": {"model": MODELS, "engine": ENGINES, "source": SOURCES},
             "sessions": n_sessions, "held_out": HELD_OUT, "judged": JUDGED, "seeds": seeds,
             "sweep": SWEEP, "sweep_sources": SWEEP_SOURCES, "cross_folds": CROSS_FOLDS,
             "first_seed_only": FIRST_SEED_ONLY, "l2_grid": L2_GRID, "validation": VALIDATION,
             "em": EM_SETTINGS, "gradient": GRADIENT_SETTINGS}
    return features_report.write(results, fits, baselines, speed, mstep_speed.load_average(),
                                 time.perf_counter() - started, setup)
