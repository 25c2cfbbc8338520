"""The `--prior` option shared by `clickfit fit` and `clickfit bench`: `--prior A B` for a
fixed Beta(A, B), `--prior empirical` for priors learned from the log (clicklog.priors);
`--no-prior` (its companion flag) for maximum likelihood."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from clicklog import priors


def parse(words: Sequence[str]) -> tuple[float, float] | str:
    """("empirical",) -> "empirical"; (A, B) -> (A, B) as floats; ValueError otherwise."""
    words = [str(w) for w in words]
    if len(words) == 1 and words[0].lower() == priors.EMPIRICAL:
        return priors.EMPIRICAL
    if len(words) != 2:
        raise ValueError(f"--prior takes two numbers A B or the word {priors.EMPIRICAL!r}, "
                         f"got {' '.join(words)!r}")
    try:
        a, b = (float(w) for w in words)
    except ValueError:
        raise ValueError(f"--prior A B needs two numbers, got {' '.join(words)!r}") from None
    if not (a >= 1.0 and b >= 1.0 and a < float("inf") and b < float("inf")):
        raise ValueError(f"--prior A B needs finite A, B >= 1, got {a:g} {b:g}")
    return a, b


class PriorAction(argparse.Action):
    """argparse action storing `parse(values)`, a usage error where it fails."""

    def __call__(self, parser, namespace, values, option_string=None):
        try:
            setattr(namespace, self.dest, parse(values))
        except ValueError as error:
            parser.error(str(error))


def add_prior_option(p: argparse.ArgumentParser, default: tuple[float, float]) -> None:
    """--prior (A B | empirical) and --no-prior on `p`."""
    p.add_argument("--prior", nargs="+", action=PriorAction, metavar="A B | empirical",
                   default=tuple(default),
                   help=f"Beta(A, B) prior, or 'empirical' to learn one Beta per qd-keyed "
                        f"family from the log (default: {default[0]:g} {default[1]:g})")
    p.add_argument("--no-prior", action="store_true", help="maximum likelihood, no prior")
