"""`clickfit paper vision-bias`: the evaluation of Xu et al., "Incorporating Vision Bias into
Click Models for Image-oriented Search Engine" (2021), under the paper's own conditions, on
simulated logs (the paper's log is not public).

Data: benchmarks.simulate.paper_image, a paper-shaped image-search log (variable page lengths
of about five results, ~25 sessions per query type with a Zipf law fitted to the paper's
totals, about one click per session, 64 image features, a nonlinear feature-driven sigma_d),
split 75/25 by session order, the test restricted to training queries and images. One dataset
per click generator (GENERATORS), all on the same world, pages and seed: vUBM-2 (the paper's
model), UBM (no vision bias: the control) and DBN with feature-driven examination (outside the
vision family), so that the paper's ordering claims are tested on data the winning model did
not generate.

Models: UBM, vUBM-1, vUBM-2, PBM, vPBM-1, vPBM-2. Column groups (ENGINES):

    em        standard EM, one sigma_d per image (eqs. 9-14), Beta(2, 2) prior, Anderson
    em-mlp    regression-based EM: sigma_d from the features by an MLP (16, 8 tanh units)
              fitted to the E-step's soft targets S1/T in each M-step (the parameter-source
              solver, em/sources.py); PBM and UBM are em's fits
    em-paper  the paper's Algorithm 1: hard 0/1 targets (1 where a document's posterior is
              above the average posterior), sigmoid hidden units, no prior on anything,
              attraction started at alpha = 0.2; its own PBM and UBM (no prior, alpha 0.2)
    gradient  L-BFGS in float64 on the same objective as em, the same MLP trained end to end

Every fit runs until its objective changes by less than its tolerance per impression
(EM_SETTINGS, NETWORK_EM_SETTINGS, GRADIENT_SETTINGS); the iteration cap is a safety net
only, and cells.csv and fits.csv record iterations and convergence, with a footnote in every
table for a fit that did not converge. Everything is seeded, so the tables are the same on
any machine and thread count to their printed precision
(tests/benchmarks/test_paper_vision_determinism.py).

Outputs (benchmarks.paper_vision_tables, benchmarks.paper_vision_claims) go to
results/paper/vision-bias/ (vision-bias-paper-size/ for --size paper, vision-bias-N-sessions/
for --sessions N). `--cost-only` measures what a size would cost instead of running it
(benchmarks.paper_vision_cost); `--from-cells` rewrites claims.md and Figure 3 from a run's
cells.csv and fits.csv. Fits are cached like
`clickfit bench`'s (benchmarks.bench.cache): a killed run resumes, a second run refits
nothing, and a change to the code refits what it affects.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks import paper_vision_claims as claims
from benchmarks import paper_vision_tables as output
from benchmarks.bench import cache
from benchmarks.memory import track_peak_memory
from benchmarks.metrics import per_qd
from benchmarks.paper_vision_format import Layout, write_json
from benchmarks.simulate import paper_image
from clicklog.fit import Fit
from clicklog.sessions import Sessions

# Under the working directory, as `clickfit bench` writes, never into an installed package.
DEFAULT_RESULTS = Path("results")
DEFAULT_CACHE = Path(".cache") / "paper-vision"
STEMS = {"default": Path("paper") / "vision-bias",
         "paper": Path("paper") / "vision-bias-paper-size"}

SEED = 2021
PRIOR = (2.0, 2.0)
GENERATORS: tuple[str, ...] = paper_image.GENERATORS
MODELS: tuple[str, ...] = ("ubm", "vubm-1", "vubm-2", "pbm", "vpbm-1", "vpbm-2")
BASE: dict[str, str] = {"vubm-1": "ubm", "vubm-2": "ubm", "vpbm-1": "pbm", "vpbm-2": "pbm"}
ENGINES: dict[str, str] = {
    "em": "standard EM",
    "em-mlp": "regression-based EM (soft targets)",
    "em-paper": "regression-based EM (paper's Algorithm 1)",
    "gradient": "gradient (L-BFGS)",
}
SIZES: dict[str, int] = {"default": 40_000, "paper": paper_image.PAPER_SESSIONS}
# Caps that a converging fit never reaches; a fit that does is reported as not converged.
# Tolerances per impression: table EM under Anderson and float64 L-BFGS reach 1e-8 in tens to
# hundreds of steps; EM with a network M-step converges linearly (no accelerator for a network)
# and needs ~0.1 s an iteration at the default size, so it stops at 1e-6.
EM_SETTINGS = {"max_iter": 20_000, "tol": 1e-8}
NETWORK_EM_SETTINGS = {"max_iter": 20_000, "tol": 1e-6}
GRADIENT_SETTINGS = {"optimizer": "lbfgs", "max_iter": 20_000, "tol": 1e-8, "dtype": "float64"}
SOFT_SOURCE = {"kind": "mlp", "hidden": (16, 8), "activation": "tanh", "target": "soft"}
PAPER_SOURCE = {"kind": "mlp", "hidden": (16, 8), "activation": "sigmoid", "target": "hard"}
PAPER_INIT = {"attraction": 0.2}


def stem(n_sessions: int) -> Path:
    """Where a run's outputs go, under the results root: one folder per size."""
    named = {n: name for name, n in SIZES.items()}
    if n_sessions in named:
        return STEMS[named[n_sessions]]
    return Path("paper") / f"vision-bias-{n_sessions}-sessions"


