"""Sessions as fixed-shape device arrays, so that each model compiles once per shape.

Row counts are rounded up (`padded_rows`) and the extra rows carry weight 0 and no real rank,
so a log of 35,000 sessions and one of 35,100 share one compiled program.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from clicklog import network
from clicklog.sessions import Sessions

BLOCK = 4096


class Batch(NamedTuple):
    qd: jax.Array  # int32 [B, K]; padding reads pair 0, which `mask` then discards
    click: jax.Array  # bool [B, K]
    mask: jax.Array  # bool [B, K], True at real ranks
    weight: jax.Array  # float [B], 0 on padding rows
    doc: jax.Array  # int32 [B, K], the document (vision bias); padding reads document 0
    # Standardised key features by kind of key ("qd": [n_qd, F], "doc": [n_docs, F];
    # clicklog.network), for function sources (gradient/sources.py): tables for the whole
    # log, not per-session fields, so `rows` leaves them whole. The exception: the raw bias
    # features [B, K, Bf] of every impression, under the examination's kinds (PER_SESSION),
    # which an examination function (gradient/bias.py) standardises itself.
    features: dict[str, jax.Array] | None = None

    def rows(self, index: jax.Array) -> Batch:
        """The sessions at `index` (a minibatch), with the same key features."""
        pick = [getattr(self, name)[index] for name in ("qd", "click", "mask", "weight", "doc")]
        features = {kind: value[index] if kind in PER_SESSION else value
                    for kind, value in (self.features or {}).items()}
        return Batch(*pick, features=features)


# The kinds of key of examination (clicklog.catalogue), whose function reads bias features.
PER_SESSION = ("rank", "rank_last")


def padded_rows(n: int, block: int = BLOCK) -> int:
    """Rows to allocate for n sessions: the next power of two up to `block`, then whole blocks."""
    if n <= block:
        return max(1, 1 << max(n - 1, 0).bit_length())
    return -(-n // block) * block


def to_batch(sessions: Sessions, rows: int, dtype: str) -> Batch:
    """Device arrays for `sessions`, padded with empty zero-weight rows to `rows` rows."""
    n, K = sessions.n, sessions.K
    if rows < n:
        raise ValueError(f"{rows} rows cannot hold {n} sessions")
    qd = np.zeros((rows, K), np.int32)
    click = np.zeros((rows, K), bool)
    mask = np.zeros((rows, K), bool)
    weight = np.zeros(rows, np.float64)
    doc = np.zeros((rows, K), np.int32)
    real = sessions.mask
    qd[:n] = np.where(real, sessions.qd, 0)
    doc[:n] = np.where(real, sessions.doc, 0)
    click[:n] = sessions.click
    mask[:n] = real
    weight[:n] = sessions.weight
    features = {
        kind: jnp.asarray(network.standardise(table), dtype=dtype)
        for kind, table in (("qd", sessions.qd_features), ("doc", sessions.doc_features))
        if table is not None
    }
    if sessions.bias_features is not None:
        bias = np.zeros((rows, K, sessions.bias_features.shape[2]), np.float64)
        bias[:n] = sessions.bias_features
        features.update(dict.fromkeys(PER_SESSION, jnp.asarray(bias, dtype=dtype)))
    return Batch(
        qd=jnp.asarray(qd),
        click=jnp.asarray(click),
        mask=jnp.asarray(mask),
        weight=jnp.asarray(weight, dtype=dtype),
        doc=jnp.asarray(doc),
        features=features,
    )


def chunks(sessions: Sessions, dtype: str, block: int = BLOCK) -> Iterator[tuple[slice, Batch]]:
    """(rows, batch) pieces of at most `block` sessions covering `sessions` in order."""
    rows = padded_rows(min(sessions.n, block), block)
    for start in range(0, sessions.n, rows):
        part = slice(start, min(start + rows, sessions.n))
        yield part, to_batch(sessions.subset(part), rows, dtype)


def at_qd(values: np.ndarray, sessions: Sessions) -> np.ndarray:
    """values[qd] per shown result as float64 [n, K], 0 at padded ranks."""
    return np.where(sessions.mask, np.asarray(values, np.float64)[np.maximum(sessions.qd, 0)], 0.0)
