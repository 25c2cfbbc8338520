"""Reader of the Yandex Relevance Prediction Challenge click log (WSCD 2011/2012).

Tab-separated lines of two kinds, every field but the action type an integer:

    SessionID  TimePassed  Q  QueryID  RegionID  URLID1 ... URLID10     (a result page)
    SessionID  TimePassed  C  URLID                                      (a click)

Every query line is one result page (one Sessions row); a session that queries three times
gives three rows. A click belongs to the most recent query line of its session, earlier in
the file.

Decisions:
- The query id is "QUERYID_REGIONID" (a string), the convention of the compact sample made
  from this log (clicklog.io_sample), and the challenge judged relevance per (query, region,
  URL). `query_with_region=False` gives PyClick's convention instead: QueryID alone, an int.
- URL ids are int64 (strings if some are not canonical decimal integers, e.g. "007").
- Clicks follow clicklog.io_clicks (clicks on URLs not on the page dropped and counted,
  repeats collapsed and counted); a click line with no earlier query line in its session is
  dropped and counted as `dropped_clicks_without_query`. Blank lines are skipped; a file
  without a query line is an error.
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from clicklog.io_clicks import click_matrix
from clicklog.io_report import ReadReport
from clicklog.io_text import (
    check_some,
    fail_first,
    index_tokens,
    list_ranks,
    nonempty,
    parse_ints,
    read_text,
    split_lines,
    to_numpy,
    trim,
)
from clicklog.sessions import PAD, Sessions, pad_rows
from clicklog.vocabulary import Vocabulary

QUERY_FIELDS = 5  # SessionID TimePassed Q QueryID RegionID, then the URLs
CLICK_FIELDS = 4
MAX_K = np.iinfo(np.int16).max  # Sessions.length is int16


def _last_query_of(session_id: np.ndarray, is_query: np.ndarray) -> np.ndarray:
    """For every line, the index of the latest query line of its session at or before it
    (-1 where none), as one running maximum over the lines grouped by session id."""
    order = np.lexsort((np.arange(session_id.size), session_id))
    sorted_id = session_id[order]
    group = np.cumsum(np.r_[True, sorted_id[1:] != sorted_id[:-1]]) - 1
    # Lifting each group above every value of the groups before it keeps the running maximum
    # from carrying a query line over into the next session.
    lift = group.astype(np.int64) * (session_id.size + 1)
    mark = np.where(is_query[order], order, -1) + lift
    latest = np.empty(order.size, np.int64)
    latest[order] = np.maximum.accumulate(mark) - lift if order.size else mark
    return latest


def read_yandex_log(
    path: str | os.PathLike,
    vocabulary: Vocabulary | None = None,
    query_with_region: bool = True,
) -> Sessions:
    """Sessions of a Relevance Prediction Challenge log; ids go into `vocabulary` if given."""
    vocabulary = Vocabulary() if vocabulary is None else vocabulary
    all_lines = split_lines(read_text(path))
    nonblank = nonempty(trim(all_lines))
    line = np.flatnonzero(nonblank) + 1
    fields = pc.split_pattern(all_lines.filter(pa.array(nonblank)), "\t")
    count = to_numpy(pc.list_value_length(fields))
    fail_first(
        path,
        count < 3,
        line,
        lambda i: "expected tab-separated SessionID, TimePassed, TypeOfAction (Q or C), ...",
    )
    action = to_numpy(trim(pc.list_element(fields, 2))).astype(str)
    is_query, is_click = action == "Q", action == "C"
    fail_first(
        path,
        ~(is_query | is_click),
        line,
        lambda i: f"unknown action type {str(action[i])!r} (expected Q or C)",
    )
    fail_first(
        path,
        is_query & (count <= QUERY_FIELDS),
        line,
        lambda i: (
            "a query line needs SessionID, TimePassed, Q, QueryID, RegionID and at "
            f"least one URLID; found {count[i]} fields"
        ),
    )
    fail_first(
        path,
        is_query & (count - QUERY_FIELDS > MAX_K),
        line,
        lambda i: f"more than {MAX_K} URLs on one result page",
    )
    fail_first(
        path,
        is_click & (count != CLICK_FIELDS),
        line,
        lambda i: f"a click line needs SessionID, TimePassed, C, URLID; found {count[i]} fields",
    )

    check_some(path, int(is_query.sum()), "no query (Q) line in the file")
    token = trim(pc.list_flatten(fields))
    row, position = list_ranks(fields)
    numeric = position != 2
    parse_ints(
        path, token.filter(pa.array(numeric)), line[row[numeric]], "every field but the action type"
    )
    session_id = to_numpy(pc.cast(trim(pc.list_element(fields, 0)), pa.int64()))
    latest = _last_query_of(session_id, is_query)
    page_of_line = np.cumsum(is_query) - 1

    url = (is_query[row] & (position >= QUERY_FIELDS)) | (is_click[row] & (position == 3))
    url_tok = token.filter(pa.array(url))
    url_row, url_position = row[url], position[url]
    codes = to_numpy(pc.dictionary_encode(url_tok).indices)
    shown = is_query[url_row]
    length = count[is_query] - QUERY_FIELDS
    n, K = int(is_query.sum()), int(length.max(initial=0))
    click_line = url_row[~shown]
    owner = latest[click_line]
    answered = owner >= 0
    click, counts = click_matrix(
        n,
        K,
        page_of_line[url_row[shown]],
        url_position[shown] - QUERY_FIELDS,
        codes[shown],
        page_of_line[owner[answered]],
        codes[~shown][answered],
    )

    doc = pad_rows(index_tokens(url_tok.filter(pa.array(shown)), vocabulary.doc_index), length, PAD)
    query_fields = fields.filter(pa.array(is_query))
    query_tok = trim(pc.list_element(query_fields, 3))
    if query_with_region:
        region_tok = trim(pc.list_element(query_fields, 4))
        query_tok = pc.binary_join_element_wise(query_tok, region_tok, "_")
    report = ReadReport(
        path=str(path),
        format="yandex-log",
        lines=len(all_lines),
        sessions=n,
        clicks_in_file=int(is_click.sum()),
        dropped_clicks_without_query=int((~answered).sum()),
        **counts,
    )
    query = index_tokens(query_tok, vocabulary.query_index)
    return vocabulary.build(query, doc, click, length, source=str(path), report=report)
