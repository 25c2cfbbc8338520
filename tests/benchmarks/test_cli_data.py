"""`clickfit data stats` and `clickfit data convert`, run in-process through main([...])."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.cli import main
from clicklog import read, yandex_sample_paths

LONG = (
    "session_id\tquery\tdoc\trank\tclick\n"
    "1\tq\ta\t1\t1\n1\tq\tb\t2\t0\n1\tq\tc\t3\t1\n"
    "2\tq\ta\t1\t1\n2\tq\tb\t2\t0\n2\tq\tc\t3\t1\n"
    "3\tr\tb\t1\t0\n3\tr\ta\t2\t0\n"
)


@pytest.fixture
def log(tmp_path):
    path = tmp_path / "log.tsv"
    path.write_text(LONG)
    return path


def stats_json(capsys, *args) -> dict:
    assert main(["data", "stats", *map(str, args), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_stats_by_hand(log, capsys):
    st = stats_json(capsys, log)
    assert (st["sessions"], st["total_weight"], st["queries"]) == (3, 3, 2)
    assert (st["documents"], st["qd_pairs"], st["clicks"]) == (3, 5, 4)
    assert st["results_per_page"] == {"min": 2, "mean": pytest.approx(8 / 3), "max": 3}
    assert st["sessions_with_click"] == 2
    assert [r["rank"] for r in st["per_rank"]] == [1, 2, 3]  # 1-based for people
    assert [r["sessions"] for r in st["per_rank"]] == [3, 3, 2]
    assert [r["clicks"] for r in st["per_rank"]] == [2, 0, 2]
    assert [r["ctr"] for r in st["per_rank"]] == pytest.approx([2 / 3, 0, 1])
    buckets = {b["bucket"]: (b["queries"], b["sessions"]) for b in st["query_frequency_buckets"]}
    assert buckets["1-10"] == (2, 3) and sum(q for q, _ in buckets.values()) == 2
    assert st["read_report"]["format"] == "tsv"


def test_stats_text_is_readable(log, capsys):
    assert main(["data", "stats", str(log)]) == 0
    out = capsys.readouterr().out
    assert "sessions               3" in out
    assert "buckets are [lo, hi)" in out
    assert "clicks on documents not on the page, dropped" in out


def test_convert_with_dedup_keeps_weighted_statistics(log, tmp_path, capsys):
    out = tmp_path / "log.parquet"
    assert main(["data", "convert", str(log), str(out), "--dedup"]) == 0
    assert "wrote 2 sessions (total weight 3, 3 before deduplication)" in capsys.readouterr().out
    s = read(out)
    np.testing.assert_array_equal(s.weight, [2, 1])
    before, after = stats_json(capsys, log), stats_json(capsys, out)
    for key in ("total_weight", "clicks", "per_rank", "query_frequency_buckets", "qd_pairs"):
        assert before[key] == after[key], key
    assert after["sessions"] == 2


def test_convert_to_csv_with_explicit_formats(log, tmp_path, capsys):
    out = tmp_path / "converted.txt"
    assert main(["data", "convert", str(log), str(out), "--from", "tsv", "--to", "csv"]) == 0
    assert out.read_text().startswith("session_id,query,doc,rank,click\n")
    assert read(out, "csv").n == 3


def test_errors_are_one_line_and_status_1(tmp_path, capsys):
    bad = tmp_path / "bad.tsv"
    bad.write_text(LONG + "4\tq\ta\t1\t7\n")
    assert main(["data", "stats", str(bad)]) == 1
    err = capsys.readouterr().err
    expected = f"{bad}, line 10: click must be 0 or 1 (or true/false), got '7'"
    assert err == f"clickfit: error: {expected}\n"
    assert main(["data", "stats", str(tmp_path / "missing.tsv")]) == 1
    assert "No such file" in capsys.readouterr().err


def test_unknown_subcommand_exits_by_argparse(capsys):
    with pytest.raises(SystemExit):
        main(["data", "frobnicate"])


@pytest.mark.realdata
@pytest.mark.skipif(yandex_sample_paths() is None, reason="../shared/data absent")
def test_stats_of_the_yandex_train_sample(capsys):
    st = stats_json(capsys, yandex_sample_paths()[0])
    assert (st["sessions"], st["queries"]) == (35_064, 20)
    assert st["results_per_page"] == {"min": 10, "mean": 10.0, "max": 10}
    assert st["read_report"]["clicks_in_file"] == 50_321
    assert st["read_report"]["dropped_clicks_not_on_page"] == 417
    assert sum(b["queries"] for b in st["query_frequency_buckets"]) == 20
    assert sum(b["sessions"] for b in st["query_frequency_buckets"]) == 35_064


def test_help_lists_every_command_without_importing_them(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("data", "fit", "bench", "paper"))


def test_data_commands_do_not_import_the_engines(log):
    import subprocess
    import sys

    code = (
        "import sys; from benchmarks.cli import main; "
        f"assert main(['data', 'stats', {str(log)!r}]) == 0; "
        "heavy = [m for m in ('jax', 'numba', 'benchmarks.runner') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
