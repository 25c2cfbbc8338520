"""Vocabularies: growing maps from original ids to the dense indices that Sessions use.

Several files read with one `Vocabulary` share one index space (a test log indexes the same
parameter arrays as its training log). Indices are handed out in first-seen order and never
change once given, so Sessions built earlier stay valid as the vocabulary grows;
`Vocabulary.adopt` widens them (or re-indexes foreign Sessions) to the current vocabulary.

Original ids are kept exactly: integers (any numpy integer dtype) or strings (numpy str). Text
readers turn a column into int64 only when every token is a canonical decimal integer, so that
`str(id)` gives the token back ("007" stays a string). Should one vocabulary meet both kinds,
every id becomes a string (an int and its decimal text are then the same id).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from clicklog.io_report import ReadReport
from clicklog.sessions import PAD, Sessions

# qd pairs are looked up as one int64 key: query index in the high 32 bits, doc in the low.
_SHIFT = np.int64(32)
_LOW = np.int64(0xFFFFFFFF)


def normalise_ids(ids: np.ndarray) -> np.ndarray:
    """ids as an integer or numpy str array; TypeError for anything else (floats, bytes...)."""
    arr = np.asarray(ids)
    if arr.dtype.kind in "iuU":
        return arr
    if arr.dtype.kind == "O":
        kind = pd.api.types.infer_dtype(arr, skipna=False)
        if kind in ("string", "empty"):
            return arr.astype(str)
        if kind == "integer":
            return arr.astype(np.int64)
    raise TypeError(f"ids must be integers or strings, got {arr.dtype} ({arr[:3]!r}...)")


class _Index:
    """One id -> index map; `ids[i]` is the id of index i."""

    def __init__(self, ids: np.ndarray | None = None) -> None:
        self.ids = np.empty(0, np.int64) if ids is None else normalise_ids(ids)
        self._lookup: pd.Index | None = None
        if ids is not None and not self._index().is_unique:
            raise ValueError("a vocabulary holds an id twice")

    def _index(self) -> pd.Index:
        if self._lookup is None:
            self._lookup = pd.Index(self.ids)
        return self._lookup

    def add(self, values: np.ndarray) -> np.ndarray:
        """int64 indices of `values`, appending unseen ids in first-seen order."""
        values = normalise_ids(values)
        if values.size == 0:
            return np.empty(0, np.int64)
        if (values.dtype.kind == "U") != (self.ids.dtype.kind == "U"):
            if self.ids.size:
                self.ids = self.ids.astype(str)
                self._lookup = None
            values = values.astype(str)
        codes, uniques = pd.factorize(values)
        where = self._index().get_indexer(uniques)
        new = where < 0
        if new.any():
            where[new] = self.ids.size + np.arange(int(new.sum()))
            fresh = np.asarray(uniques[new]).astype(values.dtype)
            self.ids = np.concatenate([self.ids, fresh]) if self.ids.size else fresh
            self._lookup = None
        return where[codes].astype(np.int64)


class Vocabulary:
    """The query, document and query-document vocabularies of one index space."""

    def __init__(self) -> None:
        self._queries = _Index()
        self._docs = _Index()
        self._pairs = _Index()

    @classmethod
    def of(cls, sessions: Sessions) -> Vocabulary:
        """A vocabulary that starts as `sessions`' own (its indices map to themselves)."""
        vocab = cls()
        vocab._queries = _Index(sessions.query_ids)
        vocab._docs = _Index(sessions.doc_ids)
        keys = (sessions.qd_query.astype(np.int64) << _SHIFT) | sessions.qd_doc.astype(np.int64)
        vocab._pairs = _Index(keys)
        return vocab

    @property
    def query_ids(self) -> np.ndarray:
        return self._queries.ids

    @property
    def doc_ids(self) -> np.ndarray:
        return self._docs.ids

    @property
    def qd_query(self) -> np.ndarray:
        return (self._pairs.ids >> _SHIFT).astype(np.int32)

    @property
    def qd_doc(self) -> np.ndarray:
        return (self._pairs.ids & _LOW).astype(np.int32)

    def query_index(self, ids: np.ndarray) -> np.ndarray:
        """int32 indices of original query ids, adding the unseen ones."""
        return self._queries.add(ids).astype(np.int32)

    def doc_index(self, ids: np.ndarray) -> np.ndarray:
        """int32 indices of original document ids, adding the unseen ones."""
        return self._docs.add(ids).astype(np.int32)

    def qd_index(self, query: np.ndarray, doc: np.ndarray) -> np.ndarray:
        """int32 indices of (query index, doc index) pairs, adding the unseen ones."""
        keys = (np.asarray(query, np.int64) << _SHIFT) | np.asarray(doc, np.int64)
        return self._pairs.add(keys).astype(np.int32)

    def build(
        self,
        query: np.ndarray,
        doc: np.ndarray,
        click: np.ndarray,
        length: np.ndarray,
        weight: np.ndarray | None = None,
        *,
        source: str = "",
        report: ReadReport | None = None,
        bias_features: np.ndarray | None = None,
    ) -> Sessions:
        """Sessions from query indices [n] and doc indices [n, K] of this vocabulary.

        Ranks at or past `length` are padding whatever `doc`, `click` and `bias_features`
        ([n, K, B]) hold there; the qd indices are looked up (and added) here.
        """
        n, K = doc.shape
        length = np.asarray(length, np.int16)
        mask = np.arange(K)[None, :] < length[:, None]
        query = np.asarray(query, np.int32)
        qd = np.full((n, K), PAD, np.int32)
        qd[mask] = self.qd_index(np.broadcast_to(query[:, None], (n, K))[mask], doc[mask])
        docs = np.full((n, K), PAD, np.int32)
        docs[mask] = doc[mask]
        if bias_features is not None:
            bias_features = np.where(mask[..., None], bias_features, 0).astype(np.float32)
        return Sessions(
            query=query,
            qd=qd,
            doc=docs,
            click=np.asarray(click, bool) & mask,
            length=length,
            weight=np.ones(n, np.float32) if weight is None else np.asarray(weight, np.float32),
            query_ids=self.query_ids,
            doc_ids=self.doc_ids,
            qd_query=self.qd_query,
            qd_doc=self.qd_doc,
            bias_features=bias_features,
            source=source,
            report=report,
        )

    def adopt(self, sessions: Sessions) -> Sessions:
        """`sessions` re-indexed into this vocabulary (every id of theirs is added), with the
        vocabulary as it now stands. Labels and qd_features of pairs they do not know are NaN;
        so are the feature rows of documents they do not know."""
        qmap = self.query_index(sessions.query_ids)
        dmap = self.doc_index(sessions.doc_ids)
        pmap = self.qd_index(qmap[sessions.qd_query], dmap[sessions.qd_doc])
        mask = sessions.mask
        doc = sessions.doc.copy()
        doc[mask] = dmap[doc[mask]]
        qd = sessions.qd.copy()
        qd[mask] = pmap[qd[mask]]
        labels = features = qd_features = None
        if sessions.qd_features is not None:
            qd_features = np.full(
                (self._pairs.ids.size, sessions.qd_features.shape[1]), np.nan, np.float32
            )
            qd_features[pmap] = sessions.qd_features
        if sessions.labels is not None:
            labels = np.full(self._pairs.ids.size, np.nan, sessions.labels.dtype)
            labels[pmap] = sessions.labels
        if sessions.doc_features is not None:
            features = np.full(
                (self.doc_ids.size, sessions.doc_features.shape[1]), np.nan, np.float32
            )
            features[dmap] = sessions.doc_features
        return replace(
            sessions,
            query=qmap[sessions.query],
            qd=qd,
            doc=doc,
            query_ids=self.query_ids,
            doc_ids=self.doc_ids,
            qd_query=self.qd_query,
            qd_doc=self.qd_doc,
            labels=labels,
            doc_features=features,
            qd_features=qd_features,
        )
