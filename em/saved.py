"""Loading a saved EM model (clicklog.model_file): a Fit with the EM engine's predictors."""

from __future__ import annotations

import math
import os

from clicklog.fit import Fit
from clicklog.model_file import SavedModel, read
from em.engine import assemble
from em.loop import Run

NETWORK = "_network"


def from_saved(saved: SavedModel) -> Fit:
    """The Fit of a model file's content (after clicklog.model_file.align, if it was)."""
    if saved.engine != "em":
        raise ValueError(f"a model fitted by the {saved.engine} engine: load it with "
                         f"{saved.engine}.load")
    free = tuple(k.removesuffix(NETWORK) for k in saved.settings if k.endswith(NETWORK))
    run = Run(dict(saved.params), [], saved.converged, math.nan, 0)
    return assemble(saved.model, run, saved.prior, 0.0, saved.settings, free=free,
                    vocabulary=saved.vocabulary)


def load(path: str | os.PathLike) -> Fit:
    """The EM model saved at `path` (Fit.save), predicting exactly as it did when saved."""
    return from_saved(read(path))
