"""Saved models: a fitted click model as one JSON file, and scoring any log with it by ids.

    save(fit, path)        Fit.save(path): the model file (atomically)
    read(path)             -> SavedModel, the file's content as arrays (no engine needed)
    align(saved, sessions) -> (SavedModel, Sessions, Alignment): the model and a log in one
                           index space, mapped by original query and document ids
    em.load(path) / gradient.load(path)   -> a Fit predicting exactly like the saved one

The file (format "clickfit-model", version 1) holds the model name, the engine, the prior, the
fit's settings (a network's weights among them, as nested lists), whether it converged, the
clickfit version, the vocabulary by original ids (`queries`, `documents`, and `pairs` as
parallel lists of query and document ids) and every parameter in index order: per-pair
parameters follow `pairs`, per-document ones `documents`, per-rank ones rank 1 first. Values
are float64 written by Python's shortest round-trip repr, so a loaded model predicts bit for
bit what the saved one did.

Scoring a log fitted elsewhere: `align` re-indexes the log into the model's vocabulary by
original ids. A (query, document) pair the model never saw, or a document it never saw (the
vision models' sigma_d), gets the FALLBACK value: the mode of the fit's Beta prior on that
parameter (1/2 under Beta(2, 2) or without a prior), which is exactly what the fit itself gives
a pair of its vocabulary that no training session informed (EM's M-step with zero trials).
Such pairs are counted (`Alignment`). Per-rank parameters cover the model's page width K: a
log with longer pages is an error; shorter ones are padded for prediction.

The examination of PBM, UBM and the vision models (gamma) as a function of per-impression bias
features (clicklog/cells.py) is no table: its `parameters` entry ("keyed_on": "cell") holds the
probability of every cell of the training log, for reference, and `examination_function` holds
what evaluating the function on a new log's bias features needs: the source (kind, hidden
sizes, activation, l2), the weights, K (the width of the one-hot rank and column inputs),
whether it has a column j (UBM), the number of bias features and the inputs' per-column mean
and scale. A fit hands these to `save` through its objective (`Objective`, made by em/bias.py
and gradient/bias.py). A gradient fit's tables are then also kept as the logits its predictors
read (`logits`), so that its click probabilities come back bit for bit. Such a model scores
only logs with the same number of bias features. """

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib import metadata

import numpy as np

from clicklog import catalogue, network
from clicklog.atomic import atomic_write
from clicklog.fit import Fit, FitVocabulary
from clicklog.io_report import FormatError
from clicklog.sessions import PAD, Sessions

# A fixed Beta(a, b), none, or one per parameter (a learned prior, clicklog.priors).
Prior = tuple[float, float] | dict[str, tuple[float, float] | None] | None

FORMAT = "clickfit-model"
FORMAT_VERSION = 1
EXAMINATION = "examination"
FUNCTION = "examination_function"


def clickfit_version() -> str:
    """The installed clickfit's version ("unknown" when run from a tree never installed)."""
    try:
        return metadata.version("clickfit")
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True)
class SavedModel:
    """A model file's content. `vocabulary` is in the layout of Sessions' id arrays; `params`
    are float64 arrays indexed by it; `K` is the page width of the per-rank parameters."""

    model: str
    engine: str
    params: dict[str, np.ndarray]
    vocabulary: FitVocabulary
    prior: Prior
    K: int
    settings: dict = field(default_factory=dict)
    converged: bool = False
    iterations: int = 0
    version: str = "unknown"
    function: dict | None = None
    logits: dict[str, np.ndarray] | None = None


@dataclass(frozen=True)
class Objective:
    """A fit's objective (sessions -> nats per impression) that also carries the model-file
    fields its tables do not hold (module docstring: `examination_function`, `logits`)."""

    objective: Callable[[Sessions], float]
    state: dict

    def __call__(self, sessions: Sessions) -> float:
        return self.objective(sessions)


