"""Click simulators: sessions sampled from known click-model parameters, with the truth.

    simulate(model, n_sessions, seed, ...)               any catalogue model (core)
    simulate_image_search(model, n_sessions, seed, ...)  vision models, feature-driven sigma_d
    simulate_from_letor(path, model, n_sessions, seed)   LETOR queries, label-driven clicks
    sample_sessions(simulation, n_sessions, seed)        more sessions of the same world/truth

Modules: `world` (queries, pools, rankings), `truth` (default parameters), `clicks` (the
generative programs), `core`, `image`, `letor`.
"""

from benchmarks.simulate.core import Simulation, sample_sessions, simulate
from benchmarks.simulate.image import simulate_image_search
from benchmarks.simulate.letor import read_letor, simulate_from_letor

__all__ = [
    "Simulation",
    "read_letor",
    "sample_sessions",
    "simulate",
    "simulate_from_letor",
    "simulate_image_search",
]
