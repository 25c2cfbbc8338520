"""The model catalogue: names, parameters and what each parameter is keyed on.

Shared by both engines so that `em.fit("dbn", ...)` and `gradient.fit("dbn", ...)` produce the
same parameter names with the same shapes (DESIGN.md section 3):

    global     shape ()          ctr (GCTR), continuation (DBN), tau1..tau3 (CCM)
    rank       shape (K,)        ctr (RCTR), examination (PBM), continuation (DCM)
    rank_last  shape (K, K)      examination (UBM): [rank r, j], j = last clicked rank + 1
                                 before r, 0 when nothing above r was clicked (only j <= r used)
    qd         shape (n_qd,)     attraction, satisfaction
    doc        shape (n_docs,)   vision (sigma_d of the vision-bias models)

With a function source of per-impression bias features, the examination of PBM, UBM and the
vision models is keyed on cells instead, the distinct (rank, j, bias row) of a log: shape
(n_cells,) (clicklog/cells.py).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy import special

PARAMETERS: dict[str, dict[str, str]] = {
    "gctr": {"ctr": "global"},
    "rctr": {"ctr": "rank"},
    "dctr": {"attraction": "qd"},
    "pbm": {"attraction": "qd", "examination": "rank"},
    "cm": {"attraction": "qd"},
    "ubm": {"attraction": "qd", "examination": "rank_last"},
    "dcm": {"attraction": "qd", "continuation": "rank"},
    "ccm": {"attraction": "qd", "tau1": "global", "tau2": "global", "tau3": "global"},
    "dbn": {"attraction": "qd", "satisfaction": "qd", "continuation": "global"},
    "sdbn": {"attraction": "qd", "satisfaction": "qd"},
}

# The vision-bias family (Xu et al.): examination of rank r (and, for vUBM, last click j) is
# combined with a per-document vision probability sigma_d, "-2" by eq. 4, "-1" by eq. 15.
VISION_PARAMETERS: dict[str, dict[str, str]] = {
    "vpbm-1": {"attraction": "qd", "examination": "rank", "vision": "doc"},
    "vpbm-2": {"attraction": "qd", "examination": "rank", "vision": "doc"},
    "vubm-1": {"attraction": "qd", "examination": "rank_last", "vision": "doc"},
    "vubm-2": {"attraction": "qd", "examination": "rank_last", "vision": "doc"},
}

# The classic counting estimators, kept under their own names so that the benchmark can
# show how far they are from the exact EM fit (EM engine only).
VARIANTS: dict[str, str] = {"dcm-counting": "dcm", "sdbn-counting": "sdbn"}

MODELS: tuple[str, ...] = tuple(PARAMETERS)
VISION_MODELS: tuple[str, ...] = tuple(VISION_PARAMETERS)


def base_model(model: str) -> str:
    """The catalogue model a name refers to (a variant's parent, or the name itself)."""
    model = model.lower()
    model = VARIANTS.get(model, model)
    if model not in PARAMETERS and model not in VISION_PARAMETERS:
        known = ", ".join(list(PARAMETERS) + list(VISION_PARAMETERS) + list(VARIANTS))
        raise ValueError(f"unknown click model {model!r}; known: {known}")
    return model


def parameters(model: str) -> dict[str, str]:
    """Parameter name -> what it is keyed on, for a model or variant name."""
    model = base_model(model)
    return PARAMETERS.get(model) or VISION_PARAMETERS[model]


def parameter_shape(kind: str, K: int, n_qd: int, n_docs: int) -> tuple[int, ...]:
    return {
        "global": (),
        "rank": (K,),
        "rank_last": (K, K),
        "qd": (n_qd,),
        "doc": (n_docs,),
    }[kind]


def parameter_shapes(model: str, K: int, n_qd: int, n_docs: int) -> dict[str, tuple[int, ...]]:
    return {
        name: parameter_shape(kind, K, n_qd, n_docs)
        for name, kind in parameters(model).items()
    }


def prior_mode(prior: tuple[float, float] | None) -> float:
    """Value of a parameter that no session informs: the Beta prior's mode, else 1/2.

    For a fitted empirical prior (a dict per parameter, clicklog.priors) pass the parameter's
    own pair, clicklog.priors.prior_of(prior, name)."""
    if prior is None:
        return 0.5
    a, b = prior
    return (a - 1.0) / (a + b - 2.0) if a + b > 2.0 else 0.5


def log_prior(
    params: dict[str, np.ndarray],
    prior: tuple[float, float] | Mapping[str, tuple[float, float]] | None,
) -> float:
    """sum over every probability parameter of log Beta(theta; a, b).

    A fixed pair (a, b) is applied to every parameter with its constant (the log Beta
    function) left out in both engines alike, so objectives are comparable across engines but
    not across priors. A mapping name -> (a, b) (a fitted empirical prior, clicklog.priors)
    applies each parameter's own pair, constant included, since there the hyper-parameters
    are fitted; parameters it does not name carry no prior.
    """
    if prior is None:
        return 0.0
    total = 0.0
    for name, value in params.items():
        pair = prior.get(name) if isinstance(prior, Mapping) else prior
        if pair is None:
            continue
        a, b = pair
        v = np.asarray(value, dtype=np.float64)
        total += float(np.sum((a - 1.0) * np.log(v) + (b - 1.0) * np.log1p(-v)))
        if isinstance(prior, Mapping):
            total -= v.size * float(special.betaln(a, b))
    return total
