"""A tiny LETOR file for the features benchmark's tests: the label grows with feature 1, plus
noise, so that no ranker is perfect."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_letor(path: Path, n_queries: int = 30, n_docs: int = 6, seed: int = 0) -> Path:
    """`path`/tiny.txt with n_queries x n_docs pairs, u = f1 + Normal(0, 0.15), label =
    [u > 0.45] + [u > 0.8], f2 noise, every docid distinct; returns `path`."""
    rng = np.random.default_rng(seed)
    lines = []
    for q in range(n_queries):
        for d in range(n_docs):
            f1, f2 = rng.random(), rng.random()
            u = f1 + 0.15 * rng.standard_normal()
            label = int(u > 0.45) + int(u > 0.8)
            lines.append(f"{label} qid:{q} 1:{f1:.4f} 2:{f2:.4f} #docid = D{q}-{d}\n")
    path.mkdir(parents=True, exist_ok=True)
    (path / "tiny.txt").write_text("".join(lines))
    return path
