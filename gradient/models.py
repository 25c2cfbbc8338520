"""The gradient engine's model table: name -> (log-probability function, relevance)."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import numpy as np

from clicklog import catalogue
from clicklog.sessions import Sessions
from gradient import ccm, cm, ctr, dbn, dcm, pbm, relevance, ubm, vision
from gradient.batch import Batch
from gradient.clicks import LogProbs


class Model(NamedTuple):
    log_probs: Callable[[dict[str, jax.Array], Batch], LogProbs]
    relevance: Callable[[dict[str, np.ndarray], Sessions], np.ndarray]


REGISTRY: dict[str, Model] = {
    "gctr": Model(ctr.ctr, relevance.ctr),
    "rctr": Model(ctr.ctr, relevance.ctr),
    "dctr": Model(ctr.dctr, relevance.attraction),
    "pbm": Model(pbm.pbm, relevance.attraction),
    "cm": Model(cm.cm, relevance.attraction),
    "ubm": Model(ubm.ubm, relevance.attraction),
    "dcm": Model(dcm.dcm, relevance.attraction),
    "ccm": Model(ccm.ccm, relevance.attraction),
    "dbn": Model(dbn.dbn, relevance.attraction_satisfaction),
    "sdbn": Model(dbn.sdbn, relevance.attraction_satisfaction),
    "vpbm-1": Model(vision.vpbm1, relevance.attraction),
    "vpbm-2": Model(vision.vpbm2, relevance.attraction),
    "vubm-1": Model(vision.vubm1, relevance.attraction),
    "vubm-2": Model(vision.vubm2, relevance.attraction),
}


def resolve(model: str) -> str:
    """The catalogue name of `model`, if the gradient engine fits it; ValueError otherwise."""
    name = catalogue.base_model(model)
    if name not in REGISTRY or name != model.lower():
        raise ValueError(
            f"the gradient engine does not fit {model!r}; it fits: {', '.join(REGISTRY)}"
        )
    return name
