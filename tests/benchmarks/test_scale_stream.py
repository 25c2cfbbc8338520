"""`clickfit scale --huge` (benchmarks/scale_stream.py): the chunked log and its streamed fits,
end to end on a tiny log (the real run is 10^8 sessions)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from benchmarks import scale, scale_stream
from benchmarks.cli import build_parser
from benchmarks.simulate.yandex_like import compact_chunks, write_yandex_like, yandex_like
from clicklog.io_parquet import parquet_header, read_parquet

SMALL_WORLD = {"n_queries": 300, "pool_size": 12}


def test_chunked_parquet_is_the_one_shot_log(tmp_path):
    """Written chunk by chunk in small row groups, or in one row group, the file holds the
    sessions of the generator concatenated in memory at once."""
    whole = list(compact_chunks(yandex_like(5, **SMALL_WORLD), 3000, 5, chunk_sessions=700))
    small, one = tmp_path / "small.parquet", tmp_path / "one.parquet"
    write_yandex_like(small, 3000, seed=5, chunk_sessions=700, row_group_size=256,
                      **SMALL_WORLD)
    write_yandex_like(one, 3000, seed=5, chunk_sessions=700, row_group_size=4096,
                      **SMALL_WORLD)
    assert len(parquet_header(small)[1]) > len(parquet_header(one)[1])
    last = whole[-1]
    for path in (small, one):
        log = read_parquet(path)
        for name in ("query", "qd", "doc", "click", "length"):
            expected = np.concatenate([getattr(chunk, name) for chunk in whole])
            assert np.array_equal(getattr(log, name), expected), name
        for name in ("query_ids", "doc_ids", "qd_query", "qd_doc"):
            assert np.array_equal(getattr(log, name), getattr(last, name)), name


@pytest.mark.parametrize(("size", "name"), [(100_000_000, "1e8"), (25_000_000, "2.5e7"),
                                            (1000, "1e3"), (7, "7e0")])
def test_size_names(size, name):
    assert scale_stream.size_name(size) == name


def _row(model, seconds, gib):
    return {"model": model, "sessions": 10**8, "seconds": seconds, "peak_rss_gib": gib,
            "converged": True, "load_before": 2.0, "load_after": 3.0}


def test_the_target_is_checked_from_the_numbers():
    assert scale_stream.claims([_row("pbm", 10.0, 1.0)]) == []
    assert "**met**" in scale_stream.claims([_row("dbn", 899.0, 7.9)])[0]
    assert "**not met**" in scale_stream.claims([_row("dbn", 901.0, 7.9)])[0]
    assert "**not met**" in scale_stream.claims([_row("dbn", 100.0, 8.1)])[0]


def test_huge_run_end_to_end(tmp_path):
    options = scale.Options(data_dir=tmp_path / "data", results_dir=tmp_path / "results",
                            seed=2, world=SMALL_WORLD)
    assert scale_stream.main(options, 3000, ("dbn",), isolate=False) == 0
    meta = json.loads(scale.log_path(options, 3000).with_suffix(".json").read_text())
    assert meta["sessions"] == 3000 and meta["seconds"] > 0 and meta["bytes"] > 0
    with open(options.results_dir / "streaming-3e3.csv") as f:
        (row,) = list(csv.DictReader(f))
    assert row["model"] == "dbn" and row["converged"] == "True" and row["resident"] == "True"
    assert 0 < int(row["distinct_sessions"]) < 3000
    assert float(row["impressions"]) == pytest.approx(30_000)
    assert 0 < float(row["prepare_seconds"]) < float(row["seconds"])
    assert float(row["cpu_seconds"]) > 0 and int(row["threads"]) >= 1
    text = (options.results_dir / "streaming-3e3.md").read_text()
    assert "clickfit scale --huge 3000 --huge-models dbn --seed 2" in text
    assert "DBN on 3,000 sessions" in text and "load" in text
    # the log and the record are kept: a second run measures nothing again
    records = sorted((options.data_dir / "records").iterdir())
    assert [p.suffixes for p in records] == [[".json"]]  # the progress report is gone
    before = [p.stat().st_mtime_ns for p in records]
    assert scale_stream.main(options, 3000, ("dbn",), isolate=False) == 0
    assert [p.stat().st_mtime_ns for p in records] == before


def test_huge_options_on_the_command_line():
    args = build_parser(["scale"]).parse_args(
        ["scale", "--huge", "1e8", "--huge-models", "dbn,pbm"])
    assert args.huge == 100_000_000 and args.huge_models == ("dbn", "pbm")
    assert build_parser(["scale"]).parse_args(["scale"]).huge is None


def test_a_running_fit_reports_its_progress(tmp_path):
    record = tmp_path / "records" / "em-stream--dbn--100--seed0--x.json"
    report = scale._progress(scale.progress_path(record))
    report({"iteration": 3, "objective": np.float64(-0.25), "seconds": 1.5})
    report({"iteration": 4, "objective": np.float64(-0.2), "seconds": 2.5})
    progress = json.loads(scale.progress_path(record).read_text())
    assert progress["iteration"] == 4 and progress["objective"] == -0.2
    assert len(progress["load_average"]) == 3
