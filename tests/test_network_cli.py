"""`--source PARAM=KIND[:OPTION=VALUE,...]` (clicklog.network.parse_assignment): the options
of a function source from the command line, the old PARAM=KIND form unchanged, clear errors,
and a fit through `clickfit fit` that is em.fit with the same source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import em
from benchmarks.cli import main
from clicklog import read
from clicklog.network import Spec, parse, parse_assignment

SHOP = Path(__file__).resolve().parents[1] / "examples" / "shop.csv"
COLUMNS = "session_id=session,query=query_text,doc=product_id,rank=position,click=clicked"


def test_plain_kind_is_unchanged():
    assert parse_assignment("attraction=mlp") == ("attraction", "mlp")
    assert parse_assignment(" Satisfaction = LINEAR ") == ("satisfaction", "linear")


def test_options_become_the_source_dict():
    name, source = parse_assignment("attraction=MLP:l2=1e-3, hidden=32x16,activation=sigmoid")
    assert name == "attraction"
    assert source == {"kind": "mlp", "l2": 0.001, "hidden": (32, 16), "activation": "sigmoid"}
    assert parse(source) == Spec("mlp", (32, 16), "sigmoid", "soft", 20, 0.001)
    assert parse_assignment("vision=linear:steps=5,target=hard")[1] == {
        "kind": "linear", "steps": 5, "target": "hard"}


@pytest.mark.parametrize(("text", "message"), [
    ("attraction", "expected PARAMETER=KIND"),
    ("attraction=tree", "expected PARAMETER=KIND"),
    ("attraction=mlp:l2=abc", "l2='abc' .* not a valid number"),
    ("attraction=mlp:steps=1.5", "not a valid whole number"),
    ("attraction=mlp:hidden=32,16", "'16'.*expected OPTION=VALUE"),
    ("attraction=mlp:hidden=a", "list of sizes such as 32x16"),
    ("attraction=mlp:depth=2", "OPTION one of hidden, activation, target, steps, l2"),
    ("attraction=mlp:l2", "expected OPTION=VALUE"),
    ("attraction=mlp:l2=1,l2=2", "given twice"),
    ("attraction=mlp:l2=-1", "l2 must be a finite number >= 0"),
    ("attraction=linear:hidden=4", "a linear source has no hidden layers"),
    ("attraction=mlp:activation=relu", "activation must be one of"),
    ("attraction=table:l2=1", "a table source takes no options"),
])
def test_bad_assignments_say_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message):
        parse_assignment(text)


def _args(tmp_path: Path, source: str) -> list[str]:
    return ["fit", "--model", "pbm", "--data", str(SHOP), "--columns", COLUMNS,
            "--qd-features", "feat_price", "--source", source, "--max-iter", "5",
            "--out", str(tmp_path / "labels.csv"), "--params", str(tmp_path / "params.json"),
            "--no-progress"]


def test_command_line_options_reach_the_fit(tmp_path):
    assert main(_args(tmp_path, "attraction=mlp:l2=2,hidden=3")) == 0
    saved = json.loads((tmp_path / "params.json").read_text())
    source = {"kind": "mlp", "l2": 2.0, "hidden": [3]}
    assert saved["settings"]["sources"] == {"attraction": source}
    sessions = read(SHOP, columns=dict(c.split("=") for c in COLUMNS.split(",")),
                    qd_features=["feat_price"])
    direct = em.fit("pbm", sessions, sources={"attraction": {**source, "hidden": (3,)}},
                    max_iter=5)
    assert direct.settings["attraction_network"]["w1"].shape == (1, 3)
    assert saved["objective_per_impression"] == pytest.approx(direct.objective(sessions),
                                                              abs=1e-9)


def test_command_line_rejects_a_bad_option(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(_args(tmp_path, "attraction=mlp:l2=lots"))
    assert exit_info.value.code != 0
    err = capsys.readouterr().err
    assert "l2='lots'" in err and "Traceback" not in err