def function_state(source: dict, weights, K: int, by_last: bool, mean, scale) -> dict:
    """The `examination_function` field of a model file (module docstring)."""
    F = len(mean)
    return {"source": dict(source), "K": int(K), "by_last": bool(by_last),
            "n_bias": F - int(K) * (2 if by_last else 1),
            "mean": [float(v) for v in mean], "scale": [float(v) for v in scale],
            "weights": {k: np.asarray(v, np.float64).tolist() for k, v in weights.items()}}


@dataclass(frozen=True)
class Alignment:
    """What `align` found in a log: its distinct pairs and weighted impressions, and how many
    of each the model did not know (they were scored with the fallback value)."""

    pairs: int
    unseen_pairs: int
    impressions: float
    unseen_impressions: float
    unseen_documents: int
    fallback: dict[str, float]


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "tolist"):  # a JAX array
        return _jsonable(np.asarray(value).tolist())
    return repr(value)


def _ids(values: np.ndarray) -> list:
    return np.asarray(values).tolist()


def save(fit: Fit, path: str | os.PathLike, **extra) -> None:
    """Write `fit` to `path` as a model file (module docstring); `extra`: more JSON-ready
    top-level fields (e.g. how the command line was called)."""
    vocab = fit.vocabulary
    if vocab is None:
        raise ValueError("this fit does not know its vocabulary; it cannot be saved by ids")
    state = fit._objective.state if isinstance(fit._objective, Objective) else {}
    function = state.get(FUNCTION)
    if EXAMINATION in fit.settings.get("sources", {}) and function is None:
        raise ValueError("this fit's examination is a function of bias features, but the fit "
                         "does not carry the function's inputs; refit it to save it")
    kinds = dict(catalogue.parameters(fit.model))
    if function is not None:
        kinds[EXAMINATION] = "cell"
    K = function["K"] if function is not None else max(
        (np.shape(v)[0] for name, v in fit.params.items()
         if kinds[name] in ("rank", "rank_last")), default=0)
    content = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "clickfit_version": clickfit_version(),
        "model": fit.model,
        "engine": fit.engine,
        "prior": _prior_json(fit.prior),
        "K": int(K),
        "converged": bool(fit.converged),
        "iterations": fit.iterations,
        "objective_per_impression": fit.history[-1]["objective"] if fit.history else None,
        "settings": _jsonable(fit.settings),
        **_jsonable(extra),
        "queries": _ids(vocab.query_ids),
        "documents": _ids(vocab.doc_ids),
        "pairs": {"query": _ids(vocab.query_ids[vocab.qd_query]),
                  "doc": _ids(vocab.doc_ids[vocab.qd_doc])},
        "parameters": {
            name: {"keyed_on": kinds[name], "value": np.asarray(value, np.float64).tolist()}
            for name, value in fit.params.items()
        },
        **_jsonable(state),
    }
    with atomic_write(path) as f:
        json.dump(content, f, allow_nan=False)


