"""`clickfit bench --datasets features`: parameters as functions of features, on pairs never shown.

DESIGN.md section 9. A table knows nothing about a query-document pair it never saw; a
function of the pair's features does. The benchmark simulates an MQ2008 click log
(benchmarks.simulate.letor.simulate_ranking_log: label-driven clicks, a noisy production
ranker) in which a seeded HELD_OUT share of the pairs is never shown, fits PBM, UBM and DBN
with attraction from a table, a linear function and an MLP of the pairs' 46 LETOR features
(sources={"attraction": ...}), by EM and by L-BFGS, and ranks each query's held-out pairs by
their fitted attraction, scored by nDCG@10 against the graded labels. Baselines on the same
pairs:

    chance        the expected nDCG@10 of a random order (every held-out pair of a table fit
                  has the prior's mode, so a table scores exactly this)
    ranker order  the production ranker's own score of the pair (the order it would have
                  shown them in; the simulator's fixed noisy score, from the same seed)

A query counts when its held-out pairs carry at least two different labels. Also per fit:
nDCG@10 on the shown pairs, fit seconds (compilation apart), iterations and convergence;
and the speed of the regression M-step (benchmarks.bench.mstep_speed). Writes
results/features.md (three tables and the claims), results/features.csv,
results/features-speed.csv and results/figures/features-ndcg.png.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from benchmarks.bench import figures, mstep_speed
from benchmarks.bench.ranking_data import mq2008_dir
from benchmarks.bench.tables import Column, fixed, markdown, plain
from benchmarks.simulate.letor import simulate_ranking_log
from clicklog import network
from clicklog.atomic import atomic_write
from clicklog.dedup import dedup

MODELS = ("pbm", "ubm", "dbn")
SOURCES = ("table", "linear", "mlp")
ENGINES = ("em", "gradient")
HELD_OUT = 0.3
N_SESSIONS = 20_000
SEED = 0
K = 10
PRIOR = (2.0, 2.0)
EM_SETTINGS = {"max_iter": 1000, "tol": 1e-6}
GRADIENT_SETTINGS = {"optimizer": "lbfgs", "dtype": "float64", "tol": 1e-7}


def _dcg(labels: np.ndarray) -> float:
    gains = 2.0 ** labels[:K] - 1.0
    return float(np.sum(gains / np.log2(np.arange(gains.size) + 2.0)))


def ndcg(query: np.ndarray, score: np.ndarray, labels: np.ndarray) -> float:
    """Mean over queries (with two labels or more) of nDCG@10 of the pairs ranked by score;
    ties share their mean gain, which is the expectation over their orders."""
    values = []
    for q in np.unique(query):
        at = query == q
        lab, s = labels[at].astype(np.float64), score[at]
        if np.unique(lab).size < 2:
            continue
        order = np.argsort(-s, kind="stable")
        lab_sorted, s_sorted = lab[order], s[order]
        gains = 2.0 ** lab_sorted - 1.0
        _, group, counts = np.unique(s_sorted, return_inverse=True, return_counts=True)
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


def make_log(path: Path, model: str, n_sessions: int = N_SESSIONS, seed: int = SEED):
    """(deduplicated sessions, held-out mask per pair, ranker score per pair)."""
    full = simulate_ranking_log(path, model, 1, seed)
    n_qd = full.sessions.n_qd
    held = np.random.default_rng([seed, 12]).random(n_qd) < HELD_OUT
    sim = simulate_ranking_log(path, model, n_sessions, seed, shown=~held)
    return dedup(sim.sessions), held, _pair_scores(full.world)


def _fit(engine: str, model: str, sessions, source: str):
    sources = {"attraction": source}
    if engine == "em":
        import em

        return em.fit(model, sessions, prior=PRIOR, sources=sources, **EM_SETTINGS)
    import gradient

    return gradient.fit(model, sessions, prior=PRIOR, sources=sources, **GRADIENT_SETTINGS)


def run_fits(path: Path, models=MODELS, sources=SOURCES, engines=ENGINES,
             n_sessions: int = N_SESSIONS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per model x engine x source, one row of baselines per model)."""
    rows, baselines = [], []
    for model in models:
        sessions, held, ranker = make_log(path, model, n_sessions)
        labels = sessions.labels
        shown = np.bincount(sessions.qd[sessions.mask], minlength=sessions.n_qd) > 0
        query = sessions.qd_query
        baselines.append({
            "model": model, "held_out_pairs": int(held.sum()), "shown_pairs": int(shown.sum()),
            "chance": chance(query[held], labels[held]),
            "ranker_order": ndcg(query[held], ranker[held], labels[held]),
        })
        for engine in engines:
            for source in sources:
                fit = _fit(engine, model, sessions, source)
                a = fit.params["attraction"]
                rows.append({
                    "model": model, "engine": engine, "source": source,
                    "ndcg_held_out": ndcg(query[held], a[held], labels[held]),
                    "ndcg_shown": ndcg(query[shown], a[shown], labels[shown]),
                    "fit_seconds": fit.fit_seconds, "compile_seconds": fit.compile_seconds,
                    "iterations": fit.iterations, "converged": bool(fit.converged),
                })
    return pd.DataFrame(rows), pd.DataFrame(baselines)


