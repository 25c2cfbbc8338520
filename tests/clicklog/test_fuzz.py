"""Property-based tests of the four readers (hypothesis): random valid logs read back exactly,
and random corruptions of them end in a FormatError or a clean read, never another exception.

- sample and yandex-log have no writer: the test writes their text itself, with the freedoms
  the formats allow (spacing, CRLF, blank lines, a missing final `;` or newline, clicks in
  any order), and checks every row against what it wrote.
- tsv/csv (optionally gzipped) and Parquet go through clicklog.write and back: the long format
  equal through the original ids, Parquet identical array by array.
- Corruptions: a few bytes deleted, inserted or replaced (often by a separator, NUL, CR or an
  invalid UTF-8 byte), or the file truncated, plain or inside its gzip container.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clicklog import FormatError, Sessions, from_arrays, read, write
from clicklog.io_sample import read_sample
from clicklog.io_yandex import read_yandex_log

# An exception Python could only print ("Exception ignored in ...") is a traceback too.
pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")

# No example database: nothing written into the checkout; every run draws afresh. A longer
# hunt: CLICKFIT_FUZZ_EXAMPLES=2000 pytest tests/clicklog/test_fuzz.py
FUZZ = settings(
    max_examples=int(os.environ.get("CLICKFIT_FUZZ_EXAMPLES", 40)),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Ids with letters, digits, punctuation that is no separator of any format, and non-ASCII.
ID_ALPHABET = "abcxyz0179_-./?=&%+éß中"
ids = st.text(alphabet=ID_ALPHABET, min_size=1, max_size=5)
SPECIAL = [b"\t", b";", b":", b",", b"\n", b"\r", b"\0", b"\xff", b" ", b"-", b"Q", b"C", b"9"]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def row_ids(s: Sessions) -> list[tuple[str, list[str], list[int]]]:
    """Each row as (query id, doc ids, clicked ranks), ids as text."""
    out = []
    for i in range(s.n):
        length = int(s.length[i])
        docs = [str(s.doc_ids[d]) for d in s.doc[i, :length]]
        out.append((str(s.query_ids[s.query[i]]), docs, np.flatnonzero(s.click[i]).tolist()))
    return out


def assert_report_adds_up(s: Sessions) -> None:
    r = s.report
    assert r.sessions == s.n > 0
    assert r.clicks_in_file == r.clicks_kept + r.duplicate_clicks + r.dropped_clicks
    assert r.clicks_kept == int(s.click.sum())


# --- strategies: valid logs -------------------------------------------------------------


@st.composite
def pages(draw, doc_ids=ids, query_ids=ids, max_pages=6):
    """[(query, docs, clicked docs in click order)]: distinct docs per page."""
    out = []
    for _ in range(draw(st.integers(1, max_pages))):
        docs = draw(st.lists(doc_ids, min_size=1, max_size=6, unique=True))
        clicked = draw(st.permutations(docs).map(lambda p: p[: draw(st.integers(0, len(p)))]))
        out.append((draw(query_ids), docs, clicked))
    return out


def expected_rows(log) -> list[tuple[str, list[str], list[int]]]:
    return [(str(q), [str(d) for d in docs], sorted(docs.index(c) for c in clicked))
            for q, docs, clicked in log]


@st.composite
def sample_text(draw):
    log = draw(pages())
    pad = draw(st.sampled_from(["", " ", "  ", "\t"]))
    ends = draw(st.lists(st.sampled_from([";", ";\n", " ;\r\n", ";\n\n"]), min_size=len(log),
                         max_size=len(log)))
    if draw(st.booleans()):  # the last session needs no closing ';'
        ends[-1] = draw(st.sampled_from(["", "\n", "\r\n"]))
    text = "".join(
        f"{q}\t{pad}{','.join(docs)}{pad}:{pad}{f'{pad},{pad}'.join(clicked)}{end}"
        for (q, docs, clicked), end in zip(log, ends, strict=True)
    )
    return text, expected_rows(log)


integers = st.integers(-(10**12), 10**12)


@st.composite
def yandex_text(draw):
    """Relevance Prediction Challenge log: sessions of 1-3 query lines, each followed by its
    clicks; line ends and blank lines vary, the final newline is optional."""
    n_sessions = draw(st.integers(1, 4))
    session_ids = draw(st.lists(integers, min_size=n_sessions, max_size=n_sessions, unique=True))
    lines, rows = [], []
    for sid in session_ids:
        for query, urls, clicked in draw(pages(doc_ids=integers, query_ids=integers, max_pages=3)):
            region = draw(st.integers(0, 300))
            head = f"{sid}\t{draw(integers)}\tQ\t{query}\t{region}\t"
            lines.append(head + "\t".join(map(str, urls)))
            lines += [f"{sid}\t{draw(integers)}\tC\t{url}" for url in clicked]
            rows += expected_rows([(f"{query}_{region}", urls, clicked)])
    end = draw(st.sampled_from(["\n", "\r\n"]))
    blank = draw(st.sampled_from(["", end]))
    text = (end + blank).join(lines) + draw(st.sampled_from(["", end]))
    return text, rows


@st.composite
def sessions(draw, string_ids: bool | None = None):
    n = draw(st.integers(1, 12))
    K = draw(st.integers(1, 6))
    if string_ids is None:
        string_ids = draw(st.booleans())
    id_strategy = ids if string_ids else st.integers(-(10**15), 10**15)
    n_docs = draw(st.integers(K, K + 6))
    doc_ids = np.array(draw(st.lists(id_strategy, min_size=n_docs, max_size=n_docs, unique=True)))
    n_queries = draw(st.integers(1, 4))
    query_ids = np.array(draw(st.lists(id_strategy, min_size=n_queries, max_size=n_queries,
                                       unique=True)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    docs = np.stack([rng.permutation(n_docs)[:K] for _ in range(n)])
    weights = draw(st.one_of(
        st.none(),
        st.lists(st.floats(2.0**-100, 2.0**100, width=32), min_size=n, max_size=n),
    ))
    return from_arrays(
        rng.integers(0, n_queries, n),
        docs,
        rng.random((n, K)) < 0.4,
        rng.integers(1, K + 1, n),
        weights,
        query_ids,
        doc_ids,
    )


@st.composite
def corrupted(draw, data: bytes) -> bytes:
    """`data` with 1-3 random edits, or truncated."""
    if draw(st.integers(0, 5)) == 0:
        return data[: draw(st.integers(0, max(len(data) - 1, 0)))]
    data = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data)))
        new = draw(st.one_of(st.sampled_from(SPECIAL), st.binary(min_size=1, max_size=3)))
        cut = draw(st.integers(0, 3))
        data[at : at + cut] = new if draw(st.booleans()) else b""
    return bytes(data)


def read_or_format_error(reader, path: Path) -> None:
    """A corrupt file is a FormatError or a consistent read; any other exception fails."""
    try:
        s = reader(path)
    except FormatError as err:
        assert str(path) in str(err)
        return
    assert_report_adds_up(s) if s.report is not None else None
    assert s.n > 0


# --- sample -----------------------------------------------------------------------------


@FUZZ
@given(log=sample_text())
def test_sample_reads_back_what_was_written(scratch, log):
    text, rows = log
    path = scratch / "log.sample"
    path.write_text(text, encoding="utf-8", newline="")
    s = read_sample(path)
    assert row_ids(s) == rows
    assert_report_adds_up(s)
    assert s.report.dropped_clicks == s.report.duplicate_clicks == 0


@FUZZ
@given(data=st.data(), log=sample_text(), gz=st.booleans())
def test_sample_corruptions_are_format_errors(scratch, data, log, gz):
    raw = log[0].encode()
    path = scratch / ("bad.sample.gz" if gz else "bad.sample")
    if gz and data.draw(st.booleans()):
        path.write_bytes(data.draw(corrupted(gzip.compress(raw, mtime=0))))
    else:
        bad = data.draw(corrupted(raw))
        path.write_bytes(gzip.compress(bad, mtime=0) if gz else bad)
    read_or_format_error(read_sample, path)


# --- yandex-log -------------------------------------------------------------------------


@FUZZ
@given(log=yandex_text())
def test_yandex_log_reads_back_what_was_written(scratch, log):
    text, rows = log
    path = scratch / "log.txt"
    path.write_text(text, encoding="utf-8", newline="")
    s = read_yandex_log(path)
    assert row_ids(s) == rows
    assert_report_adds_up(s)
    assert s.report.dropped_clicks == s.report.duplicate_clicks == 0


@FUZZ
@given(data=st.data(), log=yandex_text())
def test_yandex_log_corruptions_are_format_errors(scratch, data, log):
    path = scratch / "bad.txt"
    path.write_bytes(data.draw(corrupted(log[0].encode())))
    read_or_format_error(read_yandex_log, path)


# --- long tsv/csv -----------------------------------------------------------------------


LONG_NAMES = st.sampled_from(["s.tsv", "s.csv", "s.tsv.gz", "s.csv.gz"])


@FUZZ
@given(s=sessions(), name=LONG_NAMES)
def test_long_format_round_trips_through_ids(scratch, s, name):
    write(s, scratch / name)
    back = read(scratch / name)
    assert row_ids(back) == row_ids(s)
    np.testing.assert_array_equal(back.weight, s.weight)


@FUZZ
@given(data=st.data(), s=sessions(), name=LONG_NAMES)
def test_long_format_corruptions_are_format_errors(scratch, data, s, name):
    path = scratch / name
    write(s, path)
    raw = path.read_bytes()
    if name.endswith(".gz") and data.draw(st.booleans()):
        raw = gzip.compress(data.draw(corrupted(gzip.decompress(raw))), mtime=0)
    else:
        raw = data.draw(corrupted(raw))
    path.write_bytes(raw)
    read_or_format_error(read, path)


# --- parquet ----------------------------------------------------------------------------


@FUZZ
@given(s=sessions())
def test_parquet_round_trips_exactly(scratch, s, identical):
    write(s, scratch / "s.parquet")
    identical(s, read(scratch / "s.parquet"))


@FUZZ
@given(data=st.data(), s=sessions())
def test_parquet_corruptions_are_format_errors(scratch, data, s):
    path = scratch / "bad.parquet"
    write(s, path)
    path.write_bytes(data.draw(corrupted(path.read_bytes())))
    read_or_format_error(read, path)
