"""The benchmark's datasets: what each one is, how big it is at each size, how to load it.

Three families, all split into training and test sessions, test restricted to the queries seen
in training (as PyClick and CLAX evaluate):

    simulated        one larger log from the DBN generator (benchmarks.simulate), the main
                     table's simulated dataset: every model, every engine, parameter recovery
    generator-<m>    a small log from each of the ten generators, every model fitted with EM:
                     the generator-by-fitted-model log-likelihood matrix
    yandex           the real Yandex sample (../shared/data/yandex-wscd-sample): train =
                     trainSample, test = testSample, read with one shared vocabulary
    ranking          clicks simulated on MQ2008 by each generator, relevance ranked against
                     the graded labels (benchmarks.bench.ranking; its own logs and jobs)

Simulated logs draw training and test sessions from one simulation (same world, same truth):
the first n_train sessions train, the rest test. The Yandex dataset is identified by a hash of
its two files, not by their path, so a moved copy still hits the cache.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from benchmarks.simulate import simulate
from clicklog import catalogue
from clicklog.paths import yandex_sample_paths
from clicklog.readers import read_many
from clicklog.sessions import Sessions
from clicklog.split import restrict_to_seen_queries

SIMULATED = "simulated"
GENERATORS = "generators"
YANDEX = "yandex"
# Fitted and written by its own runner (benchmarks.bench.ranking_report); no DatasetSpec here.
RANKING = "ranking"
# Attraction from features on MQ2008 pairs never shown (benchmarks.bench.features); its own runner.
FEATURES = "features"
FAMILIES: tuple[str, ...] = (SIMULATED, GENERATORS, YANDEX, RANKING, FEATURES)

MAIN_GENERATOR = "dbn"
K = 10


@dataclass(frozen=True)
class Size:
    """Session counts of the simulated datasets at one `--size`."""

    main_train: int
    main_test: int
    main_queries: int
    generator_train: int
    generator_test: int
    generator_queries: int


SIZES: dict[str, Size] = {
    "tiny": Size(2_000, 1_000, 20, 1_000, 500, 10),
    "default": Size(50_000, 20_000, 100, 10_000, 5_000, 50),
    "full": Size(500_000, 100_000, 1_000, 50_000, 25_000, 200),
}


@dataclass(frozen=True)
class DatasetSpec:
    """Everything that determines a dataset's sessions (and so its part of a cache key)."""

    name: str
    family: str
    generator: str | None = None
    n_train: int = 0
    n_test: int = 0
    n_queries: int = 0
    seed: int = 0
    fingerprint: str = ""

    def key(self) -> dict:
        return asdict(self)

    @property
    def simulated(self) -> bool:
        return self.generator is not None


class Split(NamedTuple):
    train: Sessions
    test: Sessions
    truth: dict[str, np.ndarray] | None
    test_dropped: int


def simulated_spec(generator: str, size: Size, main: bool, seed: int = 0) -> DatasetSpec:
    if main:
        return DatasetSpec(
            name=SIMULATED, family=SIMULATED, generator=generator, n_train=size.main_train,
            n_test=size.main_test, n_queries=size.main_queries, seed=seed,
        )
    return DatasetSpec(
        name=f"generator-{generator}", family=GENERATORS, generator=generator,
        n_train=size.generator_train, n_test=size.generator_test,
        n_queries=size.generator_queries, seed=seed,
    )


def yandex_files(data_dir: str | os.PathLike | None) -> tuple[Path, Path] | None:
    """(trainSample, testSample) under the shared data directory, None where absent."""
    return yandex_sample_paths(data_dir)


def fingerprint(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def yandex_spec(files: tuple[Path, Path]) -> DatasetSpec:
    return DatasetSpec(name=YANDEX, family=YANDEX, fingerprint=fingerprint(list(files)))


def registry(
    size: str, families: tuple[str, ...] = FAMILIES, data_dir: str | os.PathLike | None = None
) -> tuple[list[DatasetSpec], tuple[Path, Path] | None]:
    """The datasets of a run, in table order, and the Yandex files (None where absent)."""
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; known: {', '.join(SIZES)}")
    unknown = set(families) - set(FAMILIES)
    if unknown:
        raise ValueError(f"unknown datasets {sorted(unknown)}; known: {', '.join(FAMILIES)}")
    sizes = SIZES[size]
    specs = []
    if SIMULATED in families:
        specs.append(simulated_spec(MAIN_GENERATOR, sizes, main=True))
    files = yandex_files(data_dir) if YANDEX in families else None
    if files is not None:
        specs.append(yandex_spec(files))
    if GENERATORS in families:
        specs.extend(simulated_spec(m, sizes, main=False) for m in catalogue.MODELS)
    return specs, files


def load(spec: DatasetSpec, yandex: tuple[Path, Path] | None = None) -> Split:
    """Training and test sessions of a dataset (and the generating parameters if simulated)."""
    if spec.simulated:
        return _load_simulated(spec)
    if yandex is None:
        raise FileNotFoundError("the Yandex sample is not there; pass --data or set CLICKFIT_DATA")
    return _load_yandex(yandex)


def _split(train: Sessions, test: Sessions, truth: dict | None) -> Split:
    kept = restrict_to_seen_queries(test, train)
    return Split(train, kept.sessions, truth, kept.removed_sessions)


def _load_simulated(spec: DatasetSpec) -> Split:
    sim = simulate(
        spec.generator, spec.n_train + spec.n_test, seed=spec.seed, n_queries=spec.n_queries, K=K
    )
    rows = np.arange(sim.sessions.n)
    return _split(sim.sessions.subset(rows < spec.n_train),
                  sim.sessions.subset(rows >= spec.n_train), sim.truth)


def _load_yandex(files: tuple[Path, Path]) -> Split:
    train, test = read_many(list(files))
    return _split(train, test, None)
