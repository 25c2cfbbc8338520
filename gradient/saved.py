"""Loading a saved gradient model (clicklog.model_file): a Fit with the gradient engine's
predictors, at the precision it was fitted in.

An examination that is a function of bias features (gradient/bias.py) comes back as the
pytree its fit predicted with: the function from the file's `examination_function`, the
tables from its `logits` (pairs the model never saw, after align: the logit of the
fallback), so the click probabilities agree bit for bit.
"""

from __future__ import annotations

import os
from functools import partial

import numpy as np

from clicklog.fit import Fit
from clicklog.model_file import FUNCTION, Objective, SavedModel, read
from gradient import bias, predict
from gradient.logmath import logits
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
    if saved.function is not None:
        return _with_function(name, saved, params, dtype, free)
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


def _with_function(name: str, saved: SavedModel, params: dict, dtype: str,
                   free: tuple[str, ...]) -> Fit:
    """The Fit of a saved model whose examination is a function (gradient/bias.py's)."""
    block = saved.function
    spec = block["spec"]
    theta = {bias.NAME: bias.Examination(
        block["weights"], spec.activation, block["K"], block["by_last"],
        tuple(block["mean"]), tuple(block["scale"]), spec.l2)}
    for key, value in params.items():
        if key != bias.NAME:
            # the fitted logits, then those of the pairs align added (at the fallback); a
            # network's output other than the examination's comes back as its table
            kept = (saved.logits or {}).get(key, np.empty(0))
            theta[key] = np.concatenate([kept, logits(value[kept.shape[0]:])])
    state = {FUNCTION: {k: v for k, v in block.items() if k != "spec"},
             "logits": {k: v for k, v in theta.items() if k != bias.NAME}}
    return Fit(
        model=name,
        engine="gradient",
        params=params,
        history=[],
        prior=saved.prior,
        _click_probs=partial(bias._probabilities, name, theta, dtype=dtype,
                             field="unconditional"),
        _conditional_click_probs=partial(bias._probabilities, name, theta, dtype=dtype,
                                         field="click"),
        _relevance=partial(REGISTRY[name].relevance, params),
        _objective=Objective(partial(bias.objective, name, theta, params, saved.prior, dtype,
                                     free=free), state),
        converged=saved.converged,
        settings=dict(saved.settings),
        vocabulary=saved.vocabulary,
    )