@dataclass(frozen=True)
class Dataset:
    """One generator's log, split: `name` is the generator."""

    name: str
    train: Sessions
    test: Sessions
    zipf_exponent: float
    sessions: int


def make_datasets(n_sessions: int, generators: tuple[str, ...] = GENERATORS,
                  seed: int = SEED) -> list[Dataset]:
    """Every generator's log of `n_sessions` on the one seeded world, split (module docstring)."""
    out = []
    for generator in generators:
        log = paper_image.simulate_paper_log(generator, n_sessions, seed)
        train, test = paper_image.split(log.sessions)
        out.append(Dataset(generator, train, test, log.zipf_exponent, n_sessions))
    return out


def fit_model(engine: str, model: str, train: Sessions) -> Fit:
    """One fit of the protocol (module docstring)."""
    vision = model in BASE
    if engine == "gradient":
        import gradient

        sources = {"vision": SOFT_SOURCE} if vision else None
        return gradient.fit(model, train, prior=PRIOR, sources=sources, seed=SEED,
                            **GRADIENT_SETTINGS)
    import em

    if engine == "em-paper":
        if vision:
            return em.fit(model, train, prior=None, init=PAPER_INIT,
                          sources={"vision": PAPER_SOURCE}, seed=SEED, **NETWORK_EM_SETTINGS)
        return em.fit(model, train, prior=None, init=PAPER_INIT, accelerate=True,
                      **EM_SETTINGS)
    if engine == "em-mlp" and vision:
        return em.fit(model, train, prior=PRIOR, sources={"vision": SOFT_SOURCE}, seed=SEED,
                      **NETWORK_EM_SETTINGS)
    return em.fit(model, train, prior=PRIOR, accelerate=True, **EM_SETTINGS)


def fitted_by(engine: str, model: str) -> str:
    """The engine whose fit a cell uses: regression-based EM shares EM's PBM and UBM."""
    return "em" if engine == "em-mlp" and model not in BASE else engine


def predict(fit: Fit, test: Sessions) -> output.Prediction:
    return output.Prediction(
        click=fit.click_probs(test),
        conditional=fit.conditional_click_probs(test),
        relevance=per_qd(test, fit.relevance(test)),
    )


def _record(fit: Fit, test: Sessions) -> dict:
    p = predict(fit, test)
    return {
        "click": cache.pack(p.click, "float64"),
        "conditional": cache.pack(p.conditional, "float64"),
        "relevance": cache.pack(p.relevance, "float64"),
        "fit_seconds": fit.fit_seconds,
        "iterations": fit.iterations,
        "converged": bool(fit.converged),
    }


def _from_record(rec: dict) -> output.Prediction:
    return output.Prediction(*(cache.unpack(rec[k]) for k in ("click", "conditional",
                                                                "relevance")))


