"""Brute-force reference for every click model: enumerate all hidden-variable paths of one session.

Each model is written once here as a plain generative program over Bernoulli draws, the way
its paper states it. `enumerate_session` runs the program along every sequence of draw
outcomes, so that the probability of any click vector, any conditional or unconditional
click probability and any posterior of a hidden variable is an exact finite sum. Engines and
simulators are tested against these sums; nothing here is shared with the code under test.

Hidden variables are named (letter, rank): "E" examination, "A" attraction, "S" satisfaction
(for CCM: the click was on a relevant result), "V" vision (E~ in the vision-bias paper),
"P" position examination in the vision models. Transitions after the last real rank are
never drawn, so a variable is only defined where it can influence a click.
"""

from __future__ import annotations

import itertools
from collections import defaultdict

import numpy as np


class _Branch(Exception):
    pass


def session_params(model: str, params: dict, qd: np.ndarray, doc: np.ndarray | None = None):
    """Per-rank view of fitted parameters for one session (qd/doc: real ranks only)."""
    get = {k: np.asarray(v, dtype=float) for k, v in params.items()}
    sp = {}
    for name, value in get.items():
        if name in ("attraction", "satisfaction"):
            sp[name] = value[qd]
        elif name == "vision":
            sp[name] = value[doc]
        else:
            sp[name] = value
    return sp


def _program(model: str, sp: dict, L: int, draw, note):
    clicks = []
    if model == "gctr":
        return [draw(float(sp["ctr"]), ("A", r)) for r in range(L)]
    if model == "rctr":
        return [draw(sp["ctr"][r], ("A", r)) for r in range(L)]
    if model == "dctr":
        return [draw(sp["attraction"][r], ("A", r)) for r in range(L)]
    if model == "pbm":
        for r in range(L):
            e = draw(sp["examination"][r], ("E", r))
            a = draw(sp["attraction"][r], ("A", r))
            clicks.append(e & a)
        return clicks
    if model == "ubm":
        last = 0
        for r in range(L):
            e = draw(sp["examination"][r, last], ("E", r))
            a = draw(sp["attraction"][r], ("A", r))
            clicks.append(e & a)
            if e & a:
                last = r + 1
        return clicks
    if model in ("vpbm-1", "vpbm-2", "vubm-1", "vubm-2"):
        last = 0
        for r in range(L):
            gamma = sp["examination"][r] if model.startswith("vpbm") else sp["examination"][r, last]
            if model.endswith("-2"):
                # eq. 4: E~ = 1 if the position examines it, else vision decides
                p = draw(gamma, ("P", r))
                v = 1 if p else draw(sp["vision"][r], ("V", r))
            else:
                # eq. 15: E~ = position examination AND vision
                p = draw(gamma, ("P", r))
                v = draw(sp["vision"][r], ("V", r))
                v = p & v
            note(("E", r), v)
            a = draw(sp["attraction"][r], ("A", r))
            clicks.append(v & a)
            if v & a:
                last = r + 1
        return clicks
    # Cascade family: examination E_r is a chain; E_0 = 1.
    e = 1
    for r in range(L):
        note(("E", r), e)
        a = draw(sp["attraction"][r], ("A", r))
        c = e & a
        clicks.append(c)
        if r == L - 1:
            break
        if not e:
            continue
        if model == "cm":
            e = 1 - c
        elif model == "dcm":
            e = draw(sp["continuation"][r], ("L", r)) if c else 1
        elif model == "ccm":
            if c:
                s = draw(sp["attraction"][r], ("S", r))
                e = draw(float(sp["tau3"] if s else sp["tau2"]), ("T", r))
            else:
                e = draw(float(sp["tau1"]), ("T", r))
        elif model in ("dbn", "sdbn"):
            s = draw(sp["satisfaction"][r], ("S", r)) if c else 0
            if s:
                e = 0
            elif model == "dbn":
                e = draw(float(sp["continuation"]), ("T", r))
        else:
            raise ValueError(f"unknown model {model!r}")
    return clicks


def enumerate_session(model: str, sp: dict, L: int):
    """All paths of the generative program: list of (probability, clicks tuple, hidden dict)."""
    paths = []
    stack = [()]
    while stack:
        prefix = stack.pop()
        pos = [0]
        prob = [1.0]
        hidden = {}

        def draw(p, name, prefix=prefix, pos=pos, prob=prob, hidden=hidden):
            if pos[0] == len(prefix):
                raise _Branch
            bit = prefix[pos[0]]
            pos[0] += 1
            prob[0] *= p if bit else 1.0 - p
            hidden[name] = bit
            return bit

        def note(name, value, hidden=hidden):
            hidden[name] = int(value)

        try:
            clicks = _program(model, sp, L, draw, note)
        except _Branch:
            stack.extend([prefix + (0,), prefix + (1,)])
            continue
        paths.append((prob[0], tuple(int(c) for c in clicks), hidden))
    return paths


def click_distribution(paths) -> dict:
    dist = defaultdict(float)
    for p, c, _ in paths:
        dist[c] += p
    return dict(dist)


def session_likelihood(paths, clicks) -> float:
    return click_distribution(paths).get(tuple(int(c) for c in clicks), 0.0)


def posteriors(paths, clicks) -> dict:
    """P(var = 1 | clicks) for every hidden variable drawn on some consistent path.

    Returns name -> (P(var drawn | clicks), P(var = 1 | clicks)).
    """
    clicks = tuple(int(c) for c in clicks)
    z = sum(p for p, c, _ in paths if c == clicks)
    drawn = defaultdict(float)
    ones = defaultdict(float)
    for p, c, h in paths:
        if c != clicks:
            continue
        for name, bit in h.items():
            drawn[name] += p
            ones[name] += p * bit
    return {name: (drawn[name] / z, ones[name] / z) for name in drawn}


def unconditional_click_probs(paths, L: int) -> np.ndarray:
    out = np.zeros(L)
    for p, c, _ in paths:
        out += p * np.asarray(c)
    return out


def conditional_click_probs(paths, clicks, L: int) -> np.ndarray:
    """P(C_r = 1 | c_<r) for the observed click prefix (nan where the prefix is impossible)."""
    clicks = tuple(int(c) for c in clicks)
    dist = click_distribution(paths)
    out = np.full(L, np.nan)
    for r in range(L):
        prefix = clicks[:r]
        den = sum(p for c, p in dist.items() if c[:r] == prefix)
        num = sum(p for c, p in dist.items() if c[:r] == prefix and c[r] == 1)
        if den > 0:
            out[r] = num / den
    return out


def all_click_vectors(L: int):
    return list(itertools.product((0, 1), repeat=L))
