"""Build a corpus of malformed and edge-case click logs, each with the outcome it must have.

    python tests/clicklog/make_corpus.py DIR      # writes every case into DIR, lists them

The kinds come from issue 14's survey: broken or mislabelled gzip, bytes that are not UTF-8
or hold NUL, empty and header-only logs, every field of every text format missing, empty,
repeated or out of range, weights finite in float64 but not in float32, Parquet files with
broken clickfit metadata or rows that contradict it, contents the sniffer must see through
(a byte-order mark), and outputs that cannot be written. Each text case is built plain and
gzip-compressed. tests/clicklog/test_corpus.py runs every case through `clickfit data`.

Outcomes: "error" (exit status 1, one line `clickfit: error: ...` naming the file), "drop"
(read, with a drop or merge counted in the read report) and "ok" (read, nothing dropped).
"""

from __future__ import annotations

import gzip
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

OUTCOMES = ("error", "drop", "ok")


@dataclass(frozen=True)
class Case:
    """One corpus entry: `build(path)` writes the input file at `path`."""

    name: str  # the input's file name, unique in the corpus; its extension is part of the case
    expect: str
    build: Callable[[Path], None]
    args: tuple[str, ...] = ()  # options of `clickfit data stats`, e.g. ("--format", "sample")
    output: str | None = None  # set: the case is `clickfit data convert NAME OUTPUT`


def _bytes(content: bytes | str) -> Callable[[Path], None]:
    data = content.encode() if isinstance(content, str) else content
    return lambda path: path.write_bytes(data)


def _gz(content: bytes | str) -> Callable[[Path], None]:
    data = content.encode() if isinstance(content, str) else content
    return lambda path: path.write_bytes(gzip.compress(data, mtime=0))


def _text_family(prefix: str, cases: list[tuple[str, str, bytes | str]], args, ext=""):
    """Every text case plain and gzip-compressed (same outcome: gzip is only the container)."""
    out = []
    for name, expect, content in cases:
        out.append(Case(f"{prefix}-{name}{ext}", expect, _bytes(content), args))
        out.append(Case(f"{prefix}-{name}{ext}.gz", expect, _gz(content), args))
    return out


