"""Fixtures of the clicklog tests: random Sessions, and comparison through original ids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clicklog.sessions import Sessions, from_arrays

FIXTURES = Path(__file__).parent / "fixtures"


def random_sessions(
    seed: int,
    n: int = 300,
    K: int = 6,
    string_ids: bool = True,
    weights: bool = True,
    extras: bool = False,
) -> Sessions:
    """Random sessions with variable page lengths, shuffled (not first-seen) vocabularies,
    fractional weights, and optionally labels and document features."""
    rng = np.random.default_rng(seed)
    n_queries, n_docs = 7, 25
    query = rng.integers(0, n_queries, n)
    docs = np.stack([rng.permutation(n_docs)[:K] for _ in range(n)])
    length = rng.integers(1, K + 1, n)
    click = rng.random((n, K)) < 0.3
    if string_ids:
        query_ids = np.array([f"q{i}_{i % 3}" for i in rng.permutation(n_queries)])
        doc_ids = np.array([f"http://d/{i}?x" for i in rng.permutation(n_docs)])
    else:
        query_ids = rng.permutation(n_queries) * 1000 + 7
        doc_ids = rng.permutation(n_docs).astype(np.int64) * 31 + 5
    weight = rng.choice([1.0, 2.0, 0.37, 5.5], n) if weights else None
    s = from_arrays(query, docs, click, length, weight, query_ids, doc_ids)
    if not extras:
        return s
    labels = rng.integers(0, 3, s.n_qd).astype(np.float32)
    labels[rng.random(s.n_qd) < 0.2] = np.nan
    features = rng.normal(size=(s.n_docs, 4)).astype(np.float32)
    qd_features = rng.normal(size=(s.n_qd, 3)).astype(np.float32)
    bias = np.where(s.mask[..., None], rng.integers(0, 2, (s.n, s.K, 2)), 0).astype(np.float32)
    return Sessions(
        **{f: getattr(s, f) for f in ("query", "qd", "doc", "click", "length", "weight")},
        query_ids=s.query_ids,
        doc_ids=s.doc_ids,
        qd_query=s.qd_query,
        qd_doc=s.qd_doc,
        labels=labels,
        doc_features=features,
        qd_features=qd_features,
        bias_features=bias,
    )


def by_ids(s: Sessions) -> dict[str, np.ndarray]:
    """The rows expressed through original ids, so that vocabulary order does not matter."""
    mask = s.mask
    doc = np.full(mask.shape, "", dtype=object)
    doc[mask] = s.doc_ids[s.doc[mask]].astype(str)
    return {
        "query": s.query_ids[s.query].astype(str),
        "doc": doc.astype(str),
        "click": s.click,
        "length": s.length.astype(np.int64),
        "weight": s.weight,
    }


def qd_is_one_per_pair(s: Sessions) -> bool:
    """At real ranks, equal qd indices <=> equal (query, doc)."""
    mask = s.mask
    pairs = np.stack([np.broadcast_to(s.query[:, None], mask.shape)[mask], s.doc[mask]])
    return np.unique(s.qd[mask]).size == np.unique(pairs, axis=1).shape[1]


def assert_same_by_ids(a: Sessions, b: Sessions) -> None:
    ia, ib = by_ids(a), by_ids(b)
    for name in ia:
        np.testing.assert_array_equal(ia[name], ib[name], err_msg=name)
    assert qd_is_one_per_pair(a) and qd_is_one_per_pair(b)


def assert_identical(a: Sessions, b: Sessions) -> None:
    """Every array equal, dtypes included (the Parquet guarantee)."""
    for name in ("query", "qd", "doc", "click", "length", "weight", "query_ids", "doc_ids",
                 "qd_query", "qd_doc", "labels", "doc_features", "qd_features",
                 "bias_features"):
        x, y = getattr(a, name), getattr(b, name)
        if x is None or y is None:
            assert x is None and y is None, name
            continue
        assert x.dtype == y.dtype, (name, x.dtype, y.dtype)
        np.testing.assert_array_equal(x, y, err_msg=name)


@pytest.fixture
def make_sessions():
    return random_sessions


@pytest.fixture
def same_by_ids():
    return assert_same_by_ids


@pytest.fixture
def identical():
    return assert_identical


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES
