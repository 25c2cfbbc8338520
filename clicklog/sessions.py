"""The `Sessions` container: one search result page (SERP) impression per row, padded to K.

Every engine, metric and writer works on this one structure (DESIGN.md section 2):

    query   int32 [n]       query index
    qd      int32 [n, K]    query-document pair index; attraction and satisfaction are keyed on it
    doc     int32 [n, K]    document index, independent of the query (vision bias is keyed on it)
    click   bool  [n, K]    clicks
    length  int16 [n]       number of real results; ranks >= length are padding
    weight  float32 [n]     multiplicity after deduplication (1 without it)

Padding ranks hold qd = doc = -1 and click = False, so that an index used without its mask
fails loudly instead of silently reading parameter 0.

The vocabularies map indices back to the original ids: `query_ids[q]`, `doc_ids[d]`, and for a
query-document pair `qd_query[i]`, `qd_doc[i]` (indices into the two vocabularies). Sessions
built from one log share one vocabulary, so a test split indexes the same parameter arrays
as its training split. Optional extras:

    doc_features   float32 [n_docs, F]  per-document features (e.g. visual), vision bias
    labels         float32 [n_qd]       graded relevance (NaN where unjudged)
    qd_features    float32 [n_qd, F]    per query-document pair features (attraction and
                                        satisfaction sources); NaN rows for pairs of a shared
                                        vocabulary that these sessions' reader never saw
    bias_features  float32 [n, K, B]    per impression (row, rank) features (examination
                                        sources: device, result type); zeros at padded ranks

Row-wise fields (query, qd, doc, click, length, weight, bias_features) follow `subset`,
sorting, deduplication (bias features are part of a row's identity), splits and `concat`;
the vocabulary-wise ones are kept whole. `report` is the ReadReport of the read that produced
the rows (clicklog.io_report): provenance, carried along by subsets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from clicklog.io_report import ReadReport

PAD = -1


class SessionsError(ValueError):
    """A Sessions object whose arrays break the container's invariants."""


@dataclass(frozen=True, eq=False)
class Sessions:
    query: np.ndarray
    qd: np.ndarray
    doc: np.ndarray
    click: np.ndarray
    length: np.ndarray
    weight: np.ndarray
    query_ids: np.ndarray
    doc_ids: np.ndarray
    qd_query: np.ndarray
    qd_doc: np.ndarray
    doc_features: np.ndarray | None = None
    labels: np.ndarray | None = None
    qd_features: np.ndarray | None = None
    bias_features: np.ndarray | None = None
    source: str = field(default="")
    report: ReadReport | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        validate(self)

    @property
    def n(self) -> int:
        return int(self.query.shape[0])

    def __len__(self) -> int:
        return self.n

    @property
    def K(self) -> int:  # noqa: N802 - K is the click-model literature's name for the page size
        return int(self.qd.shape[1])

    @property
    def n_queries(self) -> int:
        return int(self.query_ids.shape[0])

    @property
    def n_docs(self) -> int:
        return int(self.doc_ids.shape[0])

    @property
    def n_qd(self) -> int:
        return int(self.qd_query.shape[0])

    @property
    def mask(self) -> np.ndarray:
        """bool [n, K]: True at real (unpadded) ranks."""
        return np.arange(self.K)[None, :] < self.length[:, None]

    @property
    def n_impressions(self) -> float:
        """Weighted number of real (session, rank) impressions."""
        return float(np.sum(self.weight.astype(np.float64) * self.length))

    @property
    def total_weight(self) -> float:
        return float(np.sum(self.weight, dtype=np.float64))

    def subset(self, index: np.ndarray, weight: np.ndarray | None = None) -> Sessions:
        """Rows selected by a boolean mask or an index array; vocabularies are kept whole.
        `weight`: the new rows' weights instead of theirs (one validation, not two)."""
        return replace(
            self,
            query=self.query[index],
            qd=self.qd[index],
            doc=self.doc[index],
            click=self.click[index],
            length=self.length[index],
            weight=self.weight[index] if weight is None else np.asarray(weight, np.float32),
            bias_features=None if self.bias_features is None else self.bias_features[index],
        )

    def sorted_by_query(self) -> Sessions:
        """Rows grouped by query (stable), as the parallel EM kernels want them."""
        return self.subset(np.argsort(self.query, kind="stable"))

    def with_weight(self, weight: np.ndarray) -> Sessions:
        return replace(self, weight=np.asarray(weight, dtype=np.float32))


def validate(s: Sessions) -> None:
    """Check shapes, dtypes, index ranges and padding; raise SessionsError naming the problem."""
    where = f"{s.source}: " if s.source else ""

    def fail(problem: str) -> None:
        raise SessionsError(where + problem)

    expected = {
        "query": (np.int32, 1),
        "qd": (np.int32, 2),
        "doc": (np.int32, 2),
        "click": (np.bool_, 2),
        "weight": (np.float32, 1),
        "query_ids": (None, 1),
        "doc_ids": (None, 1),
        "qd_query": (np.int32, 1),
        "qd_doc": (np.int32, 1),
    }
    for name, (dtype, ndim) in expected.items():
        arr = getattr(s, name)
        if not isinstance(arr, np.ndarray):
            fail(f"{name} must be a numpy array, got {type(arr).__name__}")
        if arr.ndim != ndim:
            fail(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
        if dtype is not None and arr.dtype != dtype:
            fail(f"{name} must have dtype {np.dtype(dtype)}, got {arr.dtype}")
    if s.length.ndim != 1 or s.length.dtype not in (np.int8, np.int16, np.int32):
        fail(f"length must be a 1-d int8/int16/int32 array, got {s.length.dtype} {s.length.shape}")
    n, K = s.qd.shape
    for name in ("query", "length", "weight"):
        if getattr(s, name).shape[0] != n:
            fail(f"{name} has {getattr(s, name).shape[0]} rows, qd has {n}")
    for name in ("doc", "click"):
        if getattr(s, name).shape != (n, K):
            fail(f"{name} has shape {getattr(s, name).shape}, qd has {(n, K)}")
    if s.qd_query.shape != s.qd_doc.shape:
        fail("qd_query and qd_doc must have the same length")
    _validate_extras(s, fail)
    if n == 0:
        return
    if s.length.min() < 1 or s.length.max() > K:
        fail(f"length must lie in [1, {K}], got [{s.length.min()}, {s.length.max()}]")
    bad_weight = ~(np.isfinite(s.weight) & (s.weight > 0))
    if bad_weight.any():
        row = int(np.argmax(bad_weight))
        fail(f"weight must be finite and positive as float32; weight[{row}] is {s.weight[row]}")
    if s.query.min() < 0 or s.query.max() >= s.n_queries:
        fail(f"query index out of range [0, {s.n_queries})")
    mask = s.mask
    for name, size in (("qd", s.n_qd), ("doc", s.n_docs)):
        arr = getattr(s, name)
        real = arr[mask]
        if real.size and (real.min() < 0 or real.max() >= size):
            fail(f"{name} index out of range [0, {size}) at a real rank")
        if np.any(arr[~mask] != PAD):
            fail(f"{name} must be {PAD} at padded ranks")
    if np.any(s.click[~mask]):
        fail("a click at a padded rank (rank >= length)")
    if s.n_qd:
        real_qd = s.qd[mask]
        rows = np.broadcast_to(s.query[:, None], mask.shape)[mask]
        if np.any(s.qd_query[real_qd] != rows):
            fail("a qd index belongs to another query than its session's")
        if np.any(s.qd_doc[real_qd] != s.doc[mask]):
            fail("a qd index and its doc index disagree with qd_doc")


def _validate_extras(s: Sessions, fail) -> None:
    """The optional feature and label arrays: shapes, dtypes, and for bias features the values
    at padded and real ranks."""
    n, K = s.qd.shape
    mask = s.mask
    if s.doc_features is not None:
        f = s.doc_features
        if f.ndim != 2 or f.shape[0] != s.n_docs or f.dtype != np.float32:
            fail(f"doc_features must be float32 [n_docs={s.n_docs}, F], got {f.dtype} {f.shape}")
    if s.labels is not None:
        if s.labels.shape != (s.n_qd,):
            fail(f"labels must have shape ({s.n_qd},), got {s.labels.shape}")
    if s.qd_features is not None:
        f = s.qd_features
        if not isinstance(f, np.ndarray) or f.ndim != 2 or f.shape[0] != s.n_qd:
            fail(f"qd_features must be float32 [n_qd={s.n_qd}, F], got {_describe(f)}")
        if f.dtype != np.float32:
            fail(f"qd_features must have dtype float32, got {f.dtype}")
    if s.bias_features is not None:
        f = s.bias_features
        if not isinstance(f, np.ndarray) or f.ndim != 3 or f.shape[:2] != (n, K):
            fail(f"bias_features must be float32 [n={n}, K={K}, B], got {_describe(f)}")
        if f.dtype != np.float32:
            fail(f"bias_features must have dtype float32, got {f.dtype}")
        if not np.all(np.isfinite(f[mask])):
            fail("bias_features must be finite at real ranks")
        if np.any(f[~mask] != 0):
            fail("bias_features must be 0 at padded ranks")


def _describe(arr: object) -> str:
    if isinstance(arr, np.ndarray):
        return f"{arr.dtype} {arr.shape}"
    return type(arr).__name__


def pad_rows(
    values: np.ndarray, length: np.ndarray, fill: int | bool, K: int | None = None
) -> np.ndarray:
    """[n, K] rows from `values`, the real ranks of rows of `length` one row after another;
    `fill` at padded ranks. K defaults to the longest row."""
    K = int(np.max(length, initial=0)) if K is None else K
    mask = np.arange(K)[None, :] < np.asarray(length)[:, None]
    out = np.full(mask.shape, fill, np.asarray(values).dtype)
    out[mask] = values
    return out


def from_arrays(
    query: np.ndarray,
    docs: np.ndarray,
    click: np.ndarray,
    length: np.ndarray | None = None,
    weight: np.ndarray | None = None,
    query_ids: np.ndarray | None = None,
    doc_ids: np.ndarray | None = None,
    doc_features: np.ndarray | None = None,
    source: str = "",
    qd_features: np.ndarray | None = None,
    bias_features: np.ndarray | None = None,
) -> Sessions:
    """Build Sessions from query indices, document indices [n, K] and clicks [n, K].

    The qd vocabulary is built here from the (query, doc) pairs that occur, in first-seen
    order, so that callers (readers, simulators) never assemble it by hand. Ranks at or past
    `length` are padding whatever `docs` holds there.

    `qd_features` is either per impression, [n, K, F] (the values at real ranks; every
    impression of one pair must carry the same vector), or per pair, [n_qd, F] in the
    first-seen order of the pairs. `bias_features` is [n, K, B]; padded ranks become 0.
    """
    query = np.asarray(query, dtype=np.int32)
    docs = np.asarray(docs, dtype=np.int64)
    n, K = docs.shape
    length = np.full(n, K, np.int16) if length is None else np.asarray(length, np.int16)
    mask = np.arange(K)[None, :] < length[:, None]
    n_queries = int(query.max()) + 1 if n else 0
    n_docs = int(docs[mask].max()) + 1 if mask.any() else 0
    query_ids = np.arange(n_queries) if query_ids is None else np.asarray(query_ids)
    doc_ids = np.arange(n_docs) if doc_ids is None else np.asarray(doc_ids)
    pair = np.broadcast_to(query[:, None].astype(np.int64), (n, K))[mask] * max(
        len(doc_ids), 1
    ) + docs[mask]
    uniq, first, inverse = np.unique(pair, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank_of = np.empty_like(order)
    rank_of[order] = np.arange(order.size)
    qd = np.full((n, K), PAD, np.int32)
    qd[mask] = rank_of[inverse]
    qd_keys = uniq[order]
    doc_arr = np.full((n, K), PAD, np.int32)
    doc_arr[mask] = docs[mask]
    if qd_features is not None:
        qd_features = _pair_features(np.asarray(qd_features, np.float32), qd, mask, qd_keys.size)
    if bias_features is not None:
        bias_features = np.where(mask[..., None], np.asarray(bias_features, np.float32), 0)
        bias_features = bias_features.astype(np.float32)
    return Sessions(
        query=query,
        qd=qd,
        doc=doc_arr,
        click=np.asarray(click, dtype=bool) & mask,
        length=length,
        weight=(np.ones(n, np.float32) if weight is None else np.asarray(weight, np.float32)),
        query_ids=query_ids,
        doc_ids=doc_ids,
        qd_query=(qd_keys // max(len(doc_ids), 1)).astype(np.int32),
        qd_doc=(qd_keys % max(len(doc_ids), 1)).astype(np.int32),
        doc_features=doc_features,
        qd_features=qd_features,
        bias_features=bias_features,
        source=source,
    )


def per_pair(pair: np.ndarray, values: np.ndarray, n_pairs: int) -> tuple[np.ndarray, np.ndarray]:
    """(float32 [n_pairs, F] with row `pair[i]` = `values[i]` and NaN for pairs never given,
    the indices i whose values disagree with another item of the same pair), so that callers
    can name the first offending line or impression."""
    out = np.full((n_pairs, values.shape[1]), np.nan, np.float32)
    pairs, first = np.unique(pair, return_index=True)
    out[pairs] = values[first]  # the first item of a pair is the reference
    kept = out[pair]
    differs = (kept != values) & ~(np.isnan(kept) & np.isnan(values))
    return out, np.flatnonzero(np.any(differs, axis=1))


def _pair_features(features: np.ndarray, qd: np.ndarray, mask: np.ndarray, n_qd: int):
    """[n_qd, F] from per-impression [n, K, F] features (SessionsError where two impressions
    of one pair disagree), or as given when already per pair."""
    if features.ndim != 3:
        return features
    if features.shape[:2] != qd.shape:
        raise SessionsError(f"qd_features must be [n, K, F] with [n, K] = {qd.shape}, "
                            f"got {features.shape}")
    out, bad = per_pair(qd[mask], features[mask], n_qd)
    if bad.size:
        row, rank = (int(i[bad[0]]) for i in np.nonzero(mask))
        raise SessionsError(
            f"qd_features of session row {row}, rank {rank + 1} differ from another impression "
            "of the same query-document pair"
        )
    return out


def concat(parts: Sequence[Sessions]) -> Sessions:
    """The rows of `parts` one after another, in one Sessions. The parts must share their
    vocabularies (read with one clicklog.Vocabulary, or adopted into one); the page width is
    the widest part's, and the first part's extras, source and report are kept. Bias
    features must be on every part or on none."""
    if not parts:
        raise ValueError("concat needs at least one Sessions")
    first = parts[0]
    for other in parts[1:]:
        for name in ("query_ids", "doc_ids", "qd_query", "qd_doc"):
            a, b = getattr(first, name), getattr(other, name)
            if a is not b and not (a.shape == b.shape and np.array_equal(a, b)):
                raise ValueError(
                    f"concat: parts with different {name}; adopt them into one "
                    "clicklog.Vocabulary first"
                )
    has_bias = {p.bias_features is not None for p in parts}
    if len(has_bias) > 1:
        raise ValueError("concat: bias_features on some parts but not on others")
    K = max(p.K for p in parts)

    def widen(arr: np.ndarray, fill) -> np.ndarray:
        pad = [(0, 0), (0, K - arr.shape[1])] + [(0, 0)] * (arr.ndim - 2)
        return np.pad(arr, pad, constant_values=fill)

    rows = {
        "query": np.concatenate([p.query for p in parts]),
        "qd": np.concatenate([widen(p.qd, PAD) for p in parts]),
        "doc": np.concatenate([widen(p.doc, PAD) for p in parts]),
        "click": np.concatenate([widen(p.click, False) for p in parts]),
        "length": np.concatenate([p.length for p in parts]),
        "weight": np.concatenate([p.weight for p in parts]),
    }
    if first.bias_features is not None:
        widths = {p.bias_features.shape[2] for p in parts}
        if len(widths) > 1:
            raise ValueError(f"concat: bias_features of different widths {sorted(widths)}")
        rows["bias_features"] = np.concatenate([widen(p.bias_features, 0) for p in parts])
    return replace(first, **rows)
