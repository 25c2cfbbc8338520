"""`Fit`: the result both engines return, with one interface (DESIGN.md section 4).

Besides the parameters and predictors, a Fit knows the vocabulary it was fitted in
(`FitVocabulary`: the id arrays, with a key of sizes and a digest computed on first use). Its
predictors index parameter arrays by the sessions' indices, so sessions from another index
space would give numbers that mean nothing; every predictor therefore checks that the
sessions' vocabulary starts with the fit's (a test log read with `read_many` beside the
training log does; one read on its own does not) and raises VocabularyError otherwise. Such a
log is scored through the original ids instead: `clicklog.model_file.align`.

`History` is the list a fit appends its per-iteration entries to; it hands each one to a
progress callback as it arrives (`callback=` of em.fit and gradient.fit).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple

import numpy as np

from clicklog.sessions import Sessions

Predictor = Callable[[Sessions], np.ndarray]
Callback = Callable[[dict], object]


class VocabularyError(ValueError):
    """Sessions scored by a fit made in another vocabulary (index space)."""


class VocabularyKey(NamedTuple):
    """Sizes of a vocabulary and a digest of its ids in index order."""

    n_queries: int
    n_docs: int
    n_qd: int
    digest: str


def _ids_bytes(ids: np.ndarray) -> bytes:
    """Ids as bytes independent of the array's itemsize (a grown str vocabulary widens it)."""
    ids = np.asarray(ids)
    if ids.dtype.kind in "iu":
        return b"i" + ids.astype(np.int64).tobytes()
    text = ids.astype(str)
    width = int(np.char.str_len(text).max()) if text.size else 1
    return b"U" + text.astype(f"U{max(width, 1)}").tobytes()


def _digest(v, n_queries: int, n_docs: int, n_qd: int) -> str:
    """Digest of the first entries of the vocabularies of `v` (Sessions or FitVocabulary)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(_ids_bytes(v.query_ids[:n_queries]))
    h.update(_ids_bytes(v.doc_ids[:n_docs]))
    h.update(np.ascontiguousarray(v.qd_query[:n_qd], np.int32).tobytes())
    h.update(np.ascontiguousarray(v.qd_doc[:n_qd], np.int32).tobytes())
    return h.hexdigest()


@dataclass(frozen=True, eq=False)
class FitVocabulary:
    """The vocabulary a fit was made in: its id arrays (shared with the training sessions, not
    copied) and, computed on first use, their key."""

    query_ids: np.ndarray
    doc_ids: np.ndarray
    qd_query: np.ndarray
    qd_doc: np.ndarray

    @classmethod
    def of(cls, sessions: Sessions) -> FitVocabulary:
        return cls(sessions.query_ids, sessions.doc_ids, sessions.qd_query, sessions.qd_doc)

    @cached_property
    def key(self) -> VocabularyKey:
        sizes = (len(self.query_ids), len(self.doc_ids), len(self.qd_query))
        return VocabularyKey(*sizes, _digest(self, *sizes))

    def same_arrays(self, sessions: Sessions) -> bool:
        return all(getattr(self, f) is getattr(sessions, f)
                   for f in ("query_ids", "doc_ids", "qd_query", "qd_doc"))


def check_vocabulary(vocabulary: FitVocabulary | None, sessions: Sessions) -> Sessions:
    """`sessions` if their vocabulary extends `vocabulary` (None: nothing to check), else a
    VocabularyError."""
    if vocabulary is None or vocabulary.same_arrays(sessions):
        return sessions
    key = vocabulary.key
    sizes = (sessions.n_queries, sessions.n_docs, sessions.n_qd)
    if any(have < need for have, need in zip(sizes, key[:3], strict=True)) or _digest(
        sessions, *key[:3]
    ) != key.digest:
        where = f" ({sessions.source})" if sessions.source else ""
        raise VocabularyError(
            f"these sessions{where} index another vocabulary than the fit's ({sizes[0]} "
            f"queries, {sizes[1]} documents, {sizes[2]} pairs against the fit's {key[0]}, "
            f"{key[1]}, {key[2]}): predict with sessions that share the training vocabulary "
            "(read them with the training log, clicklog.read_many), or score them by original "
            "ids (clicklog.model_file.align, `clickfit predict`)"
        )
    return sessions


class History(list):
    """A fit's history: a list of dicts that also hands each appended entry to `callback`."""

    def __init__(self, callback: Callback | None = None) -> None:
        super().__init__()
        self.callback = callback

    def append(self, entry: dict) -> None:
        super().append(entry)
        if self.callback is not None:
            self.callback(entry)


@dataclass
class Fit:
    """A fitted click model.

    `params` maps parameter names (clicklog.catalogue) to numpy arrays of probabilities.
    `history` holds one dict per EM iteration or gradient step/epoch with at least
    `seconds` (cumulative wall-clock since the fit started, compilation excluded) and
    `objective` (the shared objective divided by the weighted number of impressions).
    The three predictors return float64 [n, K] arrays with 0 at padded ranks; they and
    `objective` raise VocabularyError for sessions of another vocabulary than `vocabulary`.
    """

    model: str
    engine: str
    params: dict[str, np.ndarray]
    history: list[dict]
    prior: tuple[float, float] | None
    _click_probs: Predictor = field(repr=False)
    _conditional_click_probs: Predictor = field(repr=False)
    _relevance: Predictor = field(repr=False)
    _objective: Callable[[Sessions], float] = field(repr=False)
    compile_seconds: float = 0.0
    converged: bool = False
    settings: dict = field(default_factory=dict)
    vocabulary: FitVocabulary | None = field(default=None, repr=False)

    def click_probs(self, sessions: Sessions) -> np.ndarray:
        """Unconditional P(C_r = 1), [n, K]."""
        return self._click_probs(check_vocabulary(self.vocabulary, sessions))

    def conditional_click_probs(self, sessions: Sessions) -> np.ndarray:
        """P(C_r = 1 | c_<r), [n, K]."""
        return self._conditional_click_probs(check_vocabulary(self.vocabulary, sessions))

    def relevance(self, sessions: Sessions) -> np.ndarray:
        """The model's relevance estimate of every shown document, [n, K]."""
        return self._relevance(check_vocabulary(self.vocabulary, sessions))

    def objective(self, sessions: Sessions) -> float:
        """Shared objective: weighted log-likelihood plus log prior, per impression."""
        return self._objective(check_vocabulary(self.vocabulary, sessions))

    def save(self, path: str | os.PathLike, **extra) -> None:
        """Write this fit as a model file (clicklog.model_file.save; `extra`: more JSON-ready
        fields to keep, such as the command line's settings)."""
        from clicklog.model_file import save

        save(self, path, **extra)

    @property
    def fit_seconds(self) -> float:
        return float(self.history[-1]["seconds"]) if self.history else 0.0

    @property
    def iterations(self) -> int:
        return len(self.history)
