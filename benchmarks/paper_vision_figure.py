"""Figure 3 of Xu et al.'s vision-bias paper: the perplexity improvement of every vision model
over its base model (vUBM-k over UBM, vPBM-k over PBM, the same engine) at ranks 1-5, one
panel per (generator, engine)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from benchmarks.paper_vision_format import Layout, model_title, select
from clicklog.atomic import atomic_path

STYLES = {"vubm-1": ("#1f77b4", "--"), "vubm-2": ("#1f77b4", "-"),
          "vpbm-1": ("#d62728", "--"), "vpbm-2": ("#d62728", "-")}


def figure3(df: pd.DataFrame, datasets: Sequence[tuple[str, str]], engines: Sequence[str],
            layout: Layout, path: Path) -> Path:
    """The figure from the rank cells of `df` (benchmarks.paper_vision_tables.cells);
    `datasets` are (name, short title) pairs, a row of panels each."""
    fig = Figure(figsize=(3.6 * len(engines), 2.9 * len(datasets) + 0.6), layout="constrained")
    # each panel its own scale: a column group that loses 300% would flatten the others
    axes = fig.subplots(len(datasets), len(engines), squeeze=False)
    for i, (name, title) in enumerate(datasets):
        for j, engine in enumerate(engines):
            ax = axes[i, j]
            part = select(df, dataset=name, engine=engine, table="rank")
            for model, base in layout.base.items():
                rows = select(part, model=model)
                color, line = STYLES[model]
                ax.plot(rows["key"].astype(int).to_numpy(),
                        100 * rows["improvement"].to_numpy(), color=color, linestyle=line,
                        marker="o", markersize=3,
                        label=f"{model_title(model)} over {model_title(base)}")
            ax.axhline(0.0, color="#7f7f7f", linewidth=0.8)
            ax.set_title(f"{layout.engine_titles[engine]}\ngenerator {title}", fontsize=7)
            ax.set_xlabel("rank")
            ax.set_xticks(range(1, 6))
            if j == 0:
                ax.set_ylabel("perplexity improvement (%)")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("Figure 3: perplexity improvement by rank over the base model\n"
                 "(baseline: UBM for vUBM-k, PBM for vPBM-k, fitted by the same engine)",
                 fontsize=9)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    return path