def _settings(engine: str) -> dict:
    common = {"seed": SEED, "generators": GENERATORS}
    if engine == "gradient":
        return {**common, "prior": PRIOR, "gradient": GRADIENT_SETTINGS, "source": SOFT_SOURCE}
    em_settings = {"table": EM_SETTINGS, "network": NETWORK_EM_SETTINGS}
    if engine == "em-paper":
        return {**common, "prior": None, "init": PAPER_INIT, "em": em_settings,
                "source": PAPER_SOURCE}
    return {**common, "prior": PRIOR, "em": em_settings, "source": SOFT_SOURCE}


def run_fits(
    data: list[Dataset],
    cache_dir: Path,
    engines: tuple[str, ...] = tuple(ENGINES),
    fit_fn: Callable[[str, str, Sessions], Fit] = fit_model,
    progress: bool = True,
) -> tuple[dict[tuple[str, str, str], output.Prediction], list[dict]]:
    """Test predictions of every (dataset, engine, model), cached fit by fit, and one row per
    fit (dataset, engine, model, iterations, converged, fit_seconds)."""
    todo = sorted({(d.name, fitted_by(e, m), m) for d in data for e in engines for m in MODELS},
                  key=lambda job: (GENERATORS.index(job[0]), list(ENGINES).index(job[1]),
                                   MODELS.index(job[2])))
    by_name = {d.name: d for d in data}
    done, fits = {}, []
    for i, (name, engine, model) in enumerate(todo, start=1):
        d = by_name[name]
        dataset = {"simulator": "paper_image", "generator": name, "seed": SEED,
                   "sessions": d.sessions}
        code = cache.code_fingerprint("gradient" if engine == "gradient" else "em")
        key = cache.fit_key(dataset, model, engine, _settings(engine), code)
        path = cache.record_path(cache_dir, f"vision-bias-{name}-{d.sessions}", model, engine,
                                 key)
        rec = cache.load(path)
        if rec is None:
            started = time.perf_counter()
            rec = _record(fit_fn(engine, model, d.train), d.test)
            cache.store(path, rec)
            if progress:
                flag = "" if rec["converged"] else " (NOT converged)"
                print(f"[{i}/{len(todo)}] {name} {engine} {model}: {rec['iterations']} "
                      f"iterations, {time.perf_counter() - started:.1f} s{flag}",
                      file=sys.stderr, flush=True)
        done[(name, engine, model)] = _from_record(rec)
        fits.append({"dataset": name, "engine": engine, "model": model,
                     "iterations": int(rec["iterations"]), "converged": bool(rec["converged"]),
                     "fit_seconds": float(rec["fit_seconds"])})
    predictions = {(d.name, e, m): done[(d.name, fitted_by(e, m), m)]
                   for d in data for e in engines for m in MODELS}
    by_fit = {(f["dataset"], f["engine"], f["model"]): f for f in fits}
    rows = [{**by_fit[(d.name, fitted_by(e, m), m)], "engine": e}
            for d in data for e in engines for m in MODELS]
    return predictions, rows


def _intro(size_name: str, n_sessions: int, data: list[Dataset]) -> str:
    flag = f"--size {size_name}" if size_name in SIZES and SIZES[size_name] == n_sessions \
        else f"--sessions {n_sessions}"
    return (
        f"Rebuilt by `clickfit paper vision-bias {flag}` (benchmarks/paper_vision.py; protocol "
        f"in its docstring) on a simulated paper-shaped image-search log of {n_sessions:,} "
        f"sessions (benchmarks/simulate/paper_image.py), one dataset per click generator: "
        f"{', '.join(d.name for d in data)}. Query law P(q) ~ q^-{data[0].zipf_exponent:.3f} "
        "over the query types, fitted so that the rarest type expects one session at the "
        "paper's ratio of 25.3 sessions per query type."
    )


