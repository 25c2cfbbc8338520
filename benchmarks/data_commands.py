"""`clickfit data`: look at a click log and convert it between formats.

    clickfit data stats PATH [--format F] [--json] [LOG OPTIONS]
    clickfit data convert IN OUT [--from F] [--to F] [--dedup] [LOG OPTIONS]

LOG OPTIONS (any command that reads a log takes them, through `add_log_arguments` and
`log_options`): --columns session_id=session,query=query_text,doc=product_id,rank=position,
click=clicked[,weight=w] names a long log's own columns; --rank-base 0|1|auto (default auto:
detected, and reported); --qd-features / --bias-features take feature columns, a comma list of
names or a prefix ending in "*" (feat_*).

`stats` reports what a fit would see: sessions (rows and total weight), queries, documents,
query-document pairs, results per page, clicks and click-through rate per rank (1-based),
queries and sessions per query-frequency bucket of the vision-bias paper's Table 1 (a query's
frequency is its weighted number of sessions in this file; buckets are the half-open
intervals [1, 10), [10, 30), [30, 100), [100, 500), [500, 2000), [2000, 10000),
[10000, inf)), the feature widths, and the reader's counters: clicks dropped or merged while
reading, and for long logs the rank base used.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from benchmarks.metrics import FREQUENCY_LABELS, frequency_bucket, query_frequency
from clicklog.dedup import dedup
from clicklog.formats import FORMATS, WRITE_FORMATS, format_from_name
from clicklog.readers import read
from clicklog.sessions import Sessions
from clicklog.writers import left_out, write

_REPORT_LABELS = {
    "lines": "lines read",
    "sessions": "sessions read",
    "clicks_in_file": "clicks in the file",
    "clicks_kept": "clicks kept",
    "duplicate_clicks": "repeated clicks, merged into one",
    "clicks_on_repeated_doc": "clicks on a document shown twice (first rank taken)",
    "dropped_clicks_not_on_page": "clicks on documents not on the page, dropped",
    "dropped_clicks_without_query": "clicks before any query of their session, dropped",
}


def _columns(text: str) -> dict[str, str]:
    """`session_id=session,query=query_text,...` as a dict (argparse type)."""
    mapping = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        ours, eq, theirs = item.partition("=")
        if not eq or not ours.strip() or not theirs.strip():
            raise argparse.ArgumentTypeError(
                f"expected NAME=COLUMN pairs separated by commas, got {item!r}"
            )
        mapping[ours.strip()] = theirs.strip()
    return mapping


def _rank_base(text: str) -> int | str:
    if text not in ("0", "1", "auto"):
        raise argparse.ArgumentTypeError(f"expected 0, 1 or auto, got {text!r}")
    return text if text == "auto" else int(text)


def _feature_spec(text: str) -> list[str] | str:
    """`f1,f2` (names) or `feat_*` (a prefix) as the readers take it."""
    if text.endswith("*") and "," not in text:
        return text[:-1]
    return [name.strip() for name in text.split(",") if name.strip()]


def add_log_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of reading a user's long log, for every command that reads one."""
    group = parser.add_argument_group("reading a long log (CSV, TSV, long Parquet)")
    group.add_argument(
        "--columns",
        type=_columns,
        metavar="NAME=COLUMN,...",
        help="the log's own column names: session_id=...,query=...,doc=...,rank=...,click=..."
        "[,weight=...]; unnamed ones keep clickfit's names",
    )
    group.add_argument(
        "--rank-base",
        type=_rank_base,
        metavar="{0,1,auto}",
        help="the first rank's number (default: auto, detected from the smallest rank)",
    )
    group.add_argument(
        "--qd-features",
        type=_feature_spec,
        metavar="COLUMNS",
        help="query-document feature columns: f1,f2,... or a prefix such as feat_*",
    )
    group.add_argument(
        "--bias-features",
        type=_feature_spec,
        metavar="COLUMNS",
        help="per-impression (examination) feature columns: names or a prefix such as dev_*",
    )


def log_options(args: argparse.Namespace) -> dict:
    """The keyword options of clicklog.read that `add_log_arguments`' options set (only the
    ones given, so that other formats, which do not take them, read as before)."""
    names = ("columns", "rank_base", "qd_features", "bias_features")
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser("data", help="inspect and convert click logs")
    commands = data.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")

    stats = commands.add_parser("stats", help="describe a click log")
    stats.add_argument("path", help="a click log (format from the name or the content)")
    stats.add_argument("--format", choices=FORMATS, help="the input format (default: sniffed)")
    stats.add_argument("--json", action="store_true", help="machine-readable output")
    add_log_arguments(stats)
    stats.set_defaults(func=run_stats)

    convert = commands.add_parser("convert", help="convert a click log to Parquet or TSV/CSV")
    convert.add_argument("input", help="the log to read")
    convert.add_argument("output", help="the file to write (atomically)")
    convert.add_argument(
        "--from", dest="from_format", choices=FORMATS, help="the input format (default: sniffed)"
    )
    convert.add_argument(
        "--to",
        dest="to_format",
        choices=WRITE_FORMATS,
        help="the output format (default: from the output name)",
    )
    convert.add_argument(
        "--dedup", action="store_true", help="merge identical sessions into one weighted row"
    )
    add_log_arguments(convert)
    convert.set_defaults(func=run_convert)


