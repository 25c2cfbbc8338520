"""The scale benchmark: the Yandex-like log written in chunks, its prefixes, and `clickfit scale`
end to end on tiny sizes (the real sweep is `make bench-scale`)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from benchmarks import scale
from benchmarks.cli import build_parser
from benchmarks.simulate.yandex_like import (
    WORLD,
    compact_chunks,
    head,
    used_sizes,
    write_head,
    write_yandex_like,
    yandex_like,
)
from clicklog.io_parquet import iter_parquet, parquet_header, read_parquet, write_parquet_chunks

SMALL_WORLD = {"n_queries": 400, "pool_size": 12}


def _ids(sessions):
    """Sessions in original ids: (query id, doc ids of the real ranks, clicks), row by row."""
    mask = sessions.mask
    docs = np.where(mask, sessions.doc_ids[np.maximum(sessions.doc, 0)], -1)
    return sessions.query_ids[sessions.query], docs, sessions.click


@pytest.fixture(scope="module")
def small_log(tmp_path_factory):
    path = tmp_path_factory.mktemp("yandex") / "log.parquet"
    n = write_yandex_like(path, 5000, seed=3, chunk_sessions=1024, row_group_size=512,
                          **SMALL_WORLD)
    assert n == 5000
    return path


def test_chunks_grow_one_first_seen_vocabulary(small_log):
    sessions = read_parquet(small_log)
    assert sessions.n == 5000 and sessions.K == 10
    assert used_sizes(sessions) == (sessions.n_queries, sessions.n_docs, sessions.n_qd)
    _, sizes = parquet_header(small_log)
    assert list(sizes) == [512, 512] * 4 + [512, 392]  # chunks of 1024 cut into row groups
    # every index is handed out at its first appearance, so indices first occur in order
    first_query = np.unique(sessions.query, return_index=True)[1]
    assert np.all(np.diff(first_query) > 0)
    again = read_parquet(small_log)
    for a, b in zip(_ids(sessions), _ids(again), strict=True):
        assert np.array_equal(a, b)


def test_the_same_seed_gives_the_same_log(small_log, tmp_path):
    other = tmp_path / "again.parquet"
    write_yandex_like(other, 5000, seed=3, chunk_sessions=2048, row_group_size=512,
                      **SMALL_WORLD)
    a, b = read_parquet(small_log), read_parquet(other)
    # chunk i is drawn from (seed, i): other chunk sizes draw other sessions...
    assert not np.array_equal(_ids(a)[1], _ids(b)[1])
    write_yandex_like(other, 5000, seed=3, chunk_sessions=1024, row_group_size=512,
                      **SMALL_WORLD)
    b = read_parquet(other)  # ...the same ones the same
    for x, y in zip(_ids(a), _ids(b), strict=True):
        assert np.array_equal(x, y)


def test_head_is_a_compact_prefix(small_log, tmp_path):
    whole = read_parquet(small_log)
    part = head(small_log, 1300)
    assert part.n == 1300
    assert used_sizes(part) == (part.n_queries, part.n_docs, part.n_qd)
    assert part.n_qd < whole.n_qd and part.n_queries < whole.n_queries
    first = whole.subset(np.arange(1300))
    for a, b in zip(_ids(part), _ids(first), strict=True):
        assert np.array_equal(a, b)
    assert np.array_equal(part.qd, first.qd)
    write_head(small_log, tmp_path / "head.parquet", 1300)
    written = read_parquet(tmp_path / "head.parquet")
    assert np.array_equal(written.qd_query, part.qd_query) and np.array_equal(written.qd, part.qd)
    with pytest.raises(ValueError, match="fewer than"):
        head(small_log, 6000)


def test_chunk_writer_refuses_foreign_vocabularies(small_log, tmp_path):
    chunks = list(iter_parquet(small_log, groups=[1, 0]))
    assert np.array_equal(chunks[1].query, read_parquet(small_log).query[:512])
    sim = yandex_like(1, **SMALL_WORLD)
    foreign = next(compact_chunks(sim, 300, seed=9))
    target = tmp_path / "mixed.parquet"
    with pytest.raises(ValueError, match="does not extend"):
        write_parquet_chunks([chunks[0], foreign], target)
    assert not target.exists() and list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="no chunks"):
        write_parquet_chunks([], target)


def test_default_world_is_heavy_tailed(tmp_path):
    path = tmp_path / "default.parquet"
    write_yandex_like(path, 20_000, seed=0)
    sessions = read_parquet(path)
    counts = np.bincount(sessions.query)
    assert WORLD["K"] == sessions.K == 10
    assert 0.08 < counts.max() / sessions.n < 0.2  # the top query
    assert np.mean(counts == 1) > 0.5  # most queries occur once
    assert sessions.n_qd > 2 * sessions.n_queries


def test_scale_run_end_to_end(small_log, tmp_path):
    options = scale.Options(
        sizes=(1000, 2000), models=("pbm", "dbn"), plain_max=1000, raw_max=2000,
        gradient_max=2000, stream_sizes=(2000,), stream_models=("dbn",), data_dir=tmp_path / "data",
        results_dir=tmp_path / "results", seed=3, world=SMALL_WORLD,
    )
    cells = scale.plan(options)
    assert [(c.size, c.engine, c.models) for c in cells] == [
        (1000, "em", ("pbm", "dbn")), (1000, "em-plain", ("pbm", "dbn")),
        (1000, "em-raw", ("pbm", "dbn")), (1000, "gradient", ("pbm", "dbn")),
        (2000, "em", ("pbm", "dbn")), (2000, "em-raw", ("pbm", "dbn")),
        (2000, "em-stream", ("dbn",)), (2000, "gradient", ("pbm", "dbn")),
        (2000, "gradient-stream", ("dbn",)),
    ]
    assert scale.main(options, scale.command_line(options), isolate=False) == 0
    out = options.results_dir
    assert {p.name for p in out.iterdir()} == {"README.md", "scale.csv", "time.png",
                                               "memory.png"}
    with open(out / "scale.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 16
    for row in rows:
        assert float(row["seconds"]) > 0 and 0 < float(row["peak_rss_gib"]) < 12
        assert row["converged"] == "True" or row["engine"].startswith("gradient")
    em = {(r["model"], r["size"]): r for r in rows if r["engine"] == "em"}
    plain = {(r["model"], r["size"]): r for r in rows if r["engine"] == "em-plain"}
    for key, row in plain.items():
        assert float(em[key]["objective"]) >= float(row["objective"]) - 1e-8
        assert float(row["distinct_sessions"]) < float(row["sessions"])
    readme = (out / "README.md").read_text()
    for needed in ("CLAX", "Load average", "Machine", "Commit", "slope", "em-raw",
                   "gradient-stream: GiB"):
        assert needed in readme
    # a second run measures nothing again: every record is cached
    before = sorted(p.stat().st_mtime_ns for p in (options.data_dir / "records").iterdir())
    assert scale.main(options, "again", isolate=False) == 0
    after = sorted(p.stat().st_mtime_ns for p in (options.data_dir / "records").iterdir())
    assert before == after


def test_a_cell_runs_in_its_own_process(tmp_path):
    options = scale.Options(sizes=(800,), models=("gctr",), engines=("em",),
                            data_dir=tmp_path, results_dir=tmp_path / "out", world=SMALL_WORLD)
    path = scale.record_path(options, 800, "em", "gctr")
    scale.run_cell(scale.Cell(800, "em", ("gctr",)), options, {"gctr": path})
    record = json.loads(path.read_text())
    assert record["sessions"] == 800 and record["converged"] and record["iterations"] == 1


def test_command_line_options():
    args = build_parser(["scale"]).parse_args(
        ["scale", "--sizes", "1e4,3e4", "--models", "pbm,dbn", "--gradient-max", "1e4"])
    assert args.sizes == (10_000, 30_000) and args.models == ("pbm", "dbn")
    assert args.gradient_max == 10_000 and args.engines == scale.ENGINES
