"""The fit cache: one JSON file per fit under `.cache/bench/`, written atomically.

A fit's key is a hash of everything that determines its result: the dataset spec, the model,
the engine and its settings, the source code that fits and scores it (`code_fingerprint`), and
CACHE_VERSION, raised whenever a record's layout changes. A run that finds the key's file skips
the fit, so a killed run resumes where it stopped and a second run refits nothing, while a
change to an engine, the data layer, the simulator or the metrics refits what it affects
instead of serving stale numbers. Arrays travel inside the JSON as zlib-compressed base64
(`pack`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import zlib
from functools import cache
from pathlib import Path

import numpy as np

from clicklog.atomic import atomic_write

CACHE_VERSION = 1
REPO = Path(__file__).resolve().parents[2]
# Source that produces a record, besides the engine's own package: sessions and readers,
# simulated data, metrics, and the scoring of a fit.
SHARED_SOURCES = (
    "clicklog",
    "benchmarks/simulate",
    "benchmarks/metrics.py",
    "benchmarks/bench/datasets.py",
    "benchmarks/bench/record.py",
    "benchmarks/bench/recovery.py",
)


@cache
def code_fingerprint(package: str, root: Path = REPO) -> str:
    """Hash of the Python source an engine package's records depend on."""
    digest = hashlib.sha256()
    for part in (package, *SHARED_SOURCES):
        path = root / part
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for file in files:
            if file.is_file():
                digest.update(file.relative_to(root).as_posix().encode())
                digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def fit_key(dataset: dict, model: str, engine: str, settings: dict, code: str = "") -> str:
    payload = {
        "version": CACHE_VERSION,
        "dataset": dataset,
        "model": model,
        "engine": engine,
        "settings": settings,
        "code": code,
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def record_path(cache_dir: str | os.PathLike, dataset: str, model: str, engine: str,
                key: str) -> Path:
    """The record's file; its name starts with what it holds, so the cache can be browsed."""
    return Path(cache_dir) / f"{dataset}--{model}--{engine}--{key}.json"


def load(path: Path) -> dict | None:
    """The cached record, or None where there is none (atomic writes leave no partial file)."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def store(path: Path, record: dict) -> None:
    with atomic_write(path) as f:
        json.dump(record, f, indent=1, allow_nan=False)


def pack(values: np.ndarray, dtype: str = "float32") -> dict:
    """An array as JSON: dtype, shape and its compressed bytes in base64."""
    arr = np.ascontiguousarray(values, dtype=dtype)
    data = base64.b64encode(zlib.compress(arr.tobytes(), 6)).decode("ascii")
    return {"dtype": dtype, "shape": list(arr.shape), "zlib_base64": data}


def unpack(packed: dict) -> np.ndarray:
    raw = zlib.decompress(base64.b64decode(packed["zlib_base64"]))
    return np.frombuffer(raw, dtype=packed["dtype"]).reshape(packed["shape"])
