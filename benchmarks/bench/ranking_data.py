"""The ranking benchmark's click logs and the baselines practitioners use instead of a model.

One log per generator, simulated on MQ2008 (../shared/data/mq2008-sample, 156 + 157 queries
with graded labels 0/1/2) by benchmarks.simulate.letor.simulate_ranking_log: label-driven
attraction (and satisfaction), a noisy production ranker, Zipf query frequencies over a random
query order, so most shown pairs are seen fewer than 10 times and a few hundreds of times.
A dataset is identified by a hash of the MQ2008 files, not by their path.

Baselines, each a per-pair score computed from the log alone (float64 [n_qd], NaN where the
pair is never shown):

    ctr          clicks / impressions: every unclicked impression counts as a negative,
                 below the last click too
    coec         clicks over expected clicks: clicks / sum over impressions of PBM's
                 examination at the shown rank (Zhang & Jones 2007, with PBM's fitted
                 examination as the expected click rate of a rank)
    skip-above   clicked impressions positive, unclicked ones above the page's last click
                 negative, those below it (and every result of a page without a click)
                 ignored; score = positives / (positives + negatives), and a pair with no
                 labelled impression gets the log's overall positive share (what a ranker
                 trained on these labels predicts for a pair it has no label for)
    shown-order  minus the pair's mean shown rank: the production ranker's own order
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from benchmarks.bench.datasets import fingerprint
from benchmarks.simulate.letor import letor_files, simulate_ranking_log
from clicklog.dedup import dedup
from clicklog.paths import shared_data_dir
from clicklog.sessions import Sessions

RANKING = "ranking"
MQ2008 = "mq2008-sample"
SEED = 0


@dataclass(frozen=True)
class RankingSize:
    """Sessions per generator's log and the Zipf exponent of query frequencies."""

    n_sessions: int
    zipf_exponent: float = 1.0


SIZES: dict[str, RankingSize] = {
    "tiny": RankingSize(2_000),
    "default": RankingSize(10_000),
    "full": RankingSize(50_000),
}


def mq2008_dir(data_dir: str | os.PathLike | None = None) -> Path | None:
    """The MQ2008 sample under the shared data directory, None where absent."""
    root = shared_data_dir(data_dir)
    path = None if root is None else root / MQ2008
    return path if path is not None and path.is_dir() else None


@dataclass(frozen=True)
class RankingSpec:
    """Everything that determines one generator's ranking log (its part of a cache key)."""

    generator: str
    n_sessions: int
    zipf_exponent: float
    seed: int
    fingerprint: str

    @property
    def name(self) -> str:
        return f"{RANKING}-{self.generator}"

    def key(self) -> dict:
        return {"family": RANKING, **asdict(self)}


def ranking_spec(generator: str, size: str, path: Path) -> RankingSpec:
    """The cacheable identity of one generator's ranking log."""
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; known: {', '.join(SIZES)}")
    return RankingSpec(generator=generator, n_sessions=SIZES[size].n_sessions,
                       zipf_exponent=SIZES[size].zipf_exponent, seed=SEED,
                       fingerprint=fingerprint(letor_files(path)))


def load_ranking(spec: RankingSpec, path: Path) -> Sessions:
    """The generator's log, deduplicated (as `clickfit fit` fits it), with labels and
    per-pair features."""
    sim = simulate_ranking_log(path, spec.generator, spec.n_sessions, spec.seed,
                               zipf_exponent=spec.zipf_exponent)
    return dedup(sim.sessions)


def _impression_arrays(sessions: Sessions) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                    np.ndarray]:
    """Per real impression: qd, weight, clicked, rank (0-based)."""
    mask = sessions.mask
    w = np.broadcast_to(sessions.weight.astype(np.float64)[:, None], mask.shape)
    rank = np.broadcast_to(np.arange(sessions.K)[None, :], mask.shape)
    return sessions.qd[mask], w[mask], sessions.click[mask], rank[mask]


def _ratio(sessions: Sessions, qd: np.ndarray, top: np.ndarray, bottom: np.ndarray,
           empty: float = np.nan) -> np.ndarray:
    num = np.bincount(qd, weights=top, minlength=sessions.n_qd)
    den = np.bincount(qd, weights=bottom, minlength=sessions.n_qd)
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), empty)


def ctr(sessions: Sessions) -> np.ndarray:
    """Raw click-through rate per pair (module docstring)."""
    qd, w, clicked, _ = _impression_arrays(sessions)
    return _ratio(sessions, qd, w * clicked, w)


def coec(sessions: Sessions, examination: np.ndarray) -> np.ndarray:
    """Clicks over expected clicks per pair, PBM's examination [K] per rank."""
    examination = np.asarray(examination, np.float64)
    if examination.shape != (sessions.K,):
        raise ValueError(f"examination must be [K={sessions.K}], got {examination.shape}")
    qd, w, clicked, rank = _impression_arrays(sessions)
    return _ratio(sessions, qd, w * clicked, w * examination[rank])


def skip_above(sessions: Sessions) -> np.ndarray:
    """Share of positive skip-above labels per pair (module docstring)."""
    last = np.where(sessions.click.any(axis=1),
                    sessions.K - 1 - np.argmax(sessions.click[:, ::-1], axis=1), -1)
    labelled = sessions.mask & (np.arange(sessions.K)[None, :] <= last[:, None])
    w = np.broadcast_to(sessions.weight.astype(np.float64)[:, None], labelled.shape)
    qd, weight, positive = sessions.qd[labelled], w[labelled], sessions.click[labelled]
    base = float(np.dot(weight, positive) / weight.sum()) if weight.sum() > 0 else 0.5
    shown = np.bincount(sessions.qd[sessions.mask], minlength=sessions.n_qd) > 0
    score = _ratio(sessions, qd, weight * positive, weight, empty=base)
    return np.where(shown, score, np.nan)


def shown_order(sessions: Sessions) -> np.ndarray:
    """Minus the mean 1-based rank at which each pair was shown."""
    qd, w, _, rank = _impression_arrays(sessions)
    return -_ratio(sessions, qd, w * (rank + 1.0), w)
