"""Clicks simulated on LETOR queries and documents (e.g. MQ2008, ../shared/data/mq2008-sample).

LETOR lines read `label qid:ID 1:v1 ... F:vF #docid = DOCID ...`, labels graded 0/1/2. Each
LETOR query becomes a query whose pool is its judged documents (pages are shorter than K where
a query has fewer documents), with Zipf frequencies in file order. Clicks are driven by the
graded labels: attraction = label_attraction[label] and, for DBN/SDBN, satisfaction =
label_satisfaction[label]; the other parameters take the defaults of
benchmarks.simulate.truth, and for the vision models sigma_d is the nonlinear feature function
of benchmarks.simulate.image. Documents are keyed by DOCID, shared where two queries judge the
same one; since LETOR features describe a (query, document) pair, a document's
`doc_features` row is the mean of its rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.simulate.core import Seed, Simulation, seed_sequence, simulate_world
from benchmarks.simulate.image import vision_from_features
from benchmarks.simulate.world import build_world, zipf_probabilities
from clicklog import catalogue

LABEL_ATTRACTION = (0.05, 0.3, 0.7)
LABEL_SATISFACTION = (0.1, 0.4, 0.8)


class LetorError(ValueError):
    """A LETOR file that cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class Letor:
    """One row per judged (query, document) line."""

    label: np.ndarray
    qid: np.ndarray
    docid: np.ndarray
    features: np.ndarray


def _parse_line(text: str, where: str) -> tuple[int, str, str, list[float]]:
    body, _, comment = text.partition("#")
    tokens = body.split()
    if len(tokens) < 2 or not tokens[1].startswith("qid:"):
        raise LetorError(f"{where}: expected 'label qid:ID 1:v ...', got {text[:60]!r}")
    try:
        label = int(tokens[0])
        pairs = [token.split(":", 1) for token in tokens[2:]]
        if [int(key) for key, _ in pairs] != list(range(1, len(pairs) + 1)):
            raise LetorError(f"{where}: features must be numbered 1..F in order")
        values = [float(value) for _, value in pairs]
    except ValueError as err:
        raise LetorError(f"{where}: {err}") from err
    words = comment.split()
    if len(words) < 3 or words[0] != "docid" or words[1] != "=":
        raise LetorError(f"{where}: missing '#docid = ID'")
    return label, tokens[1][4:], words[2], values


def letor_files(path: str | Path) -> list[Path]:
    """A LETOR file, or every *.txt file of a directory in name order."""
    path = Path(path)
    files = sorted(path.glob("*.txt")) if path.is_dir() else [path]
    if not files or not all(f.is_file() for f in files):
        raise LetorError(f"{path}: no LETOR file there")
    return files


def read_letor(path: str | Path) -> Letor:
    """Read a LETOR file or directory (letor_files); every line must have the same features."""
    rows = []
    for file in letor_files(path):
        with open(file, encoding="utf-8") as handle:
            for number, text in enumerate(handle, start=1):
                if text.strip():
                    rows.append((*_parse_line(text, f"{file}:{number}"), f"{file}:{number}"))
    widths = {len(row[3]) for row in rows}
    if len(widths) != 1:
        raise LetorError(f"{path}: lines have different feature counts {sorted(widths)}")
    seen: dict[tuple[str, str], str] = {}
    for _, qid, docid, _, where in rows:
        if (qid, docid) in seen:
            raise LetorError(f"{where}: document {docid} of query {qid} repeats {seen[qid, docid]}")
        seen[qid, docid] = where
    return Letor(
        label=np.array([row[0] for row in rows], np.int64),
        qid=np.array([row[1] for row in rows]),
        docid=np.array([row[2] for row in rows]),
        features=np.array([row[3] for row in rows], np.float32),
    )


def _first_seen(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(unique values in first-seen order, index of each value among them)."""
    uniq, first, inverse = np.unique(values, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return uniq[order], rank[inverse]


def simulate_from_letor(
    path: str | Path,
    model: str,
    n_sessions: int,
    seed: Seed,
    *,
    K: int = 10,
    zipf_exponent: float = 1.0,
    min_length: int | None = None,
    ranking_noise: float = 1.0,
    ranker_noise: float = 1.0,
    label_attraction: tuple[float, float, float] = LABEL_ATTRACTION,
    label_satisfaction: tuple[float, float, float] = LABEL_SATISFACTION,
    vision_strength: float = 1.0,
    params: dict | None = None,
) -> Simulation:
    """Sessions of `model` on the LETOR queries of `path` (module docstring); other options
    as `simulate`. Sessions carry the LETOR labels and per-document features."""
    model = catalogue.base_model(model)
    data = read_letor(path)
    if data.label.min() < 0 or data.label.max() >= len(label_attraction):
        raise LetorError(f"{path}: labels must lie in [0, {len(label_attraction) - 1}]")
    query_ids, query = _first_seen(data.qid)
    doc_ids, doc = _first_seen(data.docid)
    features = np.zeros((doc_ids.size, data.features.shape[1]), np.float64)
    np.add.at(features, doc, data.features)
    features /= np.bincount(doc, minlength=doc_ids.size)[:, None]

    order = np.argsort(query, kind="stable")
    pool_len = np.bincount(query, minlength=query_ids.size)
    slot = np.arange(order.size) - np.repeat(np.cumsum(pool_len) - pool_len, pool_len)
    shape = (query_ids.size, int(pool_len.max()))
    pool_doc = np.zeros(shape, np.int64)
    pool_label = np.zeros(shape, np.int64)
    pool_doc[query[order], slot] = doc[order]
    pool_label[query[order], slot] = data.label[order]

    world_seq, session_seq = seed_sequence(seed).spawn(2)
    rng = np.random.default_rng(world_seq)
    world = build_world(
        rng,
        query_p=zipf_probabilities(query_ids.size, zipf_exponent),
        pool_doc=pool_doc,
        pool_len=pool_len,
        pool_relevance=np.asarray(label_attraction)[pool_label],
        K=K,
        min_length=min_length,
        ranking_noise=ranking_noise,
        ranker_noise=ranker_noise,
        query_ids=query_ids,
        doc_ids=doc_ids,
        doc_features=features.astype(np.float32),
        pool_labels=pool_label,
    )
    label_driven = {}
    kinds = catalogue.parameters(model)
    if "satisfaction" in kinds:
        label_driven["satisfaction"] = np.asarray(label_satisfaction)[world.labels.astype(int)]
    if "vision" in kinds:
        label_driven["vision"] = vision_from_features(features, model, vision_strength, rng)
    return simulate_world(
        model, world, n_sessions, rng, session_seq, {**label_driven, **(params or {})}
    )