def run(size_name: str, results: Path, cache_dir: Path, engines: tuple[str, ...] = tuple(ENGINES),
        progress: bool = True, n_sessions: int | None = None,
        generators: tuple[str, ...] = GENERATORS) -> list[Path]:
    """Simulate, fit (or read the cache), and write the tables, figure and claims."""
    n_sessions = n_sessions or SIZES[size_name]
    started = time.perf_counter()
    with track_peak_memory() as memory:
        data = make_datasets(n_sessions, generators)
        predictions, fits = run_fits(data, cache_dir, engines, progress=progress)
    out = results / stem(n_sessions)
    layout = Layout(MODELS, BASE, ENGINES)
    files, df = output.write_all(data, predictions, fits, engines, out, layout,
                                 _intro(size_name, n_sessions, data))
    files.append(claims.write_claims(df, fits, [d.name for d in data], engines, layout,
                                     out / "claims.md"))
    files.append(write_json(out / "run.json", {
        "sessions": n_sessions, "generators": list(generators), "engines": list(engines),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "peak_memory_mib": round(memory.peak / 2**20, 1),
    }))
    return files


def main(args: argparse.Namespace) -> int:
    engines = tuple(args.engines.split(","))
    unknown = set(engines) - set(ENGINES)
    if unknown:
        print(f"clickfit paper vision-bias: unknown engines {sorted(unknown)}; "
              f"known: {','.join(ENGINES)}", file=sys.stderr)
        return 2
    generators = tuple(args.generators.split(","))
    if set(generators) - set(GENERATORS):
        print(f"clickfit paper vision-bias: unknown generators "
              f"{sorted(set(generators) - set(GENERATORS))}; known: {','.join(GENERATORS)}",
              file=sys.stderr)
        return 2
    if args.sessions is not None and args.sessions < 1_000:
        print("clickfit paper vision-bias: --sessions must be at least 1000", file=sys.stderr)
        return 2
    if args.from_cells:
        out = Path(args.results) / stem(args.sessions or SIZES[args.size])
        if not (out / "cells.csv").exists():
            print(f"clickfit paper vision-bias: no cells.csv in {out}; run the command "
                  "without --from-cells first", file=sys.stderr)
            return 2
        files = claims.rewrite_claims(out, Layout(MODELS, BASE, ENGINES))
    elif args.cost_only:
        from benchmarks import paper_vision_cost

        files = paper_vision_cost.measure(args.sessions or SIZES[args.size], Path(args.results),
                                          engines)
    else:
        files = run(args.size, Path(args.results), Path(args.cache), engines,
                    progress=not args.no_progress, n_sessions=args.sessions,
                    generators=generators)
    for path in files:
        print(path)
    return 0


def add_parser(papers: argparse._SubParsersAction) -> None:
    """The `vision-bias` command under `clickfit paper`."""
    p = papers.add_parser("vision-bias", help="Xu et al.'s vision-bias tables 1-7, figure 3 "
                          "and claims", description=__doc__.split("\n\n")[0])
    p.add_argument("--size", choices=tuple(SIZES), default="default",
                   help=f"default: {SIZES['default']:,} sessions (minutes on two cores); "
                        f"paper: the paper's {SIZES['paper']:,}")
    p.add_argument("--sessions", type=int, metavar="N", default=None,
                   help="any number of sessions instead of --size")
    p.add_argument("--engines", default=",".join(ENGINES),
                   help="comma-separated column groups (default: " + ",".join(ENGINES) + ")")
    p.add_argument("--generators", default=",".join(GENERATORS),
                   help="comma-separated click generators, a dataset each (default: "
                        + ",".join(GENERATORS) + ")")
    p.add_argument("--results", metavar="DIR", type=Path, default=DEFAULT_RESULTS,
                   help=f"results root; tables go to DIR/{STEMS['default']}, "
                        f"DIR/{STEMS['paper']} or DIR/paper/vision-bias-N-sessions "
                        f"(default: {DEFAULT_RESULTS})")
    p.add_argument("--cache", metavar="DIR", type=Path, default=DEFAULT_CACHE,
                   help=f"fit cache; delete it to refit everything (default: {DEFAULT_CACHE})")
    p.add_argument("--cost-only", action="store_true",
                   help="measure seconds per iteration and peak memory of each column group at "
                        "this size and project the full run's time (cost.md), fitting nothing "
                        "to convergence")
    p.add_argument("--from-cells", action="store_true",
                   help="rewrite claims.md and Figure 3 from the cells.csv and fits.csv of "
                        "this size's results, fitting nothing")
    p.add_argument("--no-progress", action="store_true", help="no progress lines")
    p.set_defaults(func=main)
