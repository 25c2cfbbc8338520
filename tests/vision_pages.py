"""Test pages for the vision models (tests/em/test_vision.py, tests/gradient/test_vision.py).

Every click vector on two queries whose pages share documents, so that a document's vision
statistics gather over several query-document pairs: query 0 shows documents 0-3 on K = 4
results, query 1 documents 2-4 on 3 of K (the fourth rank padding).
"""

from __future__ import annotations

import numpy as np
import reference

from clicklog import catalogue
from clicklog.sessions import Sessions, from_arrays

K = 4
PAGES = ((0, K), (1, 3))  # (query, length)


def pages(rng: np.random.Generator | None = None) -> Sessions:
    """The sessions; with `rng`, rows shuffled, each page's documents permuted and the
    weights uneven."""
    cases = [(q, n, c) for q, n in PAGES for c in reference.all_click_vectors(n)]
    query = np.array([q for q, _, _ in cases])
    length = np.array([n for _, n, _ in cases])
    click = np.zeros((len(cases), K), bool)
    for row, (_, n, c) in enumerate(cases):
        click[row, :n] = c
    docs = np.arange(K)[None, :] + 2 * query[:, None]
    weight = None
    if rng is not None:
        docs = np.array([rng.permutation(row) for row in docs])
        weight = rng.uniform(0.5, 3.0, len(cases))
    sessions = from_arrays(query, docs, click, length=length, weight=weight)
    return sessions if rng is None else sessions.subset(rng.permutation(sessions.n))


def random_params(model: str, sessions: Sessions, seed: int) -> dict[str, np.ndarray]:
    """Every parameter of `model` drawn uniformly from [0.05, 0.95]."""
    rng = np.random.default_rng(seed)
    shapes = catalogue.parameter_shapes(model, K, sessions.n_qd, sessions.n_docs)
    return {name: rng.uniform(0.05, 0.95, shape) for name, shape in shapes.items()}


def enumerated(model: str, params: dict, sessions: Sessions, i: int):
    """(every path of session i's generative program, its clicks, its length)."""
    n = int(sessions.length[i])
    per_rank = reference.session_params(model, params, sessions.qd[i, :n], sessions.doc[i, :n])
    return reference.enumerate_session(model, per_rank, n), sessions.click[i, :n].astype(int), n
