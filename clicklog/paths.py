"""Where the real data sets live (DESIGN.md section 6). They are never copied into the
repository: code finds them from an explicit path, else the CLICKFIT_DATA environment
variable, else `../shared/data` beside the repository root."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "CLICKFIT_DATA"
REPO_ROOT = Path(__file__).resolve().parent.parent
YANDEX_SAMPLE = "yandex-wscd-sample"


def shared_data_dir(override: str | os.PathLike | None = None) -> Path | None:
    """The data directory (override, else $CLICKFIT_DATA, else <repo>/../shared/data), or
    None where that directory does not exist. The first of the three that is set decides:
    a set but missing path gives None rather than falling back to the next."""
    if override is not None:
        candidate = Path(override)
    elif os.environ.get(ENV_VAR):
        candidate = Path(os.environ[ENV_VAR])
    else:
        candidate = REPO_ROOT.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


def yandex_sample_paths(override: str | os.PathLike | None = None) -> tuple[Path, Path] | None:
    """(trainSample, testSample) of the Yandex WSCD sample, or None where either is absent."""
    root = shared_data_dir(override)
    if root is None:
        return None
    train, test = root / YANDEX_SAMPLE / "trainSample", root / YANDEX_SAMPLE / "testSample"
    return (train, test) if train.is_file() and test.is_file() else None
