"""Reader of the compact Yandex sample format (`../shared/data/yandex-wscd-sample`).

The format, as PyClick's WSCD example wrote it: sessions separated by `;` (line breaks between
sessions are allowed and ignored), each

    QUERYID_REGION<TAB>d1,d2,...,d10 : c1 , c2 , ...

the shown documents in rank order, then the clicked documents in click order (empty after the
colon when nothing was clicked). Whitespace around tokens is ignored; the last session needs
no closing `;`. A session with a second colon, and a file without any session, are errors.

Decisions:
- The query id is the whole first token, region included ("986_2" and "986_3" are two
  queries), as PyClick's example reads it; the Relevance Prediction Challenge judged
  relevance per (query, region, URL), so the region is part of what a query means. It stays a
  string; document ids become int64 when all are canonical integers (clicklog.vocabulary).
- Pages may be shorter than the longest one (padding); the sample's pages all have 10 results.
- Clicks follow clicklog.io_clicks: a click on a document not on the page is dropped and
  counted, repeated clicks collapse and are counted, a document shown twice takes the click
  at its first rank. The ReadReport is `sessions.report`.
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from clicklog.io_clicks import click_matrix
from clicklog.io_report import ReadReport
from clicklog.io_text import (
    check_nonempty,
    check_some,
    count_lines,
    fail_first,
    index_tokens,
    list_ranks,
    nonempty,
    read_text,
    to_numpy,
    trim,
)
from clicklog.sessions import PAD, Sessions, pad_rows
from clicklog.vocabulary import Vocabulary

MAX_K = np.iinfo(np.int16).max


def _parts(path, pieces: pa.Array, lines: np.ndarray, n: int, problem: str) -> pa.Array:
    """FormatError where a split did not give `n` parts."""
    count = to_numpy(pc.list_value_length(pieces))
    fail_first(path, count != n, lines, lambda i: problem)
    return pieces


def read_sample(path: str | os.PathLike, vocabulary: Vocabulary | None = None) -> Sessions:
    """Sessions of a compact-sample file; ids are added to `vocabulary` when one is given."""
    vocabulary = Vocabulary() if vocabulary is None else vocabulary
    text = read_text(path)
    chunks = pa.array(text.split(";"), pa.string())
    newlines = to_numpy(pc.count_substring(chunks, "\n")).astype(np.int64)
    leading = newlines - to_numpy(pc.count_substring(pc.utf8_ltrim_whitespace(chunks), "\n"))
    line_of_chunk = 1 + np.cumsum(newlines) - newlines + leading
    body = trim(chunks)
    keep = nonempty(body)
    body = body.filter(pa.array(keep))
    line = line_of_chunk[keep]
    check_some(path, len(body), "expected QUERY<TAB>DOC,DOC,... : CLICK , CLICK ... ;")

    head = _parts(
        path,
        pc.split_pattern(body, "\t", max_splits=1),
        line,
        2,
        "expected QUERY<TAB>DOC,DOC,... : CLICK , CLICK ... (no tab found)",
    )
    query_tok = trim(pc.list_element(head, 0))
    check_nonempty(path, query_tok, line, "query id")
    halves = _parts(
        path,
        pc.split_pattern(pc.list_element(head, 1), ":", max_splits=1),
        line,
        2,
        "no ':' between the shown documents and the clicks",
    )

    shown = pc.split_pattern(trim(pc.list_element(halves, 0)), ",")
    shown_tok = trim(pc.list_flatten(shown))
    page_session, page_rank = list_ranks(shown)
    check_nonempty(path, shown_tok, line[page_session], "document id in the result list")
    length = to_numpy(pc.list_value_length(shown)).astype(np.int64)
    K = int(length.max(initial=0))
    if K > MAX_K:
        fail_first(path, length > MAX_K, line, lambda i: f"more than {MAX_K} results on a page")

    clicked = trim(pc.list_element(halves, 1))
    # A second colon is a malformed session, not a click on a document named "a : b".
    fail_first(
        path,
        to_numpy(pc.match_substring(clicked, ":")).astype(bool),
        line,
        lambda i: "a second ':' (one separates the shown documents from the clicks)",
    )
    clicks = pc.split_pattern(clicked, ",")
    click_tok = trim(pc.list_flatten(clicks))
    click_session, _ = list_ranks(clicks)
    real = nonempty(clicked)[click_session]
    click_tok = click_tok.filter(pa.array(real))
    click_session = click_session[real]
    check_nonempty(path, click_tok, line[click_session], "clicked document id (stray ',')")

    n = len(body)
    codes = to_numpy(pc.dictionary_encode(pa.concat_arrays([shown_tok, click_tok])).indices)
    click, counts = click_matrix(
        n,
        K,
        page_session,
        page_rank,
        codes[: len(shown_tok)],
        click_session,
        codes[len(shown_tok) :],
    )
    doc = pad_rows(index_tokens(shown_tok, vocabulary.doc_index), length, PAD)
    report = ReadReport(
        path=str(path),
        format="sample",
        lines=count_lines(text),
        sessions=n,
        clicks_in_file=len(click_tok),
        **counts,
    )
    query = index_tokens(query_tok, vocabulary.query_index)
    return vocabulary.build(query, doc, click, length, source=str(path), report=report)
