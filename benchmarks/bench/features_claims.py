"""The claims of results/features.md, decided from the numbers.

Per feature-based fit, the paired difference of its held-out nDCG@10 from a baseline (same
seed, same judged share: the same log) as mean ± standard error over seeds; a fit beats the
baseline "yes" when the mean difference is more than SEPARATION standard errors above zero,
"no" when more than SEPARATION below, "not separated" in between; with one seed there is no
spread to decide by, and the verdict says so. Used by benchmarks.bench.features_report.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

KEYS = ["model", "engine", "source"]
SWEEP_KEYS = ["judged", *KEYS]


def spread(values: pd.Series) -> float:
    """Standard deviation over seeds (ddof 1); nan for one seed."""
    return float(values.std(ddof=1)) if values.size > 1 else float("nan")


def order_rows(df: pd.DataFrame, keys: list[str], order: dict[str, tuple]) -> pd.DataFrame:
    """Rows sorted by `keys`, each in the order its values have in `order`."""
    rank = {k: {v: i for i, v in enumerate(order[k])} for k in keys}
    return df.sort_values(keys, key=lambda col: col.map(rank[col.name])).reset_index(drop=True)


SEPARATION = 2.0


def standard_error(values: pd.Series) -> float:
    """sd / sqrt(n) over seeds (ddof 1); nan for one seed."""
    return spread(values) / np.sqrt(values.size)


def verdict(gain: pd.Series) -> str:
    """The claim from per-seed paired gains (module docstring): "yes" / "no" when the mean is
    more than SEPARATION standard errors above / below zero, else "not separated"; one seed:
    "higher, 1 seed" or "not higher, 1 seed"."""
    mean = float(gain.mean())
    if gain.size < 2:
        return "higher, 1 seed" if mean > 0.0 else "not higher, 1 seed"
    error = standard_error(gain)
    if mean > SEPARATION * error:
        return "yes"
    return "no" if mean < -SEPARATION * error else "not separated"


def claims(fits: pd.DataFrame, baselines: pd.DataFrame, order: dict[str, tuple],
           keys: list[str] = KEYS) -> pd.DataFrame:
    """Per feature-based fit (per `keys`): its held-out nDCG@10 minus chance's, the production
    ranker order's and the cross-fitted all-labels ranker's, paired by seed and judged share
    (the same log; mean, standard error), the verdicts and the seeds it was higher."""
    merged = fits[fits.source != "table"].merge(
        baselines[["seed", "judged", "model", "chance_held_out", "ranker_held_out",
                   "all_labels_held_out", "judged_queries"]],
        on=["seed", "judged", "model"])
    out = []
    for key, part in merged.groupby(keys, sort=False):
        gain = part.ndcg_held_out - part.ranker_held_out
        over_chance = part.ndcg_held_out - part.chance_held_out
        over_all = part.ndcg_held_out - part.all_labels_held_out
        n = len(part)
        out.append({
            **dict(zip(keys, key, strict=True)),
            "judged_queries": part.judged_queries.mean(),
            "ndcg": part.ndcg_held_out.mean(), "chance": part.chance_held_out.mean(),
            "ranker": part.ranker_held_out.mean(), "all_labels": part.all_labels_held_out.mean(),
            "chance_gain": over_chance.mean(), "chance_se": standard_error(over_chance),
            "gain_mean": gain.mean(), "gain_se": standard_error(gain),
            "all_gain": over_all.mean(), "all_se": standard_error(over_all),
            "beats_chance": verdict(over_chance),
            "chance_seeds": f"{int((part.ndcg_held_out > part.chance_held_out).sum())}/{n}",
            "beats_ranker": verdict(gain),
            "ranker_seeds": f"{int((gain > 0.0).sum())}/{n}",
        })
    return order_rows(pd.DataFrame(out), keys, order)


def both_engines(claim: pd.DataFrame, engines) -> str:
    """The claims line of the sweep, from its verdicts: per judged share and source, the
    models whose fits beat the ranker order ("yes") in every engine of `engines`."""
    parts = []
    for share, at_share in claim.groupby("judged", sort=False):
        found = []
        for source, part in at_share.groupby("source", sort=False):
            models = [m for m, rows in part.groupby("model", sort=False)
                      if set(rows.engine) == set(engines) and (rows.beats_ranker == "yes").all()]
            found.append(f"{source} for {', '.join(models) or 'no model'}")
        parts.append(f"at {share:.0%} judged: {'; '.join(found)}")
    return ("Feature-based attraction beats the production ranker order on held-out pairs in "
            f"both engines (verdict yes for {' and '.join(engines)}), " + "; ".join(parts) + ".")
