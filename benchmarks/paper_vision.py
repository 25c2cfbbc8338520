"""`clickfit paper vision-bias`: the evaluation of Xu et al., "Incorporating Vision Bias into
Click Models for Image-oriented Search Engine" (2021), rebuilt in its own layout on simulated
image-search logs (the paper's log is not public).

Data: benchmarks.simulate.simulate_image_search with the vUBM-2 generator (documents with
feature vectors and a nonlinear, feature-driven sigma_d), Zipf query frequencies so that the
query-frequency buckets of the paper's Table 1 are populated, a training log and an
independent test log of the same world, the test restricted to training queries. Two
datasets from one seed: "vision" (vision_strength 1: the data carries vision bias) and
"control" (strength 0: sigma_d = 0, so the clicks are plain UBM clicks on the same pages).

Models: UBM, vUBM-1, vUBM-2, PBM, vPBM-1, vPBM-2, Beta(2, 2) prior. Three column groups
(engines): standard EM (per-document sigma_d, eqs. 9-14), regression-based EM (sigma_d from
the features by an MLP fitted in each M-step, section 4.2) and gradient descent (L-BFGS on the
same objective, the same MLP trained end to end). PBM and UBM have no sigma: the two EM groups
share one fit of each.

Tables 1-7 and Figure 3 (benchmarks.paper_vision_tables) go to results/paper/vision-bias/.
Fits are cached like `clickfit bench`'s (benchmarks.bench.cache): a killed run resumes, a
second run refits nothing, and a change to an engine's code refits what it affects.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks import paper_vision_tables as output
from benchmarks.bench import cache
from benchmarks.metrics import per_qd
from benchmarks.simulate import sample_sessions, simulate_image_search
from clicklog.fit import Fit
from clicklog.sessions import Sessions
from clicklog.split import restrict_to_seen_queries

REPO = Path(__file__).resolve().parent.parent
DEFAULT_RESULTS = REPO / "results"
DEFAULT_CACHE = REPO / ".cache" / "paper-vision"
STEM = Path("paper") / "vision-bias"

GENERATOR = "vubm-2"
SEED = 2021
PRIOR = (2.0, 2.0)
DATASETS: dict[str, float] = {"vision": 1.0, "control": 0.0}
MODELS: tuple[str, ...] = ("ubm", "vubm-1", "vubm-2", "pbm", "vpbm-1", "vpbm-2")
BASE: dict[str, str] = {"vubm-1": "ubm", "vubm-2": "ubm", "vpbm-1": "pbm", "vpbm-2": "pbm"}
ENGINES: dict[str, str] = {
    "em": "standard EM",
    "em-mlp": "regression-based EM",
    "gradient": "gradient (L-BFGS)",
}
EM_SETTINGS = {"max_iter": 200, "tol": 1e-7}
GRADIENT_SETTINGS = {"optimizer": "lbfgs", "max_iter": 1000, "dtype": "float32"}


@dataclass(frozen=True)
class Size:
    train: int
    test: int
    queries: int
    docs: int


SIZES: dict[str, Size] = {
    "default": Size(train=40_000, test=10_000, queries=2_000, docs=2_000),
    "full": Size(train=400_000, test=100_000, queries=20_000, docs=20_000),
}


@dataclass(frozen=True)
class Dataset:
    name: str
    strength: float
    train: Sessions
    test: Sessions


def make_datasets(size: Size, seed: int = SEED) -> list[Dataset]:
    """Both datasets: one world, pages and seed; only the vision strength differs."""
    out = []
    for name, strength in DATASETS.items():
        sim = simulate_image_search(GENERATOR, size.train, seed, vision_strength=strength,
                                    n_queries=size.queries, n_docs=size.docs)
        test = sample_sessions(sim, size.test, (seed, 1))
        out.append(Dataset(name, strength, sim.sessions,
                           restrict_to_seen_queries(test, sim.sessions).sessions))
    return out


def fit_model(
    engine: str, model: str, train: Sessions, em_settings: dict | None = None,
    gradient_settings: dict | None = None,
) -> Fit:
    """One fit of the protocol (module docstring); the settings default to EM_SETTINGS and
    GRADIENT_SETTINGS."""
    vision = "mlp" if engine != "em" and model in BASE else "per-doc"
    if engine == "gradient":
        import gradient

        settings = gradient_settings or GRADIENT_SETTINGS
        return gradient.fit(model, train, prior=PRIOR, vision=vision, **settings)
    import em

    return em.fit(model, train, prior=PRIOR, vision=vision, **(em_settings or EM_SETTINGS))


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


def run_fits(
    data: list[Dataset],
    size: Size,
    cache_dir: Path,
    engines: tuple[str, ...] = tuple(ENGINES),
    fit_fn: Callable[[str, str, Sessions], Fit] = fit_model,
    progress: bool = True,
) -> dict[tuple[str, str, str], output.Prediction]:
    """Test predictions of every (dataset, engine, model), cached fit by fit."""
    todo = sorted({(d.name, fitted_by(e, m), m) for d in data for e in engines for m in MODELS},
                  key=lambda job: (list(DATASETS).index(job[0]), list(ENGINES).index(job[1]),
                                   MODELS.index(job[2])))
    by_name = {d.name: d for d in data}
    done = {}
    for i, (name, engine, model) in enumerate(todo, start=1):
        dataset = {"generator": GENERATOR, "seed": SEED, "strength": DATASETS[name],
                   **asdict(size)}
        settings = {"prior": PRIOR, "em": EM_SETTINGS, "gradient": GRADIENT_SETTINGS}
        code = cache.code_fingerprint("gradient" if engine == "gradient" else "em")
        key = cache.fit_key(dataset, model, engine, settings, code)
        path = cache.record_path(cache_dir, f"vision-bias-{name}", model, engine, key)
        rec = cache.load(path)
        if rec is None:
            started = time.perf_counter()
            rec = _record(fit_fn(engine, model, by_name[name].train), by_name[name].test)
            cache.store(path, rec)
            if progress:
                print(f"[{i}/{len(todo)}] {name} {engine} {model}: "
                      f"{time.perf_counter() - started:.1f} s", file=sys.stderr)
        done[(name, engine, model)] = _from_record(rec)
    return {(d.name, e, m): done[(d.name, fitted_by(e, m), m)]
            for d in data for e in engines for m in MODELS}


def run(size_name: str, results: Path, cache_dir: Path, engines: tuple[str, ...] = tuple(ENGINES),
        progress: bool = True, size: Size | None = None) -> list[Path]:
    """Simulate, fit (or read the cache), and write the tables and figure; return the files."""
    size = size or SIZES[size_name]
    data = make_datasets(size)
    predictions = run_fits(data, size, cache_dir, engines, progress=progress)
    intro = (
        f"Rebuilt by `clickfit paper vision-bias --size {size_name}` (benchmarks/paper_vision.py;"
        " protocol in its docstring). Training and test logs are simulated by the "
        f"{GENERATOR} generator with document features and a nonlinear feature-driven sigma_d "
        f"({size.train:,} training and {size.test:,} test sessions before restricting the test "
        f"to training queries; {size.queries:,} Zipf queries; {size.docs:,} documents). "
        "`vision` carries vision bias; `control` is the same pages and seed with sigma_d = 0."
    )
    layout = output.Layout(MODELS, BASE, ENGINES)
    return output.write_all(data, predictions, engines, results / STEM, layout, intro)


def main(args: argparse.Namespace) -> int:
    engines = tuple(args.engines.split(","))
    unknown = set(engines) - set(ENGINES)
    if unknown:
        print(f"clickfit paper vision-bias: unknown engines {sorted(unknown)}; "
              f"known: {','.join(ENGINES)}", file=sys.stderr)
        return 2
    files = run(args.size, Path(args.results), Path(args.cache), engines,
                progress=not args.no_progress)
    for path in files:
        print(path)
    return 0


def add_parser(papers: argparse._SubParsersAction) -> None:
    """The `vision-bias` command under `clickfit paper`."""
    p = papers.add_parser("vision-bias", help="Xu et al.'s vision-bias tables 1-7 and figure 3",
                          description=__doc__.split("\n\n")[0])
    p.add_argument("--size", choices=tuple(SIZES), default="default",
                   help="simulated log sizes (default: a few minutes on two cores)")
    p.add_argument("--engines", default=",".join(ENGINES),
                   help="comma-separated column groups (default: " + ",".join(ENGINES) + ")")
    p.add_argument("--results", metavar="DIR", type=Path, default=DEFAULT_RESULTS,
                   help=f"results root; tables go to DIR/{STEM} (default: {DEFAULT_RESULTS})")
    p.add_argument("--cache", metavar="DIR", type=Path, default=DEFAULT_CACHE,
                   help=f"fit cache; delete it to refit everything (default: {DEFAULT_CACHE})")
    p.add_argument("--no-progress", action="store_true", help="no progress lines")
    p.set_defaults(func=main)
