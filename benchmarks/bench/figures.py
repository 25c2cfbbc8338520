"""The benchmark's figures, drawn from cached fit records: PNG rendered by matplotlib's Agg
through `Figure` objects (no pyplot, so no global backend or figure state is touched).

    objective_figure   training objective against wall-clock time, one panel per model, a line
                       per engine (compilation excluded; x on a log scale)
    rank_figure        perplexity and conditional perplexity per rank (1-based), a line per
                       model, a column per engine
    recovery_figure    fitted against generating parameters, a panel per (model, parameter)
    matrix_figure      generator-by-fitted-model test log-likelihood, relative to each row's best
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.colors import SymLogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from benchmarks.bench.tables import model_order, sort_records
from clicklog import catalogue
from clicklog.atomic import atomic_path

# EM is drawn with large hollow markers, so that where L-BFGS lands on the same values both
# stay visible.
ENGINE_STYLE = {
    "em": {"color": "#1f77b4", "marker": "o", "size": 40, "hollow": True},
    "gradient-lbfgs": {"color": "#d62728", "marker": "s", "size": 10, "hollow": False},
    "gradient-adam": {"color": "#2ca02c", "marker": "^", "size": 12, "hollow": False},
}
DPI = 110


def _style(engine: str) -> dict:
    return ENGINE_STYLE.get(engine, {"color": "#7f7f7f", "marker": "x", "size": 12,
                                     "hollow": False})


def _model_line(model: str) -> dict:
    """One tab10 colour per catalogue model; a counting variant is dashed in its parent's."""
    base = catalogue.base_model(model)
    index = catalogue.MODELS.index(base) if base in catalogue.MODELS else 9
    return {"color": matplotlib.colormaps["tab10"](index % 10),
            "linestyle": "--" if model != base else "-"}


def _grid(n: int, ncols: int, size: tuple[float, float]) -> tuple[Figure, np.ndarray]:
    ncols = max(1, min(ncols, n))
    nrows = max(1, math.ceil(n / ncols))
    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes


def save(fig: Figure, path: str | os.PathLike) -> None:
    """Write the figure atomically (PNG, rendered by Agg)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)


def objective_figure(records: Sequence[dict], path: str | os.PathLike, title: str) -> None:
    records = sort_records(records)
    models = model_order(r["model"] for r in records)
    fig, axes = _grid(len(models), 4, (4.0, 3.0))
    for ax, model in zip(axes.flat, models, strict=False):
        for r in (r for r in records if r["model"] == model):
            seconds = np.asarray(r["history"]["seconds"], dtype=np.float64)
            objective = np.asarray(r["history"]["objective"], dtype=np.float64)
            keep = seconds > 0
            style = _style(r["engine"])
            ax.plot(seconds[keep], objective[keep], label=r["engine"], color=style["color"],
                    marker=style["marker"], markersize=6 if style["hollow"] else 3,
                    markerfacecolor="none" if style["hollow"] else style["color"],
                    markevery=max(1, keep.sum() // 8))
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(model)
        ax.set_xlabel("wall-clock seconds (log scale)")
        ax.set_ylabel("objective (nats / impression)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title)
    save(fig, path)


def rank_figure(records: Sequence[dict], path: str | os.PathLike, title: str) -> None:
    records = sort_records(records)
    engine_names = list(dict.fromkeys(r["engine"] for r in records))
    fig = Figure(figsize=(5.0 * len(engine_names), 7.0), layout="constrained")
    axes = fig.subplots(2, len(engine_names), squeeze=False)
    fields = (("perplexity_per_rank", "perplexity"),
              ("conditional_perplexity_per_rank", "conditional perplexity"))
    for col, engine in enumerate(engine_names):
        for row, (field, label) in enumerate(fields):
            ax = axes[row, col]
            for r in (r for r in records if r["engine"] == engine):
                values = np.asarray(r["test"][field])
                ax.plot(np.arange(1, values.size + 1), values, marker=".",
                        label=r["model"], **_model_line(r["model"]))
            ax.set_title(f"{label}, {engine}")
            ax.set_xlabel("rank")
            ax.set_ylabel(label)
            width = max((len(r["test"][field]) for r in records), default=10)
            ax.set_xticks(np.arange(1, width + 1))
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, ncol=2)
    fig.suptitle(title)
    save(fig, path)


GLOBALS = "global parameters"


def _panel(model: str, name: str) -> tuple[str, str]:
    """Scalars of one model share a panel (one point each); other parameters get their own."""
    return (model, GLOBALS if catalogue.parameters(model)[name] == "global" else name)


def recovery_figure(records: Sequence[dict], path: str | os.PathLike, title: str) -> None:
    records = sort_records(r for r in records if r.get("recovery"))
    panels = list(dict.fromkeys(
        _panel(r["model"], name) for r in records for name in r["recovery"]))
    fig, axes = _grid(len(panels), 4, (3.6, 3.4))
    for ax, (model, group) in zip(axes.flat, panels, strict=False):
        for k, r in enumerate(r for r in records if r["model"] == model):
            style = _style(r["engine"])
            colour = style["color"]
            names = [n for n in r["recovery"] if _panel(model, n) == (model, group)]
            for name in names:
                err = r["recovery"][name]
                label = r["engine"] if group == GLOBALS else (
                    f"{r['engine']}: MAE {err['mae']:.3f} ({err['entries']} entries)")
                ax.scatter(err["true"], err["fitted"], s=style["size"], alpha=0.7,
                           marker=style["marker"], edgecolors=colour,
                           facecolors="none" if style["hollow"] else colour,
                           label=label if name == names[0] else None)
                if group == GLOBALS and k == 0:
                    ax.annotate(name, (err["true"][0], err["fitted"][0]), fontsize=7,
                                xytext=(4, -10), textcoords="offset points")
        ax.plot([0, 1], [0, 1], color="black", linewidth=0.8, linestyle="--")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_title(f"{model}: {group}")
        ax.set_xlabel("generating value")
        ax.set_ylabel("fitted value")
        ax.legend(fontsize=6, loc="upper left")
    fig.suptitle(title)
    save(fig, path)


def matrix_figure(df: pd.DataFrame, path: str | os.PathLike, title: str) -> None:
    values = df.iloc[:, 1:].to_numpy(dtype=np.float64)
    gap = (values - np.nanmax(values, axis=1, keepdims=True)) * 1e3
    # A misspecified model can lose thousands of times more than a close one (CM after the
    # first click): a symmetric-log scale keeps both ends readable.
    norm = SymLogNorm(linthresh=1.0, vmin=min(float(np.nanmin(gap)), -1.0), vmax=0.0)
    fig = Figure(figsize=(1.0 * values.shape[1] + 2.5, 0.6 * values.shape[0] + 2.0),
                 layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(gap, cmap="viridis", norm=norm, aspect="auto")
    for (i, j), v in np.ndenumerate(gap):
        if np.isfinite(v):
            ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=7,
                    color="white" if norm(v) < 0.5 else "black")
    ax.set_xticks(range(values.shape[1]), df.columns[1:], rotation=45, ha="right")
    ax.set_yticks(range(values.shape[0]), df["generator"])
    ax.set_xlabel("fitted model (EM)")
    ax.set_ylabel("generating model")
    fig.colorbar(image, ax=ax, label="test LL minus the row's best (10^-3 nats / impression, "
                                     "symmetric log scale)")
    ax.set_title(title)
    save(fig, path)