def claims(fits: pd.DataFrame, baselines: pd.DataFrame) -> pd.DataFrame:
    """Does feature-based attraction beat chance and the ranker order on held-out pairs?"""
    out = []
    base = baselines.set_index("model")
    for row in fits[fits.source != "table"].itertuples(index=False):
        b = base.loc[row.model]
        out.append({"model": row.model, "engine": row.engine, "source": row.source,
                    "ndcg_held_out": row.ndcg_held_out,
                    "beats_chance": bool(row.ndcg_held_out > b.chance),
                    "beats_ranker_order": bool(row.ndcg_held_out > b.ranker_order)})
    return pd.DataFrame(out)


def figure(fits: pd.DataFrame, baselines: pd.DataFrame, path: Path) -> None:
    fig = Figure(figsize=(4.0 * len(baselines), 3.6), layout="constrained")
    axes = fig.subplots(1, len(baselines), squeeze=False)[0]
    for ax, b in zip(axes, baselines.itertuples(index=False), strict=True):
        part = fits[fits.model == b.model]
        width = 0.38
        for i, engine in enumerate(ENGINES):
            rows = part[part.engine == engine].set_index("source").reindex(SOURCES)
            ax.bar(np.arange(len(SOURCES)) + (i - 0.5) * width, rows.ndcg_held_out, width,
                   label=engine)
        ax.axhline(b.chance, color="grey", linestyle=":", label="chance")
        ax.axhline(b.ranker_order, color="black", linestyle="--", label="ranker order")
        ax.set_xticks(np.arange(len(SOURCES)), SOURCES)
        ax.set_title(f"{b.model.upper()}: held-out pairs")
        ax.set_ylabel("nDCG@10")
    axes[0].legend(loc="lower right", fontsize="small")
    figures.save(fig, path)


FIT_COLUMNS = [
    Column("model", "model", plain, False), Column("engine", "engine", plain, False),
    Column("source", "attraction source", plain, False),
    Column("ndcg_held_out", "nDCG@10 held-out pairs", fixed(4)),
    Column("ndcg_shown", "nDCG@10 shown pairs", fixed(4)),
    Column("fit_seconds", "fit (s)", fixed(2)), Column("compile_seconds", "compile (s)", fixed(2)),
    Column("iterations", "iterations", plain), Column("converged", "converged", plain),
]
BASE_COLUMNS = [
    Column("model", "generator", plain, False),
    Column("held_out_pairs", "held-out pairs", plain), Column("shown_pairs", "shown pairs", plain),
    Column("chance", "chance", fixed(4)), Column("ranker_order", "ranker order", fixed(4)),
]
CLAIM_COLUMNS = [
    Column("model", "model", plain, False), Column("engine", "engine", plain, False),
    Column("source", "source", plain, False),
    Column("ndcg_held_out", "nDCG@10 held-out", fixed(4)),
    Column("beats_chance", "beats chance", plain, False),
    Column("beats_ranker_order", "beats ranker order", plain, False),
]
SPEED_COLUMNS = [
    Column("keys", "keys", lambda v: f"{int(v):,}"), Column("features", "features", plain),
    Column("source", "source", plain, False), Column("seconds", "M-step (s)", fixed(3)),
    Column("old_seconds", f"em/mlp.py of {mstep_speed.OLD_COMMIT} (s)", fixed(3)),
    Column("speedup", "old / new", fixed(1)),
    Column("loss", "-Q / T reached", fixed(6)), Column("old_loss", "old -Q / T", fixed(6)),
]