def _broken_gzip(prefix: str, valid: str, args, ext="") -> list[Case]:
    whole = gzip.compress(valid.encode() * 50, mtime=0)
    return [
        Case(f"{prefix}-gzip-truncated{ext}.gz", "error", _bytes(whole[: len(whole) // 2]), args),
        Case(f"{prefix}-gzip-header-only{ext}.gz", "error", _bytes(whole[:10]), args),
        Case(f"{prefix}-gzip-plain-named{ext}.gz", "error", _bytes(valid), args),
        Case(f"{prefix}-gzip-bad-crc{ext}.gz", "error", _bytes(whole[:-8] + b"\0" * 8), args),
        Case(f"{prefix}-gzip-trailing-garbage{ext}.gz", "error", _bytes(whole + b"garbage!"), args),
    ]


SAMPLE_OK = "q1\ta,b,c : b;q2\tc,d :;\n"
MANY = ",".join(str(i) for i in range(40_000))


def sample_cases() -> list[Case]:
    args = ("--format", "sample")
    cases = [
        ("no-tab", "error", "q1 a,b : a;"),
        ("no-colon", "error", "q1\ta,b a;"),
        ("two-colons", "error", "q1\ta,b : a : b;"),
        ("two-colons-second-session", "error", "q1\ta,b : a;\nq2\tc,d : c : d;"),
        ("empty-doc", "error", "q1\ta,,b : a;"),
        ("trailing-comma-docs", "error", "q1\ta,b, : a;"),
        ("stray-comma-click", "error", "q1\ta,b : a , ;"),
        ("empty-query", "error", "\ta,b : a;"),
        ("empty-doc-list", "error", "q1\t : a;"),
        ("empty-file", "error", ""),
        ("blank-file", "error", " \n\n\t\n"),
        ("only-separators", "error", ";;;\n;"),
        ("nul-in-doc", "error", "q1\ta\0,a : a;"),
        ("nul-in-query", "error", "q\x001\ta : a;"),
        ("invalid-utf8", "error", b"q1\ta,\xff : a;"),
        ("latin1", "error", "q1\tcaf\xe9 : a;".encode("latin-1")),
        ("utf16", "error", SAMPLE_OK.encode("utf-16")),
        ("binary", "error", bytes(range(256)) * 4),
        ("too-many-docs", "error", f"q1\t{MANY} : 1;"),
        ("garbage-after-last", "error", SAMPLE_OK + "garbage"),
        ("click-not-on-page", "drop", "q1\ta,b : z;"),
        ("repeated-click", "drop", "q1\ta,b : a , a;"),
        ("no-final-semicolon", "ok", "q1\ta,b : a;q2\tc : c"),
        ("crlf", "ok", "q1\ta,b : a;\r\nq2\tc : ;\r\n"),
        ("bom", "ok", "\ufeffq1\ta,b : a;"),
        ("spaces", "ok", "  q1 \t a , b :  a ;"),
        ("doc-shown-twice", "ok", "q1\ta,a : a;"),
    ]
    return _text_family("sample", cases, args) + _broken_gzip("sample", SAMPLE_OK, args)


LOG_OK = "1\t0\tQ\t10\t2\t100\t101\t102\n1\t5\tC\t101\n2\t0\tQ\t11\t2\t100\t103\n"
Q1 = "1\t0\tQ\t10\t2\t100\n"


def log_cases() -> list[Case]:
    args = ("--format", "yandex-log")
    cases = [
        ("two-fields", "error", "1\t0\n"),
        ("unknown-action", "error", "1\t0\tX\t10\t2\t100\n"),
        ("lowercase-action", "error", "1\t0\tq\t10\t2\t100\n"),
        ("query-without-url", "error", "1\t0\tQ\t10\t2\n"),
        ("click-extra-field", "error", Q1 + "1\t5\tC\t100\t7\n"),
        ("click-without-url", "error", Q1 + "1\t5\tC\n"),
        ("session-not-integer", "error", "a\t0\tQ\t10\t2\t100\n"),
        ("url-not-integer", "error", "1\t0\tQ\t10\t2\tx\n"),
        ("time-not-integer", "error", "1\t0.5\tQ\t10\t2\t100\n"),
        ("empty-region", "error", "1\t0\tQ\t10\t\t100\n"),
        ("trailing-tab", "error", "1\t0\tQ\t10\t2\t100\t\n"),
        ("integer-overflow", "error", "1\t0\tQ\t10\t2\t" + "9" * 19 + "\n"),
        ("spaces-not-tabs", "error", "1 0 Q 10 2 100\n"),
        ("empty-file", "error", ""),
        ("blank-file", "error", "\n \n\t\n"),
        ("only-clicks", "error", "1\t5\tC\t100\n"),
        ("nul", "error", "1\t0\tQ\t10\t2\t10\x000\n"),
        ("invalid-utf8", "error", b"1\t0\tQ\t10\t2\t\xff\n"),
        ("too-many-urls", "error", "1\t0\tQ\t10\t2\t" + MANY.replace(",", "\t") + "\n"),
        ("click-before-query", "drop", "1\t0\tC\t100\n" + Q1),
        ("click-in-other-session", "drop", Q1 + "2\t1\tC\t100\n"),
        ("click-not-on-page", "drop", Q1 + "1\t5\tC\t999\n"),
        ("repeated-click", "drop", Q1 + "1\t5\tC\t100\n1\t6\tC\t100\n"),
        ("no-final-newline", "ok", LOG_OK.rstrip("\n")),
        ("crlf", "ok", LOG_OK.replace("\n", "\r\n")),
        ("blank-lines", "ok", "\n" + LOG_OK.replace("\n", "\n\n")),
        ("bom", "ok", "\ufeff" + LOG_OK),
    ]
    return _text_family("log", cases, args) + _broken_gzip("log", LOG_OK, args)


def long_cases(sep: str, ext: str) -> list[Case]:
    def table(*rows: str, header: str = "session_id query doc rank click") -> str:
        return "".join(line.replace(" ", sep) + "\n" for line in (header, *rows))

    ok = ("s1 q1 a 1 1", "s1 q1 b 2 0", "s2 q2 c 1 0")
    weighted = "session_id query doc rank click weight"

    def weight(value: str) -> str:
        return table(f"s1 q1 a 1 1 {value}", f"s1 q1 b 2 0 {value}", header=weighted)

    cases = [
        ("empty-file", "error", ""),
        ("header-only", "error", table()),
        ("header-and-blank-lines", "error", table() + "\n\n"),
        ("missing-column", "error", table("s1 q1 a 1", header="session_id query doc rank")),
        ("repeated-column", "error", table("s1 q1 a 1 1 1", header=f"{weighted[:-7]} click")),
        ("no-header", "error", "".join(r.replace(" ", sep) + "\n" for r in ok)),
        ("too-few-fields", "error", table("s1 q1 a 1")),
        ("too-many-fields", "error", table("s1 q1 a 1 1 x")),
        ("rank-negative", "error", table("s1 q1 a -1 1")),
        ("ranks-of-two-bases", "error", table("s1 q1 a 0 1", "s1 q1 b 1 0", "s2 q2 c 1 0")),
        ("rank-gap", "error", table("s1 q1 a 1 1", "s1 q1 b 3 0")),
        ("rank-repeated", "error", table("s1 q1 a 1 1", "s1 q1 b 1 0")),
        ("rank-not-integer", "error", table("s1 q1 a one 1")),
        ("rank-too-large", "error", table("s1 q1 a 40000 1")),
        ("click-two", "error", table("s1 q1 a 1 2")),
        ("click-empty", "error", table("s1 q1 a 1 ")),
        ("empty-doc", "error", table("s1 q1  1 1")),
        ("empty-session", "error", table(" q1 a 1 1")),
        ("query-differs", "error", table("s1 q1 a 1 1", "s1 q2 b 2 0")),
        ("weight-zero", "error", weight("0")),
        ("weight-negative", "error", weight("-1")),
        ("weight-text", "error", weight("heavy")),
        ("weight-inf", "error", weight("inf")),
        ("weight-nan", "error", weight("nan")),
        ("weight-1e300", "error", weight("1e300")),
        ("weight-1e39", "error", weight("1e39")),
        ("weight-1e-50", "error", weight("1e-50")),
        ("weight-differs", "error", table("s1 q1 a 1 1 2", "s1 q1 b 2 0 3", header=weighted)),
        ("nul", "error", table("s1 q1 a\0 1 1")),
        ("invalid-utf8", "error", table("s1 q1 a 1 1", "s2 q\xff b 1 0").encode("latin-1")),
        ("invalid-utf8-short-row", "error", table("s1 q1 a 1 1").encode() + b"s2 q\xff b\n"),
        ("no-final-newline", "ok", table(*ok).rstrip("\n")),
        ("crlf", "ok", table(*ok).replace("\n", "\r\n")),
        ("blank-lines", "ok", table(*ok).replace("\n", "\n\n")),
        ("bom", "ok", "\ufeff" + table(*ok)),
        ("shuffled-lines", "ok", table(ok[2], ok[1], ok[0])),
        ("weights", "ok", weight("2.5")),
    ]
    name = ext.lstrip(".")
    return _text_family(name, cases, (), ext) + _broken_gzip(name, table(*ok), (), ext)


def _valid_parquet(path: Path, string_ids: bool = True) -> None:
    """A small clickfit Parquet file, written by clicklog itself."""
    from clicklog import from_arrays, write

    docs = np.array([[0, 1, 2], [2, 3, 0], [1, 0, 3]])
    ids = np.array(["a", "b", "c", "d"]) if string_ids else np.array([5, 6, 7, 8])
    sessions = from_arrays(
        np.array([0, 1, 0]),
        docs,
        np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0]], bool),
        np.array([3, 2, 3]),
        query_ids=np.array(["q1", "q2"]),
        doc_ids=ids,
    )
    write(sessions, path)