def _number(x: float) -> int | float:
    """Weighted counts as ints where they are whole (as they are without deduplication)."""
    return int(x) if float(x).is_integer() else float(x)


def describe(sessions: Sessions) -> dict:
    """The statistics `clickfit data stats` prints, as plain (JSON-ready) values."""
    w = sessions.weight.astype(np.float64)
    mask = sessions.mask
    has_rank = (w[:, None] * mask).sum(axis=0)
    clicks = (w[:, None] * sessions.click).sum(axis=0)
    length = sessions.length.astype(np.float64)
    frequency = query_frequency(sessions)
    bucket = frequency_bucket(frequency)
    report = sessions.report
    return {
        "source": sessions.source,
        "sessions": sessions.n,
        "total_weight": _number(w.sum()),
        "queries": int(np.unique(sessions.query).size),
        "documents": int(np.unique(sessions.doc[mask]).size),
        "qd_pairs": int(np.unique(sessions.qd[mask]).size),
        "results_per_page": {
            "min": int(length.min(initial=sessions.K)) if sessions.n else 0,
            "mean": float(np.average(length, weights=w)) if sessions.n else 0.0,
            "max": int(length.max(initial=0)),
        },
        "sessions_with_click": _number(w[sessions.click.any(axis=1)].sum()),
        "clicks": _number(clicks.sum()),
        "per_rank": [
            {
                "rank": r + 1,
                "sessions": _number(has_rank[r]),
                "clicks": _number(clicks[r]),
                "ctr": float(clicks[r] / has_rank[r]) if has_rank[r] else 0.0,
            }
            for r in range(sessions.K)
        ],
        "query_frequency_buckets": [
            {
                "bucket": label,
                "queries": int(np.sum(bucket == b)),
                "sessions": _number(frequency[bucket == b].sum()),
            }
            for b, label in enumerate(FREQUENCY_LABELS)
        ],
        "features": {
            name: 0 if getattr(sessions, name) is None else int(getattr(sessions, name).shape[-1])
            for name in ("qd_features", "bias_features", "doc_features")
        },
        "read_report": None if report is None else report.as_dict(),
    }


def _fmt(x: float) -> str:
    return f"{x:,}" if isinstance(x, int) else f"{x:,.2f}"


def format_stats(stats: dict) -> str:
    """`describe`'s numbers as readable text."""
    page = stats["results_per_page"]
    out = [
        f"{stats['source'] or '(sessions)'}",
        f"  sessions               {_fmt(stats['sessions'])}  (total weight "
        f"{_fmt(stats['total_weight'])})",
        f"  queries                {_fmt(stats['queries'])}",
        f"  documents              {_fmt(stats['documents'])}",
        f"  query-document pairs   {_fmt(stats['qd_pairs'])}",
        f"  results per page       min {page['min']}, mean {page['mean']:.2f}, max {page['max']}",
        f"  sessions with a click  {_fmt(stats['sessions_with_click'])}",
        f"  clicks                 {_fmt(stats['clicks'])}",
        "",
        "  rank     sessions       clicks      CTR",
    ]
    out += [
        f"  {r['rank']:>4} {_fmt(r['sessions']):>12} {_fmt(r['clicks']):>12}  {r['ctr']:7.4f}"
        for r in stats["per_rank"]
    ]
    out += [
        "",
        "  query frequency (sessions per query; buckets are [lo, hi))",
        "  bucket          queries     sessions",
    ]
    out += [
        f"  {b['bucket']:<12} {_fmt(b['queries']):>10} {_fmt(b['sessions']):>12}"
        for b in stats["query_frequency_buckets"]
    ]
    widths = stats["features"]
    if any(widths.values()):
        out += ["", "  features   " + ", ".join(f"{name} {width}" for name, width in
                                              widths.items() if width)]
    report = stats["read_report"]
    if report is not None:
        out += ["", f"  read report ({report['format']} reader, {report['path']})"]
        out += [f"  {label:<52} {_fmt(report[key]):>10}" for key, label in _REPORT_LABELS.items()]
        if report.get("rank_base"):
            out += [f"  {'rank base (number of the first rank)':<52} {report['rank_base']:>10}"]
    return "\n".join(out)


def run_stats(args: argparse.Namespace) -> int:
    stats = describe(read(args.path, args.format, **log_options(args)))
    print(json.dumps(stats, indent=2) if args.json else format_stats(stats))
    return 0


def run_convert(args: argparse.Namespace) -> int:
    sessions = read(args.input, args.from_format, **log_options(args))
    rows = sessions.n
    if args.dedup:
        sessions = dedup(sessions)
    write(sessions, args.output, args.to_format)
    merged = f", {rows:,} before deduplication" if args.dedup else ""
    dropped = sessions.report.dropped_clicks if sessions.report is not None else 0
    print(
        f"wrote {sessions.n:,} sessions (total weight {_fmt(_number(sessions.total_weight))}"
        f"{merged}) to {args.output}; {dropped:,} clicks dropped while reading"
    )
    format = args.to_format or format_from_name(args.output)
    missing = left_out(sessions, format or "")
    if missing:
        print(f"not written (the {format} format has no place for them): {', '.join(missing)}")
    return 0
