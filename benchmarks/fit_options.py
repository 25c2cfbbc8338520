"""What `clickfit fit` and `clickfit compare` share about running a fit from the command line:
the stopping options (defaults from clicklog.defaults, the ones em.fit and gradient.fit use),
a per-iteration progress bar, and the message of a fit that stopped without converging.

    --max-iter N       EM iterations or L-BFGS steps at most
    --tol T            stop once the per-impression objective moves by less than T
    --learning-rate, --batch-size, --epochs            minibatch Adam (gradient-adam)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from tqdm import tqdm

from benchmarks.bench import engines
from clicklog import defaults
from clicklog.fit import Fit
from em import loop

# A bar appears only once a fit has run this long, so quick fits print nothing.
PROGRESS_DELAY = 1.0


def add_arguments(parser: argparse.ArgumentParser, defaults_from: str = "clicklog") -> None:
    """The stopping and Adam options. defaults_from "clicklog": their defaults are the engines'
    (clickfit fit); "bench": unset means the benchmark's settings (clickfit compare)."""
    bench = defaults_from == "bench"
    em_bench = engines.SETTINGS[engines.EM]

    def shown(value: object, bench_text: str) -> str:
        return f"(default: {bench_text})" if bench else f"(default: {value})"

    parser.add_argument(
        "--max-iter", type=_positive_int, default=None if bench else defaults.MAX_ITER,
        help="EM iterations or L-BFGS steps at most "
             + shown(defaults.MAX_ITER, f"the benchmark's, {em_bench['max_iter']}"))
    parser.add_argument(
        "--tol", type=float, default=None,
        help="stop once the objective per impression changes by less than this between "
             "iterations " + shown(f"{defaults.TOL:g}; {defaults.TOL_FLOAT64:g} for "
                                   "gradient-lbfgs, which runs in float64",
                                   f"the benchmark's, {em_bench['tol']:g} for em"))
    parser.add_argument("--learning-rate", type=float, default=defaults.LEARNING_RATE,
                        help=f"gradient-adam step size (default: {defaults.LEARNING_RATE})")
    parser.add_argument("--batch-size", type=_positive_int, default=defaults.BATCH_SIZE,
                        help=f"gradient-adam sessions per minibatch (default: "
                             f"{defaults.BATCH_SIZE})")
    parser.add_argument("--epochs", type=_positive_int, default=defaults.EPOCHS,
                        help=f"gradient-adam epochs at most (default: {defaults.EPOCHS})")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def cli_settings(engine: str, args: argparse.Namespace, prior) -> dict[str, Any]:
    """The engine's keyword arguments for `clickfit fit`: clicklog.defaults unless overridden;
    L-BFGS runs in float64 and Adam holds out 10% for early stopping, as in the benchmark."""
    if engine == engines.EM:
        out: dict[str, Any] = {"max_iter": args.max_iter,
                               "tol": defaults.TOL if args.tol is None else args.tol}
    elif engine == engines.LBFGS:
        out = {"optimizer": "lbfgs", "dtype": "float64", "max_iter": args.max_iter,
               "tol": defaults.gradient_tol("float64") if args.tol is None else args.tol}
    else:
        out = {**engines.SETTINGS[engines.ADAM], "learning_rate": args.learning_rate,
               "batch_size": args.batch_size, "epochs": args.epochs}
    out["prior"] = None if prior is None else (
        prior if isinstance(prior, str) else [float(prior[0]), float(prior[1])])
    return out


def bench_settings(engine: str, args: argparse.Namespace, prior) -> dict[str, Any]:
    """The benchmark's settings of `engine` (benchmarks.bench.engines), with the options the
    user gave on top (clickfit compare: unset options keep the benchmark's numbers)."""
    overrides: dict[str, Any] = {}
    if engine in (engines.EM, engines.LBFGS):
        if args.max_iter is not None:
            overrides["max_iter"] = args.max_iter
        if args.tol is not None:
            overrides["tol"] = args.tol
    elif engine == engines.ADAM:
        overrides = {"learning_rate": args.learning_rate, "batch_size": args.batch_size,
                     "epochs": args.epochs}
        overrides = {k: v for k, v in overrides.items() if v != engines.SETTINGS[engine][k]}
    return engines.settings(engine, prior, overrides)


def total_steps(engine: str, settings: dict) -> int:
    """The bar's length: iterations (EM), steps (L-BFGS) or epochs (Adam) at most."""
    if engine == engines.ADAM:
        return int(settings.get("epochs", defaults.EPOCHS))
    return int(settings.get("max_iter", defaults.MAX_ITER))


@contextmanager
def progress(label: str, engine: str, settings: dict, enabled: bool = True,
             position: int | None = None) -> Iterator[Callable[[dict], None] | None]:
    """A callback for em.fit / gradient.fit that drives a bar, shown once the fit has run for
    a second (None when disabled); the bar goes away when the fit ends."""
    if not enabled:
        yield None
        return
    unit = "epoch" if engine == engines.ADAM else "step" if engine == engines.LBFGS else "iter"
    bar = tqdm(total=total_steps(engine, settings), desc=label, unit=unit, leave=False,
               delay=PROGRESS_DELAY, file=sys.stderr, position=position, dynamic_ncols=True)

    def callback(entry: dict) -> None:
        done = entry.get("iteration")
        bar.update(done - bar.n if isinstance(done, int) else 1)
        bar.set_postfix_str(f"objective {entry['objective']:.6f}", refresh=False)

    try:
        yield callback
    finally:
        bar.close()


def not_converged(fit: Fit, engine: str, settings: dict) -> str | None:
    """What to tell the user when `fit` stopped before its stopping rule was met, else None."""
    if fit.converged:
        return None
    if engine == engines.ADAM:
        return (f"{fit.model} by {engine} did not converge: {fit.iterations} epochs without the "
                "held-out loss levelling off; raise --epochs (or --learning-rate)")
    history = fit.history
    tol = fit.settings.get("tol", settings.get("tol", defaults.TOL))
    stopped = f"it stopped after {fit.iterations} "
    advice = "raise --max-iter or loosen --tol"
    if engine == engines.EM and fit.settings.get("accelerate"):
        # The accelerated loops stop on em.loop.window_converged, not on one iteration's gain.
        window = min(loop.WINDOW, len(history) - 1)
        gain = abs(history[-1]["objective"] - history[-1 - window]["objective"]) if window else 0
        moved = (f", the objective moving by {gain:.1e} per impression over its last {window}"
                 if window else "")
        return (f"{fit.model} by {engine} did not converge: {stopped}iterations (--max-iter "
                f"{settings.get('max_iter')}){moved}, before {fit.settings['accelerate']}'s "
                f"stopping rule held (the gain over {loop.WINDOW} iterations and the gain still "
                f"to come both below {loop.MARGIN:g} x --tol = {loop.MARGIN * tol:.1e}); {advice}")
    moved = abs(history[-1]["objective"] - history[-2]["objective"]) if len(history) > 1 else None
    what = "iterations" if engine == engines.EM else "L-BFGS steps"
    change = f", the objective still moving by {moved:.1e} per impression" if moved else ""
    return (f"{fit.model} by {engine} did not converge: {stopped}{what} (--max-iter "
            f"{settings.get('max_iter')}){change}, above --tol {tol:g}; {advice}")