def _edited_parquet(edit: Callable[[pa.Table, dict], tuple[pa.Table, dict]]):
    """A builder: a valid file, then `edit(table, key-value metadata)` rewritten."""

    def build(path: Path) -> None:
        _valid_parquet(path)
        table = pq.read_table(path)
        meta = dict(pq.read_metadata(path).metadata or {})
        table, meta = edit(table.replace_schema_metadata(None), meta)
        with pq.ParquetWriter(path, table.schema, store_schema=False) as writer:
            writer.write_table(table)
            if meta:
                writer.add_key_value_metadata(meta)

    return build


def _info(change: Callable[[dict], object]):
    def edit(table, meta):
        info = json.loads(meta[b"clickfit"])
        changed = change(info)
        meta[b"clickfit"] = changed if isinstance(changed, bytes) else json.dumps(info).encode()
        return table, meta

    return _edited_parquet(edit)


def _meta(key: bytes, value: bytes | None):
    def edit(table, meta):
        if value is None:
            meta.pop(key)
        else:
            meta[key] = value
        return table, meta

    return _edited_parquet(edit)


def _column(name: str, values: pa.Array):
    return _edited_parquet(
        lambda t, m: (t.set_column(t.column_names.index(name), name, values), m)
    )


def _ids_blob(ids: list) -> bytes:
    sink = pa.BufferOutputStream()
    table = pa.table({"id": pa.array(ids)})
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _cut(fraction: float):
    def build(path: Path) -> None:
        _valid_parquet(path)
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * fraction)])

    return build


