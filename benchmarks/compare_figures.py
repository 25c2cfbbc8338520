"""The figures of `clickfit compare` (benchmarks/compare_command.py), from its fits.

    perplexity per rank   benchmarks.bench.figures.rank_figure, as in the benchmark
    examination_figure    what each fitted model says about position bias, rank by rank:
                          PBM's examination, UBM's examination with nothing clicked above and
                          right after a click on the rank above, DCM's per-rank continuation
                          and DBN's (global) continuation; beside it the log's click-through
                          rate per rank, the raw curve the models explain
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from benchmarks.bench.figures import _model_line, save
from clicklog.fit import Fit
from clicklog.sessions import Sessions


def ctr_per_rank(sessions: Sessions) -> np.ndarray:
    """Weighted click-through rate at each rank (NaN at a rank no page reaches)."""
    mask = sessions.mask
    w = sessions.weight.astype(np.float64)[:, None]
    shown = (mask * w).sum(axis=0)
    clicked = ((sessions.click & mask) * w).sum(axis=0)
    return np.divide(clicked, shown, out=np.full(shown.shape, np.nan), where=shown > 0)


def curves(fits: Mapping[str, Fit], K: int) -> list[tuple[str, str, np.ndarray]]:
    """(model, label, values per rank) of every position-bias parameter the fits have."""
    out = []
    for model, fit in fits.items():
        p = fit.params
        if model == "pbm" and "examination" in p:
            out.append((model, "PBM examination", np.asarray(p["examination"])[:K]))
        elif model == "ubm" and "examination" in p:
            exam = np.asarray(p["examination"])
            out.append((model, "UBM examination, no click above", exam[:K, 0]))
            after = np.full(min(K, exam.shape[0]), np.nan)
            after[1:] = exam[np.arange(1, after.size), np.arange(1, after.size)]
            out.append((model, "UBM examination, click on the rank above", after))
        elif model == "dcm" and "continuation" in p:
            out.append((model, "DCM continuation after a click", np.asarray(p["continuation"])[:K]))
        elif model == "dbn" and "continuation" in p:
            out.append((model, "DBN continuation (one value)",
                        np.full(K, float(np.asarray(p["continuation"])))))
    return out


def examination_figure(
    fits: Mapping[str, Fit], train: Sessions, path: str | os.PathLike, title: str
) -> bool:
    """Fitted position-bias curves beside the click-through rate per rank; False (nothing
    drawn) when none of PBM, UBM, DCM, DBN was fitted."""
    lines = curves(fits, train.K)
    if not lines:
        return False
    ranks = np.arange(1, train.K + 1)
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    left, right = fig.subplots(1, 2)
    for model, label, values in lines:
        style = _model_line(model)
        dashed = "click on the rank above" in label or "one value" in label
        left.plot(ranks[: values.size], values, marker="o", markersize=3, label=label,
                  color=style["color"], linestyle=":" if dashed else "-")
    left.set(xlabel="rank", ylabel="probability", ylim=(0, 1.02),
             title="fitted examination / continuation")
    left.set_xticks(ranks)
    left.legend(fontsize=7)
    right.bar(ranks, ctr_per_rank(train), color="#7f7f7f")
    right.set(xlabel="rank", ylabel="click-through rate", title="training log: CTR per rank")
    right.set_xticks(ranks)
    fig.suptitle(title)
    save(fig, path)
    return True

