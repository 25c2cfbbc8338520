"""click_matrix: logged (page, document) clicks -> ranks, with every drop counted."""

from __future__ import annotations

import numpy as np

from clicklog.io_clicks import click_matrix


def test_hand_example():
    # page 0 shows docs 5 7 5 (5 twice), page 1 shows 7 9
    page_session = np.array([0, 0, 0, 1, 1])
    page_rank = np.array([0, 1, 2, 0, 1])
    page_doc = np.array([5, 7, 5, 7, 9])
    # clicks: page 0 on 5 (-> rank 0), 5 again (merged), 9 (not on page 0); page 1 on 9, 7, 3
    click_session = np.array([0, 0, 0, 1, 1, 1])
    click_doc = np.array([5, 5, 9, 9, 7, 3])
    click, counts = click_matrix(2, 3, page_session, page_rank, page_doc, click_session, click_doc)
    np.testing.assert_array_equal(click.astype(int), [[1, 0, 0], [1, 1, 0]])
    assert counts == {
        "clicks_kept": 3,
        "duplicate_clicks": 1,
        "clicks_on_repeated_doc": 2,
        "dropped_clicks_not_on_page": 2,
    }


def test_first_rank_wins_whatever_the_input_order():
    click, _ = click_matrix(
        1, 3, np.array([0, 0, 0]), np.array([2, 1, 0]), np.array([4, 4, 6]),
        np.array([0]), np.array([4]),
    )
    np.testing.assert_array_equal(click, [[False, True, False]])


def test_nothing_shown_or_clicked():
    none = np.array([], np.int64)
    click, counts = click_matrix(2, 0, none, none, none, np.array([0]), np.array([1]))
    assert click.shape == (2, 0) and counts["dropped_clicks_not_on_page"] == 1
    click, counts = click_matrix(1, 2, np.array([0, 0]), np.array([0, 1]), np.array([3, 4]),
                                 none, none)
    assert not click.any() and counts["clicks_kept"] == 0