def _patched(find: bytes | None, at: int = 0, new: bytes = b"\x80"):
    """A valid file with `new` written over its bytes at `at`, or over the first occurrence of
    `find` (a column name in the footer: not UTF-8 then)."""

    def build(path: Path) -> None:
        _valid_parquet(path)
        data = path.read_bytes()
        start = at if find is None else data.find(find)
        path.write_bytes(data[:start] + new + data[start + len(new) :])

    return build


def _lists(values: list[list], kind: pa.DataType) -> pa.Array:
    return pa.array(values, pa.list_(kind))


def parquet_cases() -> list[Case]:
    i32 = pa.int32()
    nul_ids = _meta(b"clickfit.doc_ids", _ids_blob(["a", "a\0", "c", "d"]))
    null_click = _lists([[True, None, False], [False, True], [False] * 3], pa.bool_())
    cases = [
        ("zero-bytes", "error", _bytes(b"")),
        ("random-bytes", "error", _bytes(bytes(range(256)) * 8)),
        ("text-content", "error", _bytes(SAMPLE_OK)),
        ("magic-only", "error", _bytes(b"PAR1PAR1")),
        ("cut-in-half", "error", _cut(0.5)),
        ("footer-cut", "error", _cut(0.97)),
        ("data-page-corrupt", "error", _patched(None, 20, b"\xff" * 4)),
        ("column-name-not-utf8", "error", _patched(b"weight")),
        ("list-name-not-utf8", "error", _patched(b"element")),
        ("metadata-key-corrupt", "error", _patched(b"clickfit")),
        ("no-clickfit-metadata", "error", _edited_parquet(lambda t, m: (t, {}))),
        ("foreign-table", "error", lambda p: pq.write_table(pa.table({"a": [1, 2]}), p)),
        ("metadata-not-json", "error", _meta(b"clickfit", b"{not json")),
        ("metadata-json-list", "error", _meta(b"clickfit", b"[1, 2]")),
        ("metadata-without-K", "error", _info(lambda info: info.pop("K"))),
        ("metadata-K-text", "error", _info(lambda info: info.update(K="wide"))),
        ("metadata-K-zero", "error", _info(lambda info: info.update(K=0))),
        ("metadata-K-too-small", "error", _info(lambda info: info.update(K=1))),
        ("metadata-version-99", "error", _info(lambda info: info.update(format_version=99))),
        ("metadata-bad-dtype", "error", _info(lambda info: info["dtypes"].update(doc_ids="<x9"))),
        ("doc-ids-garbage", "error", _meta(b"clickfit.doc_ids", b"garbage")),
        ("doc-ids-missing", "error", _meta(b"clickfit.doc_ids", None)),
        ("qd-missing", "error", _meta(b"clickfit.qd", None)),
        ("doc-ids-too-few", "error", _meta(b"clickfit.doc_ids", _ids_blob(["a", "b"]))),
        ("doc-ids-nul-merge", "error", nul_ids),
        ("query-out-of-range", "error", _column("query", pa.array([0, 7, 0], i32))),
        ("query-negative", "error", _column("query", pa.array([0, -1, 0], i32))),
        ("query-as-text", "error", _column("query", pa.array(["0", "1", "0"]))),
        ("length-zero", "error", _column("length", pa.array([3, 0, 3], pa.int16()))),
        ("length-disagrees", "error", _column("length", pa.array([3, 3, 3], pa.int16()))),
        ("weight-zero", "error", _column("weight", pa.array([1, 0, 1], pa.float32()))),
        ("weight-negative", "error", _column("weight", pa.array([1, -2, 1], pa.float32()))),
        ("weight-inf", "error", _column("weight", pa.array([1, np.inf, 1], pa.float32()))),
        ("weight-nan", "error", _column("weight", pa.array([1, np.nan, 1], pa.float32()))),
        ("doc-out-of-range", "error", _column("doc", _lists([[0, 1, 2], [2, 9], [1, 0, 3]], i32))),
        ("qd-disagrees", "error", _column("qd", _lists([[0, 1, 2], [0, 1], [1, 0, 3]], i32))),
        ("click-null", "error", _column("click", null_click)),
        ("column-missing", "error", _edited_parquet(lambda t, m: (t.drop_columns(["click"]), m))),
        ("zero-rows", "error", _edited_parquet(lambda t, m: (t.slice(0, 0), m))),
        ("valid", "ok", _valid_parquet),
        ("valid-integer-ids", "ok", lambda p: _valid_parquet(p, string_ids=False)),
    ]
    return [Case(f"pq-{name}.parquet", expect, build) for name, expect, build in cases]


