"""Loading a saved gradient model (clicklog.model_file): a Fit with the gradient engine's
predictors, at the precision it was fitted in."""

from __future__ import annotations

import os
from functools import partial

from clicklog.fit import Fit
from clicklog.model_file import SavedModel, read
from gradient import predict
from gradient.models import REGISTRY, resolve

NETWORK = "_network"


def from_saved(saved: SavedModel) -> Fit:
    """The Fit of a model file's content (after clicklog.model_file.align, if it was)."""
    if saved.engine != "gradient":
        raise ValueError(f"a model fitted by the {saved.engine} engine: load it with "
                         f"{saved.engine}.load")
    name = resolve(saved.model)
    dtype = saved.settings.get("dtype", "float32")
    params = dict(saved.params)
    free = tuple(k.removesuffix(NETWORK) for k in saved.settings if k.endswith(NETWORK))
    return Fit(
        model=name,
        engine="gradient",
        params=params,
        history=[],
        prior=saved.prior,
        _click_probs=partial(predict.click_probs, name, params, dtype=dtype),
        _conditional_click_probs=partial(predict.conditional_click_probs, name, params,
                                         dtype=dtype),
        _relevance=partial(REGISTRY[name].relevance, params),
        _objective=partial(predict.objective, name, params, prior=saved.prior, dtype=dtype,
                           free=free),
        converged=saved.converged,
        settings=dict(saved.settings),
        vocabulary=saved.vocabulary,
    )


def load(path: str | os.PathLike) -> Fit:
    """The gradient model saved at `path` (Fit.save), predicting exactly as it did when saved."""
    return from_saved(read(path))
