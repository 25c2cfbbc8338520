"""The measuring half of `clickfit throughput`, run as a script in a fresh process.

It imports only numpy, `clicklog` and `em`, from whichever source tree is first on
PYTHONPATH, so that the same measurement runs on the working tree and on a checkout of the
committed code (benchmarks/throughput.py drives both and writes the table). Input: an .npz
of session arrays (independent of either tree's Parquet format): in mode "dedup" the raw
log, whose deduplication is timed; in mode "models" the deduplicated one, on which each
model is measured. Output: JSON lines on stdout, the copy bandwidth first.

Per model: the E-step alone (`spec.estep` on a prepared layout, the best of `repeats` calls
after an untimed one that compiles and warms caches), the whole EM iteration (plain EM,
`em.fit` with max_iter iterations and tolerance 0: the fit's own clock over its iterations,
so layout building and compilation are excluded), and the memory floor's bytes (what the
kernel must read at least: the layout arrays it touches and the parameter arrays).
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np


def _sessions(path: str):
    from clicklog.sessions import Sessions

    with np.load(path) as data:
        return Sessions(**{name: data[name] for name in data.files})


def _floor_bytes(lay, params) -> int:
    per_session = lay.length.nbytes + lay.weight.nbytes + lay.last.nbytes
    arrays = lay.qd.nbytes + lay.click.nbytes + per_session
    return int(arrays + sum(np.asarray(v).nbytes for v in params.values()))


def measure(model: str, sessions, repeats: int, iterations: int) -> dict:
    import em
    from em.engine import get_model, initial_params
    from em.layout import layout

    spec = get_model(model)
    params = initial_params(spec.parameters, sessions)
    lay = layout(sessions)
    spec.estep(lay, params)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        spec.estep(lay, params)
        times.append(time.perf_counter() - start)
    fit = em.fit(model, sessions, max_iter=iterations, tol=0.0)
    seconds = [entry["seconds"] for entry in fit.history]
    per_iteration = (seconds[-1] - seconds[0]) / max(len(seconds) - 1, 1)
    return {
        "model": model,
        "impressions": float(np.sum(sessions.length)),
        "estep_seconds": float(np.min(times)),
        "iteration_seconds": float(per_iteration),
        "floor_bytes": _floor_bytes(lay, params),
    }


def copy_bandwidth(n_bytes: int = 1 << 28, repeats: int = 5) -> float:
    """Bytes per second of a numpy copy (read plus write) of an n_bytes array, the best of
    `repeats` after one untimed copy."""
    source = np.ones(n_bytes // 8)
    target = np.empty_like(source)
    np.copyto(target, source)
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        np.copyto(target, source)
        best = min(best, time.perf_counter() - start)
    return 2 * source.nbytes / best


def time_dedup(raw, repeats: int) -> tuple[float, int]:
    """(The best of `repeats` runs of clicklog.dedup on `raw`, compiled first; rows after)."""
    from clicklog import dedup

    dedup(raw.subset(np.arange(min(raw.n, 1000))))
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        rows = dedup(raw).n
        best = min(best, time.perf_counter() - start)
    return best, rows


def main(argv: list[str]) -> None:
    mode, path, repeats, iterations, *models = argv
    sessions = _sessions(path)
    print(json.dumps({"bandwidth": copy_bandwidth()}), flush=True)
    if mode == "dedup":
        seconds, rows = time_dedup(sessions, int(repeats))
        print(json.dumps({"dedup_seconds": seconds, "rows": rows}), flush=True)
    for model in models:
        print(json.dumps(measure(model, sessions, int(repeats), int(iterations))), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