def _id_array(values: list, where: str, what: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.size == 0:
        return np.empty(0, np.int64)
    if arr.dtype.kind not in "iuU":
        raise FormatError(where, None, f"{what}: ids must be all integers or all strings")
    return arr


def read(path: str | os.PathLike) -> SavedModel:
    """The model file at `path`; FormatError naming the file and the problem if it is not one."""
    where = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            content = json.load(f)
    except json.JSONDecodeError as err:
        raise FormatError(where, None, f"not a clickfit model file (invalid JSON: {err})") from None
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise FormatError(where, None, f"not a clickfit model file (no \"format\": \"{FORMAT}\")")
    if content.get("format_version") != FORMAT_VERSION:
        raise FormatError(where, None, f"model file version {content.get('format_version')} is not "
                          f"the {FORMAT_VERSION} this clickfit reads")
    from clicklog.vocabulary import Vocabulary  # pandas: imported when a file is read

    try:
        queries = _id_array(content["queries"], where, "queries")
        docs = _id_array(content["documents"], where, "documents")
        pair_q = _id_array(content["pairs"]["query"], where, "pairs")
        pair_d = _id_array(content["pairs"]["doc"], where, "pairs")
        vocab = Vocabulary()
        vocab.query_index(queries)
        vocab.doc_index(docs)
        vocab.qd_index(vocab.query_index(pair_q), vocab.doc_index(pair_d))
        if len(vocab.query_ids) != len(queries) or len(vocab.doc_ids) != len(docs):
            raise FormatError(where, None, "a pair names a query or document not in the lists")
        params = {k: np.asarray(v["value"], np.float64) for k, v in content["parameters"].items()}
        catalogue.base_model(content["model"])
        model = str(content["model"]).lower()
        prior = _prior_from_json(content["prior"])
        saved = SavedModel(
            model=model, engine=content["engine"], params=params,
            vocabulary=FitVocabulary(vocab.query_ids, vocab.doc_ids, vocab.qd_query,
                                     vocab.qd_doc),
            prior=prior,
            K=int(content["K"]), settings=content.get("settings", {}),
            converged=bool(content.get("converged")), iterations=int(content.get("iterations", 0)),
            version=str(content.get("clickfit_version", "unknown")),
            function=_function(content, where),
            logits={k: np.asarray(v, np.float64) for k, v in content["logits"].items()}
            if "logits" in content else None,
        )
    except (KeyError, TypeError, ValueError) as err:
        if isinstance(err, FormatError):
            raise
        problem = f"malformed model file ({type(err).__name__}: {err})"
        raise FormatError(where, None, problem) from None
    kinds = catalogue.parameters(saved.model)
    if set(params) != set(kinds):
        raise FormatError(where, None, f"{saved.model} has parameters {sorted(kinds)}, the file "
                          f"{sorted(params)}")
    vocab = saved.vocabulary
    for name, kind in kinds.items():
        want = catalogue.parameter_shape(kind, saved.K, len(vocab.qd_query), len(vocab.doc_ids))
        if name == EXAMINATION and saved.function is not None:
            want = (params[name].size,)  # one per training cell: any number
        if params[name].shape != want:
            raise FormatError(where, None, f"parameter {name!r} has shape {params[name].shape}, "
                              f"its vocabulary needs {want}")
        if saved.logits is not None and saved.logits.get(name, params[name]).shape != want:
            raise FormatError(where, None, f"logits of {name!r} have shape "
                              f"{saved.logits[name].shape}, its vocabulary needs {want}")
    return saved


def _function(content: dict, where: str) -> dict | None:
    """The file's `examination_function`, checked (its weights as float64 arrays); None for
    a table examination; a FormatError where a function source has none or a broken one."""
    sourced = EXAMINATION in (content.get("settings") or {}).get("sources", {})
    if FUNCTION not in content:
        if sourced:
            raise FormatError(where, None, f"examination has a function source but the file "
                              f"has no {FUNCTION!r}")
        return None
    block = dict(content[FUNCTION])
    spec = network.parse(block["source"])
    if spec is None:
        raise FormatError(where, None, f"{FUNCTION}: source {block['source']!r} is a table")
    K, by_last, n_bias = int(block["K"]), bool(block["by_last"]), int(block["n_bias"])
    F = K * (2 if by_last else 1) + n_bias
    weights = {k: np.asarray(v, np.float64) for k, v in block["weights"].items()}
    want = network.shapes(F, spec.hidden)
    if (K < 1 or n_bias < 0 or len(block["mean"]) != F or len(block["scale"]) != F
            or {k: v.shape for k, v in weights.items()} != want):
        raise FormatError(where, None, f"{FUNCTION}: K {K}, {n_bias} bias features, "
                          f"{len(block['mean'])} means, {len(block['scale'])} scales and "
                          f"weights {sorted(weights)} do not fit together")
    return {**block, "K": K, "by_last": by_last, "n_bias": n_bias, "spec": spec,
            "weights": weights}


def check_bias(saved: SavedModel, sessions: Sessions) -> None:
    """A ValueError unless `sessions` have the bias features the saved examination function
    reads (nothing to check for a table examination)."""
    if saved.function is None:
        return
    n_bias = saved.function["n_bias"]
    have = None if sessions.bias_features is None else sessions.bias_features.shape[2]
    if have != n_bias:
        found = "none" if have is None else f"{have}"
        raise ValueError(
            f"{sessions.source or 'the log'}: the model's examination is a function of "
            f"{n_bias} bias feature(s) per impression, the log has {found} (long logs: "
            "--bias-features or columns bias_feature_<j>)"
        )


def fallback(saved: SavedModel, name: str) -> float:
    """The value of parameter `name` at a pair or document the model never saw (module
    docstring); a learned prior (one Beta per parameter) gives each parameter its own."""
    prior = saved.prior.get(name) if isinstance(saved.prior, dict) else saved.prior
    return catalogue.prior_mode(None if prior is None else tuple(prior))


def _prior_json(prior: Prior) -> list | dict | None:
    if isinstance(prior, dict):
        return {k: None if v is None else [float(x) for x in v] for k, v in prior.items()}
    return None if prior is None else [float(v) for v in prior]


def _prior_from_json(value) -> Prior:
    if isinstance(value, dict):
        return {k: None if v is None else (float(v[0]), float(v[1])) for k, v in value.items()}
    return None if value is None else (float(value[0]), float(value[1]))


def _widen(value: np.ndarray, size: int, fill: float) -> np.ndarray:
    out = np.full(size, fill, np.float64)
    out[: value.shape[0]] = value
    return out


def align(saved: SavedModel, sessions: Sessions) -> tuple[SavedModel, Sessions, Alignment]:
    """The model and `sessions` in one index space by original ids (module docstring): the
    model's vocabulary grown by the log's unseen ids, their parameters at the fallback value,
    the sessions re-indexed into it and padded to the model's K. A model whose examination is
    a function of bias features needs a log with as many of them (check_bias)."""
    check_bias(saved, sessions)
    if sessions.K > saved.K and saved.K:
        longest = int(sessions.length.max(initial=0))
        if longest > saved.K:
            raise ValueError(f"{sessions.source or 'the log'}: pages of up to {longest} results, "
                             f"the model was fitted on at most {saved.K} ranks")
        sessions = _pad(sessions, saved.K)
    from clicklog.vocabulary import Vocabulary

    vocab = Vocabulary.of(saved.vocabulary)
    aligned = vocab.adopt(sessions)
    if saved.K and aligned.K < saved.K:
        aligned = _pad(aligned, saved.K)
    kinds = catalogue.parameters(saved.model)
    size = {"qd": aligned.n_qd, "doc": aligned.n_docs}
    fills = {name: fallback(saved, name) for name in kinds if kinds[name] in size}
    params = {name: _widen(value, size[kinds[name]], fills[name]) if name in fills else value
              for name, value in saved.params.items()}
    known = len(saved.vocabulary.qd_query)
    mask = aligned.mask
    qd = aligned.qd[mask]
    weight = np.broadcast_to(aligned.weight.astype(np.float64)[:, None], mask.shape)[mask]
    shown = np.unique(qd)
    report = Alignment(
        pairs=int(shown.size),
        unseen_pairs=int(np.sum(shown >= known)),
        impressions=float(weight.sum()),
        unseen_impressions=float(weight[qd >= known].sum()),
        unseen_documents=int(np.sum(np.unique(aligned.doc[mask]) >= len(saved.vocabulary.doc_ids))),
        fallback=fills,
    )
    return replace(saved, params=params, vocabulary=FitVocabulary.of(aligned)), aligned, report


def _pad(sessions: Sessions, K: int) -> Sessions:
    """`sessions` with their pages widened (padding ranks) or cut (only padding) to K columns."""
    n, width = sessions.qd.shape
    if width >= K:
        cut = slice(0, K)
        return replace(sessions, qd=sessions.qd[:, cut], doc=sessions.doc[:, cut],
                       click=sessions.click[:, cut],
                       bias_features=None if sessions.bias_features is None
                       else sessions.bias_features[:, cut])
    extra = K - width

    def grow(a: np.ndarray, fill) -> np.ndarray:
        return np.concatenate([a, np.full((n, extra, *a.shape[2:]), fill, a.dtype)], axis=1)

    return replace(sessions, qd=grow(sessions.qd, PAD), doc=grow(sessions.doc, PAD),
                   click=grow(sessions.click, False),
                   bias_features=None if sessions.bias_features is None
                   else grow(sessions.bias_features, 0))
