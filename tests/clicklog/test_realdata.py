"""The real Yandex WSCD sample (../shared/data): the numbers its README states.

Skipped where the data is absent. The README counts every click in the file: 50,321, of
which 417 name a document not on the page; the reader also merges 7,201 repeated clicks, so
42,703 clicks remain on 23,217 sessions (23,284 sessions have some click in the file, 67 of
them only off-page ones).
"""

from __future__ import annotations

import numpy as np
import pytest

from clicklog import read, read_many, yandex_sample_paths

pytestmark = pytest.mark.realdata
PATHS = yandex_sample_paths()
needs_data = pytest.mark.skipif(PATHS is None, reason="../shared/data/yandex-wscd-sample absent")


@needs_data
def test_train_sample_matches_its_readme():
    s = read(PATHS[0])
    assert (s.n, s.n_queries, s.K) == (35_064, 20, 10)
    assert np.all(s.length == 10)
    r = s.report
    assert r.format == "sample"
    assert r.clicks_in_file == 50_321
    assert r.dropped_clicks_not_on_page == 417
    assert (r.duplicate_clicks, r.clicks_kept) == (7_201, 42_703)
    assert int(s.click.sum()) == r.clicks_kept
    assert int(s.click.any(axis=1).sum()) == 23_217


@needs_data
def test_train_and_test_share_one_vocabulary():
    train, test = read_many(PATHS)
    assert (train.n, test.n) == (35_064, 21_413)
    assert np.unique(test.query).size == 20
    assert train.n_qd == test.n_qd and train.n_docs == test.n_docs
    queries = [set(s.query_ids[np.unique(s.query)]) for s in (train, test)]
    assert queries[0] == queries[1]