def sniff_cases() -> list[Case]:
    """No --format: the sniffer decides from the name and the first bytes."""
    header = "session_id\tquery\tdoc\trank\tclick\ns1\tq1\ta\t1\t1\n"
    return [
        Case("sniff-bom-long", "ok", _bytes("\ufeff" + header)),
        Case("sniff-bom-log", "ok", _bytes("\ufeff" + LOG_OK)),
        Case("sniff-bom-sample", "ok", _bytes("\ufeff" + SAMPLE_OK)),
        Case("sniff-log.gz", "ok", _gz(LOG_OK)),
        Case("sniff-sample.gz", "ok", _gz(SAMPLE_OK)),
        Case("sniff-unknown", "error", _bytes("hello world\n")),
        Case("sniff-empty", "error", _bytes("")),
        Case("sniff-binary", "error", _bytes(bytes(range(256)))),
        Case("sniff-truncated.gz", "error", _bytes(gzip.compress(LOG_OK.encode() * 99)[:40])),
        Case("sniff-plain-named.gz", "error", _bytes(LOG_OK)),
        Case("sniff-nul-first-line", "error", _bytes("1\t0\tQ\t1\x000\t2\t100\n")),
        Case("missing-input", "error", lambda path: None),
        Case("input-is-a-directory", "error", lambda path: path.mkdir()),
        Case("input-is-a-directory.tsv", "error", lambda path: path.mkdir()),
    ]


def output_cases() -> list[Case]:
    """`clickfit data convert` of a valid log to an output that cannot be written."""
    valid = _bytes(SAMPLE_OK)
    tab_id = _bytes("q1\ta\tb,c : c;")  # the doc id "a<TAB>b": TSV quotes it
    cr_id = _bytes("q1\ta\rb,c : c;")  # the doc id "a<CR>b": no line of the long format can
    sample = ("--from", "sample")

    def with_directory(path: Path) -> None:
        valid(path)
        (path.parent / "a-directory.parquet").mkdir(exist_ok=True)

    return [
        Case("out-unknown-extension", "error", valid, sample, "out.xyz"),
        Case("out-no-extension", "error", valid, sample, "outfile"),
        Case("out-parent-is-a-file", "error", valid, sample, "out-parent-is-a-file/x.parquet"),
        Case("out-is-a-directory", "error", with_directory, sample, "a-directory.parquet"),
        Case("out-id-with-line-break", "error", cr_id, sample, "cr.tsv"),
        Case("out-id-with-tab", "ok", tab_id, sample, "tab.tsv"),
        Case("out-new-directory", "ok", valid, sample, "new/dir/out.parquet"),
    ]


def all_cases() -> list[Case]:
    cases = (
        sample_cases()
        + log_cases()
        + long_cases("\t", ".tsv")
        + long_cases(",", ".csv")
        + parquet_cases()
        + sniff_cases()
        + output_cases()
    )
    names = [case.name for case in cases]
    assert len(set(names)) == len(names), "corpus file names must be unique"
    assert all(case.expect in OUTCOMES for case in cases)
    return cases


def build_corpus(directory: str | Path) -> list[tuple[Case, Path]]:
    """Write every case's input into `directory`; (case, input path) pairs."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    built = []
    for case in all_cases():
        path = directory / case.name
        case.build(path)
        built.append((case, path))
    return built


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/clicklog/make_corpus.py DIR")
    for case, path in build_corpus(sys.argv[1]):
        print(f"{case.expect:6} {path}")