def write(results: Path, fits: pd.DataFrame, baselines: pd.DataFrame, speed: pd.DataFrame,
          load: str, seconds: float) -> list[Path]:
    results.mkdir(parents=True, exist_ok=True)
    (results / "figures").mkdir(exist_ok=True)
    made = [results / "features.md", results / "features.csv", results / "features-speed.csv",
            results / "figures" / "features-ndcg.png"]
    with atomic_write(made[1]) as f:
        fits.to_csv(f, index=False, float_format="%.10g")
    with atomic_write(made[2]) as f:
        speed.to_csv(f, index=False, float_format="%.10g")
    figure(fits, baselines, made[3])
    text = [
        "# Parameters as functions of features: attraction on pairs never shown",
        "",
        f"Written by `clickfit bench --datasets features` (benchmarks/bench/features.py) in "
        f"{seconds:.0f} s; load average at the end {load} (1, 5, 15 min). MQ2008 click logs of "
        f"{N_SESSIONS:,} sessions per generator, {HELD_OUT:.0%} of the pairs never shown; each "
        "generator's log fitted by its own model, Beta(2, 2) on the tables, none on a function; "
        f"EM {EM_SETTINGS}, L-BFGS {GRADIENT_SETTINGS}.",
        "",
        "## Baselines on the held-out pairs",
        "",
        markdown(baselines[[c.name for c in BASE_COLUMNS]], BASE_COLUMNS),
        "## Fits",
        "",
        markdown(fits[[c.name for c in FIT_COLUMNS]], FIT_COLUMNS),
        "![nDCG@10 on held-out pairs](figures/features-ndcg.png)",
        "",
        "The ranker order is the simulator's production ranker, whose fixed score is the "
        "logit of the label's attraction plus Normal(0, 1.5) noise: a noisy copy of the label "
        "itself, which the LETOR features predict less well.",
        "",
        "## Claims: feature-based attraction on held-out pairs",
        "",
        markdown(claims(fits, baselines), CLAIM_COLUMNS),
        "## Speed of the regression M-step",
        "",
        f"One M-step ({network.STEPS} conjugate-gradient iterations on soft targets, after "
        f"compilation) of em/sources.py, up to {mstep_speed.SIZES[-1][0]:,} keys; the old "
        f"solver (em/mlp.py of commit {mstep_speed.OLD_COMMIT}, MLP only) up to "
        f"{mstep_speed.OLD_MAX_KEYS:,} keys, in the same run. Both start from the same "
        "weights and run the same conjugate-gradient iterations, so they reach the same loss.",
        "",
        markdown(speed[[c.name for c in SPEED_COLUMNS]], SPEED_COLUMNS),
    ]
    with atomic_write(made[0]) as f:
        f.write("\n".join(text))
    return made


FEATURES = "features"
DESCRIPTIONS = {
    "features.md": "attraction as a table, a linear function or an MLP of the LETOR features: "
                   "nDCG@10 on pairs never shown, both engines, fit time; the M-step speed table",
    "features.csv": "the fits of features.md at full precision (CSV)",
    "features-speed.csv": "the regression M-step speed table of features.md (CSV)",
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


def run(results: Path, data_dir=None, n_sessions: int = N_SESSIONS) -> list[Path]:
    """The whole benchmark (module docstring); FileNotFoundError without MQ2008."""
    path = mq2008_dir(data_dir)
    if path is None:
        raise FileNotFoundError("--datasets features needs the MQ2008 sample (mq2008-sample) "
                                "under the shared data directory; pass --data DIR")
    started = time.perf_counter()
    fits, baselines = run_fits(path, n_sessions=n_sessions)
    speed = mstep_speed.measure()
    return write(results, fits, baselines, speed, mstep_speed.load_average(),
                 time.perf_counter() - started)
