"""Clicks logged as (page, clicked document) events -> a click matrix, with counted drops.

Both Yandex formats log a click by naming the document, not the rank. The rules, shared by
their readers (clicklog.io_report.ReadReport names the counters):
- a click naming a document the page does not show is dropped and counted;
- a document shown at several ranks of one page takes the click at its first (highest) rank;
- repeated clicks on the same result collapse into one click and are counted.
"""

from __future__ import annotations

import numpy as np


def click_matrix(
    n: int,
    K: int,
    page_session: np.ndarray,
    page_rank: np.ndarray,
    page_doc: np.ndarray,
    click_session: np.ndarray,
    click_doc: np.ndarray,
) -> tuple[np.ndarray, dict[str, int]]:
    """bool [n, K] clicks and the counters of ReadReport it determines.

    page_*: one entry per shown result; click_*: one entry per logged click. `*_doc` are
    integer codes under which equal document tokens are equal.
    """
    span = np.int64(max(int(page_doc.max(initial=-1)), int(click_doc.max(initial=-1))) + 1)
    page_key = page_session.astype(np.int64) * span + page_doc
    order = np.lexsort((page_rank, page_key))
    sorted_key = page_key[order]
    starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]]) if order.size else order
    keys = sorted_key[starts]
    first_rank = page_rank[order][starts]
    shown_times = np.diff(np.r_[starts, order.size])

    click_key = click_session.astype(np.int64) * span + click_doc
    at = np.minimum(np.searchsorted(keys, click_key), max(keys.size - 1, 0))
    found = keys[at] == click_key if keys.size else np.zeros(click_key.size, bool)
    cells = click_session[found].astype(np.int64) * K + first_rank[at[found]]
    kept = np.unique(cells)
    click = np.zeros(n * K, bool)
    click[kept] = True
    return click.reshape(n, K), {
        "clicks_kept": int(kept.size),
        "duplicate_clicks": int(found.sum() - kept.size),
        "clicks_on_repeated_doc": int((shown_times[at[found]] > 1).sum()),
        "dropped_clicks_not_on_page": int((~found).sum()),
    }
